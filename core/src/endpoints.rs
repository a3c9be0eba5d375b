//! The broker list: which endpoint (host, port, TLS server name) each connection attempt opens,
//! server redirects (MQTT 5 "use another server" / "server moved"), and per-endpoint counts.
//!
//! Pure like the rest of the core: the order is drawn from the config seed, never from a global
//! generator, and nothing here opens anything. The client asks [`Rotation`] for the endpoint
//! of each attempt and puts it in [`Action::Connect`](crate::Action::Connect); the adapter
//! opens exactly that one.
//!
//! # Policy
//!
//! - **Order.** [`BrokerOrder::InOrder`]: the first attempt goes to the first endpoint; each
//!   failed attempt or lost connection moves on to the next one; after the last comes the first
//!   again (round robin with fallback to the first). [`BrokerOrder::Shuffled`]: the same over a
//!   permutation of the list drawn once from `ClientConfig::seed`, so clients with different
//!   seeds spread over the nodes of a cluster (same seed, same order).
//! - **One policy for the list.** The reconnect policy (backoff, circuit breaker,
//!   `max_attempts`) sees every failure, whichever endpoint it was on: the list as a whole
//!   backs off and opens the circuit, not each endpoint.
//! - **Redirects** (MQTT 5, CONNACK or DISCONNECT with 0x9C or 0x9D and a Server Reference):
//!   the next attempt goes to the referenced server. 0x9C "use another server" is temporary:
//!   the rotation goes on as before afterwards. 0x9D "server moved" is permanent: the
//!   referenced server takes the place of the one that sent it in the rotation. A reference
//!   to a host:port that is not in the configured list is followed only under
//!   [`Redirects::Any`] (kept among at most [`MAX_REDIRECT_TARGETS`] extra endpoints; a slot
//!   no longer in use is reused); [`Redirects::Ignore`] follows none. Every endpoint gets the
//!   same TLS policy (roots, client identity) from the adapter; an unlisted one is verified
//!   against its own host name.
//! - **Counts.** [`EndpointStats`] per endpoint: attempts, connections, failures and
//!   consecutive failures (reset by a connection).

use std::fmt;

use crate::config::ConfigError;

/// The most endpoints a configured list may hold.
pub const MAX_ENDPOINTS: usize = 64;

/// The most endpoints outside the configured list kept from redirects ([`Redirects::Any`]).
pub const MAX_REDIRECT_TARGETS: usize = 8;

/// One broker address: host (name or IP), port, and the name its TLS certificate must match
/// (`None`: the client's TLS setting, else the host).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls_server_name: Option<String>,
}

impl Endpoint {
    pub fn new(host: impl Into<String>, port: u16) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
            tls_server_name: None,
        }
    }

    /// The name the server certificate must match (and SNI) for this endpoint.
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Endpoint {
        self.tls_server_name = Some(name.into());
        self
    }

    /// Parses `host`, `host:port`, `[v6]:port` or any of them followed by `/server-name`
    /// (the TLS server name). Without a port, `default_port`.
    ///
    /// ```
    /// use jamey_mqtt_core::endpoints::Endpoint;
    /// let e = Endpoint::parse("10.0.0.7:8883/node1.example.com", 1883).unwrap();
    /// assert_eq!((e.host.as_str(), e.port), ("10.0.0.7", 8883));
    /// assert_eq!(e.tls_server_name.as_deref(), Some("node1.example.com"));
    /// assert_eq!(Endpoint::parse("[::1]", 1883).unwrap().to_string(), "[::1]:1883");
    /// ```
    pub fn parse(text: &str, default_port: u16) -> Result<Endpoint, String> {
        let text = text.trim();
        let (address, name) = match text.split_once('/') {
            Some((address, name)) if !name.is_empty() => (address, Some(name.to_owned())),
            Some(_) => return Err(format!("empty TLS server name after '/' in {text:?}")),
            None => (text, None),
        };
        let (host, port) = if let Some(rest) = address.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("unclosed '[' in {text:?}"))?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("expected ':port' after ']' in {text:?}")),
                },
            }
        } else {
            match address.rsplit_once(':') {
                Some((_, _)) if address.matches(':').count() > 1 => {
                    return Err(format!("an IPv6 address needs brackets: [{address}]"))
                }
                Some((host, port)) => (host, Some(port)),
                None => (address, None),
            }
        };
        if host.is_empty() || host.chars().any(char::is_whitespace) {
            return Err(format!("expected host or host:port, got {text:?}"));
        }
        let port = match port {
            None => default_port,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("port must be from 1 to 65535 in {text:?}"))?,
        };
        Ok(Endpoint {
            host: host.to_owned(),
            port,
            tls_server_name: name,
        })
    }

    /// Same host (ASCII case-insensitive) and port; the TLS server name does not count.
    pub fn same_address(&self, other: &Endpoint) -> bool {
        self.port == other.port && self.host.eq_ignore_ascii_case(&other.host)
    }
}

