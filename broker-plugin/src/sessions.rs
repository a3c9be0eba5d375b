//! What the plugin remembers per connection: the permissions and expiry of the token the
//! connection last authenticated with.
//!
//! Entries are keyed by Mosquitto's client context (its address, a [`ClientKey`]), not by client
//! id: during a session takeover the new connection authenticates while the old one, with the
//! same client id, still exists. An entry also records the client id it was made for, and a
//! lookup only answers for the same key *and* client id, so a context address Mosquitto reuses
//! for another client never inherits a stale grant.
//!
//! An entry outlives its connection (`online` becomes false on disconnect) because Mosquitto
//! checks read access for a persistent session's offline queue against the same context: its
//! messages are queued while the token that authorised the session is valid. Bound: entries are
//! removed once their token has expired and they are offline (an absent entry and an expired one
//! both deny everything), so the map holds the connected clients plus the offline sessions whose
//! token is still valid.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::rules::Permissions;

/// A Mosquitto client context, by address (stable for the context's lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(pub usize);

/// The grant of one authenticated connection.
#[derive(Debug, Clone)]
pub struct Session {
    /// The client id the connection authenticated with.
    pub client_id: String,
    /// What the token allows.
    pub permissions: Permissions,
    /// `exp` plus leeway: from this instant on, the token allows nothing.
    pub valid_until: SystemTime,
    /// Connected (no disconnect seen since it authenticated).
    pub online: bool,
}

/// Every stored grant, and when the next one runs out.
#[derive(Debug, Default)]
pub struct Sessions {
    by_client: HashMap<ClientKey, Session>,
    /// No online entry expires before this; `None` when nothing is stored.
    next_expiry: Option<SystemTime>,
}

impl Sessions {
    /// Stores (or replaces, on re-authentication) the grant of `key`.
    pub fn authorise(&mut self, key: ClientKey, session: Session) {
        self.next_expiry = Some(match self.next_expiry {
            Some(t) => t.min(session.valid_until),
            None => session.valid_until,
        });
        self.by_client.insert(key, session);
    }

    /// The grant of `key`, if it was made for `client_id` and is still valid at `now`.
    pub fn valid(&self, key: ClientKey, client_id: &str, now: SystemTime) -> Option<&Session> {
        self.by_client
            .get(&key)
            .filter(|s| s.client_id == client_id && now < s.valid_until)
    }

    /// The connection of `key` ended; its grant stays for the session's offline queue.
    pub fn disconnected(&mut self, key: ClientKey) {
        if let Some(s) = self.by_client.get_mut(&key) {
            s.online = false;
        }
    }

    /// At `now`: the client ids of connected clients whose token has run out (each returned
    /// once: they are marked offline), and forgets expired offline entries. Cheap when nothing
    /// is due: a scan happens only once the earliest expiry has passed.
    pub fn expire(&mut self, now: SystemTime) -> Vec<String> {
        match self.next_expiry {
            Some(t) if now >= t => {}
            _ => return Vec::new(),
        }
        let mut kick = Vec::new();
        self.by_client.retain(|_, s| {
            if now < s.valid_until {
                return true;
            }
            if s.online {
                kick.push(s.client_id.clone());
            }
            false
        });
        self.next_expiry = self.by_client.values().map(|s| s.valid_until).min();
        kick
    }

    /// How many grants are stored.
    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    /// Whether no grant is stored.
    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }
}
