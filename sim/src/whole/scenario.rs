//! What one seed runs: the broker (persistence, window, announced limits, held acks), the
//! link, the two clients' bounds and protocol versions, the subscriptions, the publish plan
//! and the fault plan. Every choice is drawn here, from the seed, before anything runs.

use std::time::Duration;

use crate::broker::{Broker, Limits};
use crate::link::LinkProfile;
use crate::Fault;
use crate::{IoProfile, SimRuntime};
use bytes::Bytes;
use jamey_mqtt::{ClientConfig, Config, ProtocolVersion, QoS};
use jamey_mqtt_core::reconnect::ReconnectConfig;

pub const TOPICS: [&str; 3] = ["t/a", "t/b", "t/c/d"];
/// Filters the long-lived subscriptions draw from (overlapping wildcards).
pub const LONG_FILTERS: [&str; 5] = ["t/#", "t/+", "t/a", "t/c/#", "+/c/d"];
/// Filters of the subscriptions made and dropped during the run.
pub const CHURN_FILTERS: [&str; 3] = ["t/+/d", "t/c/+", "other/x"];

pub const SUB_ID: &str = "sub";
/// Everything of a PUBLISH (or SUBSCRIBE) here but its payload: fixed header, topic, packet
/// id, MQTT 5 properties (a topic alias at most).
pub const PACKET_OVERHEAD: usize = 64;
/// The largest PUBACK / PUBREC / PUBREL / PUBCOMP without properties (fixed header, packet id,
/// reason code, property length), PINGREQ and a normal DISCONNECT.
const ACK: usize = 6;
const PINGREQ: usize = 2;
const DISCONNECT: usize = 4;
pub const PUB_ID: &str = "pub";

/// One publish of the plan.
#[derive(Debug, Clone)]
pub struct PlannedPublish {
    pub delay: Duration,
    pub topic: &'static str,
    pub qos: QoS,
    pub payload: Bytes,
    /// MQTT 5 topic alias asked for.
    pub alias: Option<u16>,
    /// Spawned on its own (concurrent) instead of awaited in order.
    pub detached: bool,
}

/// A publisher task's plan.
#[derive(Debug, Clone)]
pub struct Publisher {
    pub publishes: Vec<PlannedPublish>,
}

/// A subscription made, read a little, then dropped or unsubscribed.
#[derive(Debug, Clone)]
pub struct Churn {
    pub delay: Duration,
    pub filter: &'static str,
    pub qos: QoS,
    pub reads: usize,
    pub unsubscribe: bool,
}

/// A subscription kept for the whole run, read by its own task.
#[derive(Debug, Clone)]
pub struct Reader {
    pub filter: &'static str,
    pub qos: QoS,
    /// Virtual pause after each message (back-pressure when the buffer is small).
    pub pause: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub persistent: bool,
    pub limits: Limits,
    pub hold_acks: bool,
    pub window: usize,
    pub profile: LinkProfile,
    pub io: IoProfile,
    pub net_seed: u64,
    pub pub_config: Config,
    pub sub_config: Config,
    pub readers: Vec<Reader>,
    pub churn: Vec<Churn>,
    pub publishers: Vec<Publisher>,
    /// The publishes made right before the publisher's `disconnect()`, in a healthy phase.
    pub burst: Vec<PlannedPublish>,
    pub fault_span: Duration,
    pub fault_gap: Duration,
    /// Long-lived filters the broker refuses on SUBSCRIBE after its first restart (a policy
    /// change): without persistence the subscriber re-subscribes and is refused these.
    pub refuse_after_restart: Vec<&'static str>,
    /// Scripted faults (instant from the start of the fault span, fault) instead of the
    /// random plan; `None` from [`Scenario::new`]. The fuzz target `client_async` sets it.
    pub script: Option<Vec<(Duration, Fault)>>,
    /// Once settled, the subscriber process ends gracefully and a fresh one (new `Client`,
    /// `clean_start = false`) resumes its session: these QoS 1/2 publishes are made while it is
    /// away, so the broker delivers them before the new process has subscribed again (they
    /// wait in its unmatched buffer, `unmatched_capacity`, for the first matching
    /// subscription). `None`: no restart. Not run when the broker refuses filters
    /// (`refuse_after_restart`): a fresh process would be refused filters its predecessor held.
    pub subscriber_restart: Option<SubscriberRestart>,
    /// The publisher ends by dropping its last `Client` handle instead of `disconnect()`, right
    /// after handing the final burst to the client without awaiting it (the `HandlesGone`
    /// path: a background flush must still deliver every publish the client took).
    pub publisher_drops_handle: bool,
    /// Writes on every connection stall this long right before the final burst (a slow but
    /// healthy link): the burst piles up in the publisher's buffer against
    /// `max_buffered_bytes`, and the rest waits in its queue.
    pub burst_stall: Option<Duration>,
}