impl fmt::Display for Endpoint {
    /// `host:port`, `[v6]:port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The order endpoints are tried in (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BrokerOrder {
    /// As listed, round robin, back to the first after the last. The default.
    #[default]
    InOrder,
    /// A permutation of the list drawn from the config seed, then round robin over it.
    Shuffled,
}

/// Which MQTT 5 server redirects the client follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Redirects {
    /// None: a redirect is an ordinary failure (the next endpoint of the list is tried).
    Ignore,
    /// Only to an endpoint of the configured list (same host and port). The default.
    #[default]
    Listed,
    /// To any host the broker names (kept among at most [`MAX_REDIRECT_TARGETS`] extra
    /// endpoints), with the same TLS policy.
    Any,
}

/// The broker list and how it is used: `ClientConfig::brokers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brokers {
    /// At least one, at most [`MAX_ENDPOINTS`], no two with the same host and port.
    /// Default: `localhost:1883`.
    pub endpoints: Vec<Endpoint>,
    pub order: BrokerOrder,
    pub redirects: Redirects,
}

impl Default for Brokers {
    fn default() -> Brokers {
        Brokers::one(Endpoint::new("localhost", 1883))
    }
}

impl Brokers {
    /// A list of one endpoint, default order and redirect policy.
    pub fn one(endpoint: Endpoint) -> Brokers {
        Brokers::list(vec![endpoint])
    }

    /// These endpoints, default order and redirect policy.
    pub fn list(endpoints: Vec<Endpoint>) -> Brokers {
        Brokers {
            endpoints,
            order: BrokerOrder::default(),
            redirects: Redirects::default(),
        }
    }

    /// Named `brokers` in errors.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.endpoints.is_empty() {
            return Err(ConfigError::new("brokers", "needs at least one endpoint"));
        }
        if self.endpoints.len() > MAX_ENDPOINTS {
            return Err(ConfigError::new(
                "brokers",
                format!("more than {MAX_ENDPOINTS} endpoints"),
            ));
        }
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            if endpoint.host.is_empty() || endpoint.host.contains(char::is_whitespace) {
                return Err(ConfigError::new(
                    "brokers",
                    format!("endpoint {i}: empty host or one with whitespace"),
                ));
            }
            if endpoint.port == 0 {
                return Err(ConfigError::new(
                    "brokers",
                    format!("endpoint {i} ({endpoint}): port 0"),
                ));
            }
            if endpoint.tls_server_name.as_deref() == Some("") {
                return Err(ConfigError::new(
                    "brokers",
                    format!("endpoint {i} ({endpoint}): empty TLS server name"),
                ));
            }
            if self.endpoints[..i].iter().any(|e| e.same_address(endpoint)) {
                return Err(ConfigError::new(
                    "brokers",
                    format!("{endpoint} is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

/// What the client counted for one endpoint (`Client::endpoint_stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    pub endpoint: Endpoint,
    /// Whether it is in the configured list (else a redirect target).
    pub listed: bool,
    /// Connection attempts that opened (or tried to open) it.
    pub attempts: u64,
    /// CONNACKs accepted from it.
    pub connections: u64,
    /// Attempts that failed and established connections that were lost on it.
    pub failures: u64,
    /// Failures since its last accepted CONNACK.
    pub consecutive_failures: u32,
}

impl EndpointStats {
    fn new(endpoint: Endpoint, listed: bool) -> EndpointStats {
        EndpointStats {
            endpoint,
            listed,
            attempts: 0,
            connections: 0,
            failures: 0,
            consecutive_failures: 0,
        }
    }
}

/// 0x9C "use another server" or 0x9D "server moved".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// 0x9C: for the next attempt.
    Temporary,
    /// 0x9D: for good, in place of the server that said so.
    Permanent,
}

impl RedirectKind {
    /// The kind a CONNACK or DISCONNECT reason code asks for, if any.
    pub fn from_reason(code: crate::packet::ReasonCode) -> Option<RedirectKind> {
        match code {
            crate::packet::ReasonCode::USE_ANOTHER_SERVER => Some(RedirectKind::Temporary),
            crate::packet::ReasonCode::SERVER_MOVED => Some(RedirectKind::Permanent),
            _ => None,
        }
    }
}

/// Why a redirect was not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectRefused {
    #[error("redirects are ignored (configuration)")]
    Ignored,
    #[error("{0} is not in the configured broker list (redirects to listed brokers only)")]
    NotListed(Endpoint),
    #[error("{0} would be a redirect target too many (at most {MAX_REDIRECT_TARGETS} in use)")]
    TooMany(Endpoint),
    #[error("server reference {0:?} is not host[:port]")]
    Unparsable(String),
}

/// The rotation over the list: the endpoint of each attempt, redirects, and the counts.
#[derive(Debug)]
pub(crate) struct Rotation {
    /// Configured endpoints first, then redirect targets (at most `MAX_REDIRECT_TARGETS`).
    stats: Vec<EndpointStats>,
    configured: usize,
    /// The rotation: indices into `stats`.
    order: Vec<usize>,
    /// Position in `order` of the endpoint the next attempt opens (without a redirect).
    next: usize,
    /// Index in `stats` of the attempt or connection in force.
    current: Option<usize>,
    /// A redirect the next attempt follows (index in `stats`).
    redirect: Option<usize>,
    policy: Redirects,
}

impl Rotation {
    pub fn new(brokers: &Brokers, seed: u64) -> Rotation {
        let stats: Vec<EndpointStats> = brokers
            .endpoints
            .iter()
            .map(|e| EndpointStats::new(e.clone(), true))
            .collect();
        let mut order: Vec<usize> = (0..stats.len()).collect();
        if brokers.order == BrokerOrder::Shuffled {
            // Its own stream, so the order does not follow the generated client id's digits.
            fastrand::Rng::with_seed(seed ^ 0x5eed_0fb4_0ee7_5a00).shuffle(&mut order);
        }
        Rotation {
            configured: stats.len(),
            stats,
            order,
            next: 0,
            current: None,
            redirect: None,
            policy: brokers.redirects,
        }
    }

    /// The endpoint the next attempt opens (a pending redirect first); counts the attempt.
    pub fn begin_attempt(&mut self) -> Endpoint {
        let index = self.redirect.take().unwrap_or(self.order[self.next]);
        self.current = Some(index);
        self.stats[index].attempts += 1;
        self.stats[index].endpoint.clone()
    }

    /// The endpoint of the attempt or connection in force.
    pub fn current(&self) -> Option<&Endpoint> {
        self.current.map(|i| &self.stats[i].endpoint)
    }

    /// A CONNACK was accepted from the current endpoint: counted; returns it.
    pub fn connected(&mut self) -> Endpoint {
        // An attempt is always in force when a CONNACK arrives; the rotation's next otherwise.
        let i = *self.current.get_or_insert(self.order[self.next]);
        self.stats[i].connections += 1;
        self.stats[i].consecutive_failures = 0;
        self.stats[i].endpoint.clone()
    }

    /// The attempt failed or the connection was lost: counted, and the rotation moves past
    /// the endpoint when it was the one due. Returns its counts.
    pub fn failed(&mut self) -> Option<&EndpointStats> {
        let index = self.current.take()?;
        let entry = &mut self.stats[index];
        entry.failures += 1;
        entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
        if self.order[self.next] == index {
            self.next = (self.next + 1) % self.order.len();
        }
        Some(&self.stats[index])
    }

    /// The connection ended without a failure (a reconnect the client chose, a close): the
    /// next attempt goes to the same endpoint.
    pub fn ended(&mut self) {
        if let Some(index) = self.current.take() {
            if self.redirect.is_none() && self.order[self.next] != index {
                self.redirect = Some(index);
            }
        }
    }

    /// The server `from` sent a redirect to `reference`: the next attempt goes there, if the
    /// policy allows. Returns the endpoint followed.
    pub fn redirect(
        &mut self,
        from: &Endpoint,
        reference: &str,
        kind: RedirectKind,
    ) -> Result<Endpoint, RedirectRefused> {
        if self.policy == Redirects::Ignore {
            return Err(RedirectRefused::Ignored);
        }
        // The Server Reference may list several servers, separated by spaces: the first.
        let first = reference.split_whitespace().next().unwrap_or_default();
        let target = Endpoint::parse(first, from.port)
            .map_err(|_| RedirectRefused::Unparsable(reference.to_owned()))?;
        let index = match self
            .stats
            .iter()
            .position(|s| s.endpoint.same_address(&target))
        {
            Some(i) if i < self.configured || self.policy == Redirects::Any => i,
            _ if self.policy == Redirects::Any => self
                .add_target(target.clone())
                .ok_or(RedirectRefused::TooMany(target))?,
            _ => return Err(RedirectRefused::NotListed(target)),
        };
        if kind == RedirectKind::Permanent {
            self.replace(from, index);
        }
        self.redirect = Some(index);
        Ok(self.stats[index].endpoint.clone())
    }

    /// A target outside the list: appended, or in the slot of the oldest extra one that
    /// nothing refers to any more; `None` when every extra slot is in use.
    fn add_target(&mut self, target: Endpoint) -> Option<usize> {
        let entry = EndpointStats::new(target, false);
        if self.stats.len() < self.configured + MAX_REDIRECT_TARGETS {
            self.stats.push(entry);
            return Some(self.stats.len() - 1);
        }
        let free = (self.configured..self.stats.len()).find(|i| {
            !self.order.contains(i) && self.current != Some(*i) && self.redirect != Some(*i)
        })?;
        self.stats[free] = entry;
        Some(free)
    }

    /// "Server moved": `to` takes `from`'s place in the rotation (or, when `to` is in it
    /// already, `from` leaves it, unless it is the only one).
    fn replace(&mut self, from: &Endpoint, to: usize) {
        let Some(pos) = self
            .order
            .iter()
            .position(|&i| self.stats[i].endpoint.same_address(from))
        else {
            return;
        };
        if !self.order.contains(&to) {
            self.order[pos] = to;
        } else if self.order.len() > 1 && self.order[pos] != to {
            self.order.remove(pos);
            if self.next > pos {
                self.next -= 1;
            }
            self.next %= self.order.len();
        }
    }

    /// Every endpoint's counts: the configured list in its order, then redirect targets.
    pub fn stats(&self) -> &[EndpointStats] {
        &self.stats
    }
}

#[cfg(test)]
mod tests;