/// See [`Scenario::subscriber_restart`].
#[derive(Debug, Clone)]
pub struct SubscriberRestart {
    /// The old process ends by dropping its last `Client` handle (else `disconnect()`).
    pub drop_handle: bool,
    /// Published (QoS 1 or 2, awaited in order) while no subscriber process is connected.
    pub absent: Vec<PlannedPublish>,
}

fn qos(rng: &mut fastrand::Rng) -> QoS {
    QoS::from_u8(rng.u8(0..3)).expect("0..=2")
}

fn client_config(rng: &mut fastrand::Rng, id: &str, clean_start: bool) -> Config {
    let protocol = if rng.bool() {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    let mut config = Config::new("broker.sim", 1883);
    config.mqtt = ClientConfig {
        protocol,
        client_id: id.to_owned(),
        clean_start,
        keep_alive: Duration::from_secs(10),
        max_inflight: rng.u16(1..=10),
        max_queued: rng.usize(1..=40),
        max_buffered_bytes: if rng.bool() {
            rng.usize(32..=4096)
        } else {
            64 * 1024
        },
        reconnect: ReconnectConfig {
            connect_timeout: Duration::from_secs(5),
            ..ReconnectConfig::default()
        },
        seed: rng.u64(..),
        ..ClientConfig::default()
    };
    config.subscription_capacity = rng.usize(1..=8);
    config.mqtt.unmatched_capacity = rng.usize(0..=64);
    config.command_capacity = rng.usize(1..=16);
    config
}

fn payload(rng: &mut fastrand::Rng, tag: &str) -> Bytes {
    // Mostly small; sometimes big enough to meet the packet size and buffer bounds.
    let pad = match rng.u8(0..10) {
        0 => rng.usize(200..=2500),
        1..=3 => rng.usize(0..=200),
        _ => 0,
    };
    let mut text = format!("{tag}|");
    text.extend(std::iter::repeat_n('x', pad));
    Bytes::from(text)
}

/// The payload without its padding (small enough for any packet size limit here).
fn payload_tag(payload: &Bytes) -> Bytes {
    let end = payload
        .iter()
        .position(|b| *b == b'|')
        .map_or(payload.len(), |i| i + 1);
    payload.slice(..end)
}

fn planned(rng: &mut fastrand::Rng, tag: String, v5: bool, span: Duration) -> PlannedPublish {
    PlannedPublish {
        delay: span.mul_f64(rng.f64()),
        topic: TOPICS[rng.usize(0..TOPICS.len())],
        qos: qos(rng),
        payload: payload(rng, &tag),
        alias: (v5 && rng.u8(0..4) == 0).then(|| rng.u16(1..=3)),
        detached: rng.u8(0..3) == 0,
    }
}

impl Scenario {
    pub fn new(seed: u64) -> Scenario {
        let mut rng = fastrand::Rng::with_seed(seed);
        let persistent = rng.bool();
        let publisher_clean = rng.u8(0..4) == 0;
        let pub_config = client_config(&mut rng, PUB_ID, publisher_clean);
        let sub_config = client_config(&mut rng, SUB_ID, false);
        let fault_span = Duration::from_millis(rng.u64(3_000..=15_000));
        let v5 = pub_config.mqtt.protocol == ProtocolVersion::V5;
        let mut taken = Vec::new();
        let readers = (0..rng.usize(1..=3))
            .filter_map(|_| {
                let filter = LONG_FILTERS[rng.usize(0..LONG_FILTERS.len())];
                if taken.contains(&filter) {
                    return None;
                }
                taken.push(filter);
                Some(Reader {
                    filter,
                    qos: qos(&mut rng),
                    pause: rng.bool().then(|| Duration::from_millis(rng.u64(1..=300))),
                })
            })
            .collect();
        let reader_filters: Vec<&'static str> = taken.clone();
        let churn = (0..rng.usize(0..=3))
            .map(|_| Churn {
                delay: fault_span.mul_f64(rng.f64()),
                filter: CHURN_FILTERS[rng.usize(0..CHURN_FILTERS.len())],
                qos: qos(&mut rng),
                reads: rng.usize(0..=3),
                unsubscribe: rng.bool(),
            })
            .collect();
        let publishers = (0..rng.usize(1..=3))
            .map(|p| {
                let mut publishes: Vec<PlannedPublish> = (0..rng.usize(1..=12))
                    .map(|i| planned(&mut rng, format!("p{p}-{i}"), v5, fault_span))
                    .collect();
                publishes.sort_by_key(|p| p.delay);
                Publisher { publishes }
            })
            .collect();
        let burst_max = pub_config.command_capacity.clamp(1, 6);
        let burst = (0..rng.usize(1..=burst_max))
            .map(|i| planned(&mut rng, format!("final-{i}"), v5, Duration::ZERO))
            .collect();
        Scenario {
            seed,
            persistent,
            limits: Limits::random(&mut rng),
            hold_acks: rng.bool(),
            window: rng.usize(1..=10),
            profile: LinkProfile::random(&mut rng),
            io: IoProfile::random(&mut rng),
            net_seed: rng.u64(..),
            pub_config,
            sub_config,
            readers,
            churn,
            publishers,
            burst,
            fault_span,
            fault_gap: Duration::from_millis(rng.u64(200..=3_000)),
            // Drawn last: the other draws of a seed stay as they were.
            refuse_after_restart: if rng.bool() {
                let mut refused: Vec<&'static str> = reader_filters
                    .iter()
                    .copied()
                    .filter(|_| rng.bool())
                    .collect();
                if refused.is_empty() {
                    refused.push(reader_filters[rng.usize(0..reader_filters.len())]);
                }
                refused
            } else {
                Vec::new()
            },
            script: None,
            subscriber_restart: None,
            publisher_drops_handle: false,
            burst_stall: None,
        }
        .draw_endings(&mut rng)
    }

    /// Drawn after everything else, so the earlier draws of a seed stay as they were.
    fn draw_endings(mut self, rng: &mut fastrand::Rng) -> Scenario {
        let v5 = self.pub_config.mqtt.protocol == ProtocolVersion::V5;
        let restart = rng.bool();
        let drop_handle = rng.bool();
        // Sometimes more than the fresh process's unmatched buffer holds.
        let absent: Vec<PlannedPublish> = (0..rng.usize(1..=24))
            .map(|i| PlannedPublish {
                qos: if rng.bool() {
                    QoS::AtLeastOnce
                } else {
                    QoS::ExactlyOnce
                },
                detached: false,
                ..planned(rng, format!("absent-{i}"), v5, Duration::ZERO)
            })
            .collect();
        if restart && self.refuse_after_restart.is_empty() {
            self.subscriber_restart = Some(SubscriberRestart {
                drop_handle,
                absent,
            });
        }
        self.publisher_drops_handle = rng.bool();
        self.burst_stall = rng
            .bool()
            .then(|| Duration::from_millis(rng.u64(200..=3_000)));
        if self.publisher_drops_handle {
            // Every publish of the burst is taken (nothing awaits a refusal): small payloads,
            // no alias, no more than the queue and the command channel hold.
            let most = self
                .pub_config
                .mqtt
                .max_queued
                .min(self.pub_config.command_capacity)
                .max(1);
            self.burst.truncate(most);
            for p in &mut self.burst {
                p.payload = payload_tag(&p.payload);
                p.alias = None;
            }
        }
        self
    }

    /// The subscriber restart this run makes: none while the broker refuses filters (set by
    /// hand after [`Scenario::new`], as the fuzz target does).
    pub fn restart(&self) -> Option<&SubscriberRestart> {
        self.subscriber_restart
            .as_ref()
            .filter(|_| self.refuse_after_restart.is_empty())
    }

    /// Both publisher and broker keep QoS 2 state across connections: QoS 2 is exactly once.
    pub fn exactly_once(&self) -> bool {
        self.persistent && !self.pub_config.mqtt.clean_start
    }

    /// The bound on bytes buffered documented at `ClientConfig::max_buffered_bytes`:
    /// `max(max_buffered_bytes, one packet, the requests resent on a resumed session)` plus the
    /// small packets owed to the broker. Here a packet is at most its payload plus
    /// [`PACKET_OVERHEAD`] (SUBSCRIBE and UNSUBSCRIBE: the overhead alone); one packet is the
    /// largest this run can make (not the configured maximum, which is far bigger than any
    /// packet here and would make the bound toothless). The resent requests are at most
    /// `max_inflight` of the run's QoS 1/2 publishes and subscription requests, so at most the
    /// `max_inflight` largest. The owed packets are at most one ack (PUBACK, PUBREC, PUBCOMP)
    /// per message the broker has in flight to the client (its window), one PUBREL per request
    /// in flight, one PINGREQ and the DISCONNECT.
    pub fn buffer_bound(&self, config: &ClientConfig) -> u64 {
        let publishes = || {
            self.publishers
                .iter()
                .flat_map(|p| &p.publishes)
                .chain(&self.burst)
                .chain(self.restart().into_iter().flat_map(|r| &r.absent))
        };
        let packet = publishes().map(|p| p.payload.len()).max().unwrap_or(0) + PACKET_OVERHEAD;
        let inflight = usize::from(config.max_inflight);
        let mut resendable: Vec<usize> = publishes()
            .filter(|p| p.qos != QoS::AtMostOnce)
            .map(|p| p.payload.len() + PACKET_OVERHEAD)
            .collect();
        resendable.sort_unstable_by(|a, b| b.cmp(a));
        // Subscription requests (the readers', the churn's, re-subscriptions) are smaller than
        // any publish here: they fill what the publishes leave of the window.
        let resent = resendable.iter().take(inflight).sum::<usize>()
            + inflight.saturating_sub(resendable.len()) * PACKET_OVERHEAD;
        let owed = (self.window + inflight) * ACK + PINGREQ + DISCONNECT;
        (config.max_buffered_bytes.max(packet).max(resent) + owed) as u64
    }

    pub fn runtime(&self) -> SimRuntime {
        let mut broker = Broker::new(self.persistent, self.window);
        broker.limits = self.limits;
        broker.hold_acks = self.hold_acks;
        broker.refuse_after_restart = self
            .refuse_after_restart
            .iter()
            .map(|f| (*f).to_owned())
            .collect();
        let rt = SimRuntime::new(
            fastrand::Rng::with_seed(self.net_seed),
            broker,
            self.profile.clone(),
        );
        rt.with_net(|net| net.io = self.io);
        rt
    }
}
