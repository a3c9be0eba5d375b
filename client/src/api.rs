//! The user API: [`Client`] (a cloneable handle), [`Subscription`] (a stream of the messages its
//! filter matches), [`Events`] (a stream of connection events) and [`ClientStats`].
//!
//! Every method sends a command to the driver task and awaits its answer; the driver forwards
//! the command to the core, so all checks (topic validity, permissions, queue bounds) and all
//! protocol decisions are the core's.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_channel::Receiver;
use bytes::Bytes;
use futures_core::Stream;
use jamey_mqtt_core::{
    ClientError, ConnectionInfo, DisconnectOptions, Event, Health, Message, PublishRequest, QoS,
    Stats,
};
use jamey_mqtt_core::{SubscribeFilter, SubscribeProperties, UserProperties};
use tokio::sync::mpsc;

use crate::driver::{Command, Driver, DriverParts, Shared};
use crate::handles::StreamItem;
use crate::inbox;
use crate::telemetry::trace::Tracer;
use crate::telemetry::{MetricsState, Telemetry};
use crate::transport::TlsPolicy;
use crate::{Config, Error, Runtime};

/// A publish whose QoS flow completed: written (QoS 0), PUBACK (1) or PUBCOMP (2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOutcome {
    /// The packet id it used (0 for QoS 0).
    pub pkid: u16,
}

/// A snapshot of the client's counters and health (unmatched messages: buffered in
/// `health.unmatched_buffered`, dropped in `core.messages_unmatched_dropped`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStats {
    /// The core's counters.
    pub core: Stats,
    /// The health snapshot (state, queue sizes, the last error).
    pub health: Health,
    /// Per endpoint of the broker list (then the servers redirects led to): attempts,
    /// connections, failures.
    pub endpoints: Vec<jamey_mqtt_core::EndpointStats>,
}

/// The outcome of the first connection attempt, awaited by `connect` only.
type FirstConnect = futures_channel::oneshot::Receiver<Result<(), Error>>;

pub(crate) struct Inner {
    /// Dropped with the last handle: the driver sees the channel close and disconnects cleanly.
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    subscription_capacity: usize,
    event_capacity: usize,
    /// Numbers the requests of [`Client::request`] (response topics, correlation data).
    pub(crate) next_request: std::sync::atomic::AtomicU64,
    /// The client id sent in CONNECT: the `client_id` label of the metrics.
    pub(crate) client_id: String,
}

/// A handle to a connected MQTT client. Cheap to clone; the connection is shared. Dropping the
/// last handle disconnects cleanly (DISCONNECT, then close) in the background.
pub struct Client<R: Runtime> {
    pub(crate) inner: Arc<Inner>,
    /// For the timers of helpers such as [`Client::request`].
    pub(crate) runtime: R,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client {
            inner: self.inner.clone(),
            runtime: self.runtime.clone(),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("closed", &self.inner.commands.is_closed())
            .finish()
    }
}

impl<R: Runtime + Default> Client<R> {
    /// Connects on the default instance of the runtime. See [`Client::connect_with`].
    pub async fn connect(config: Config) -> Result<Client<R>, Error> {
        Client::connect_with(R::default(), config).await
    }

    /// Starts on the default instance of the runtime. See [`Client::start_with`].
    pub fn start(config: Config) -> Result<Client<R>, Error> {
        Client::start_with(R::default(), config)
    }
}

impl<R: Runtime> Client<R> {
    /// Spawns the driver and waits for the first connection attempt's outcome: `Ok` on CONNACK
    /// accepted; the typed error otherwise (TLS refusal, TCP error, CONNACK refusal, timeout).
    /// After a successful connect, losses are handled by the core's reconnect policy and show
    /// up on [`Client::events`].
    ///
    /// With a broker list, `connect` tries each endpoint once (in the list's order, with the
    /// reconnect backoff in between) and fails with the last error when all failed.
    ///
    /// Use `connect` when the program cannot do anything useful without the broker (a CLI
    /// tool, a test): a wrong host or refused credentials fail at once. Use
    /// [`Client::start_with`] for a long-running service that must come up even while the
    /// broker is down.
    pub async fn connect_with(runtime: R, config: Config) -> Result<Client<R>, Error> {
        let (client, ready) = Client::spawn_driver(runtime, config)?;
        match ready.await {
            Ok(Ok(())) => Ok(client),
            // Dropping `client` here stops the driver.
            Ok(Err(error)) => Err(error),
            Err(_) => Err(Error::Closed),
        }
    }

    /// Spawns the driver and returns the handle at once, without waiting for a connection:
    /// only a configuration error (TLS files, an invalid `ClientConfig`) fails. The driver
    /// connects in the background; a failed first attempt is retried by the core's reconnect
    /// policy exactly as a lost connection is (backoff, circuit breaker, `max_attempts`), and
    /// each step shows up on [`Client::events`] and [`Client::stats`] (its `health`). Requests made
    /// meanwhile wait in the core's bounded queue (`max_queued`; beyond it
    /// `ClientError::QueueFull`) and go out once connected.
    ///
    /// Use it for services that must start (and report themselves unhealthy) while the broker
    /// is unreachable. With `reconnect.enabled = false` a failed first attempt closes the
    /// client, and pending requests fail.
    pub fn start_with(runtime: R, config: Config) -> Result<Client<R>, Error> {
        // The first attempt's outcome is reported on the events stream; nobody waits for it.
        Client::spawn_driver(runtime, config).map(|(client, _ready)| client)
    }

    /// The client handle and the reply to the first connection attempt.
    fn spawn_driver(runtime: R, config: Config) -> Result<(Client<R>, FirstConnect), Error> {
        #[cfg(feature = "tls")]
        let tls = match &config.tls {
            Some(options) => {
                // Every configured endpoint's name is checked now, not at its first attempt.
                for endpoint in config.endpoints() {
                    options.name_for(endpoint, true)?;
                }
                Some(TlsPolicy {
                    config: options.build_policy()?,
                    options: options.clone(),
                    listed: config.endpoints().to_vec(),
                })
            }
            None => None,
        };
        #[cfg(not(feature = "tls"))]
        let tls: Option<TlsPolicy> = None;
        let now = runtime.now();
        let mut core = jamey_mqtt_core::Client::new(config.core_config()?, now)?;
        // JWT times are wall-clock times; the core derives them from this anchor and `now`.
        core.handle_wall_clock(now, std::time::SystemTime::now());
        let (commands_tx, commands_rx) = mpsc::channel(config.command_capacity.max(1));
        let (ready_tx, ready_rx) = futures_channel::oneshot::channel();
        let (finished_tx, finished_rx) = async_channel::bounded(1);
        let shared = Arc::new(Shared {
            event_streams: Default::default(),
            connection: Default::default(),
            finished: finished_rx,
            metrics: Arc::new(MetricsState::new({
                let runtime = runtime.clone();
                Box::new(move || runtime.now())
            })),
        });
        let client_id = core.client_id().to_owned();
        let tracer = Tracer::new(config.mqtt.protocol);
        let driver = Driver::new(DriverParts {
            rt: runtime.clone(),
            core,
            tls,
            shared: shared.clone(),
            commands: commands_rx,
            first_connect: ready_tx,
            endpoints: config.endpoints().len(),
            finished: finished_tx,
            authenticator: config.authenticator.clone(),
            #[cfg(feature = "jwt")]
            auth: config.auth.clone(),
            telemetry: Telemetry::new(tracer, shared.metrics.clone()),
        });
        // Boxed here: the task is several KiB, and handed by value through the runtime's spawn
        // path it would be copied frame after frame, each copy a few more stack pages that
        // stay resident for the life of the thread.
        runtime.spawn(Box::pin(driver.run()));
        let client = Client {
            inner: Arc::new(Inner {
                commands: commands_tx,
                shared,
                subscription_capacity: config.subscription_capacity.max(1),
                event_capacity: config.event_capacity.max(1),
                next_request: Default::default(),
                client_id,
            }),
            runtime: runtime.clone(),
        };
        Ok((client, ready_rx))
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(futures_channel::oneshot::Sender<Result<T, Error>>) -> Command,
    ) -> Result<T, Error> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.inner
            .commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Closed)?;
        // The driver answers exactly once; a dropped sender means it is gone.
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Publishes and resolves when the QoS flow completes (QoS 0: written; 1: PUBACK;
    /// 2: PUBCOMP). A full queue is `Err(Error::Request(ClientError::QueueFull))` at once; a
    /// broker refusal (MQTT 5) is `Err(Error::Failed(RequestError::Refused(code)))`.
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
        qos: QoS,
    ) -> Result<PublishOutcome, Error> {
        self.publish_request(PublishRequest::new(topic, payload, qos))
            .await
    }

    /// Acknowledges a message received with `ClientConfig::manual_ack` once it was processed:
    /// the client then sends its PUBACK (QoS 1) or PUBREC (QoS 2). Until then the broker keeps
    /// the message and resends it on a resumed session (`clean_start = false` and a session
    /// expiry), so a crash before processing does not lose it. Resolves when the core has
    /// queued the ack. Harmless (`Ok`, nothing sent): a QoS 0 message or automatic mode (no
    /// handle), acking twice, a copy of a message delivered again since (the newest copy's
    /// handle counts), a message from a session the broker lost. Unacked messages count
    /// against `receive_maximum`: a subscriber that never acks stops receiving QoS 1/2.
    pub async fn ack(&self, message: &Message) -> Result<(), Error> {
        let Some(id) = message.ack else {
            return Ok(());
        };
        self.call(|reply| Command::Ack { id, reply }).await
    }

    /// [`Client::publish`] with retain and MQTT 5 properties.
    pub async fn publish_request(&self, request: PublishRequest) -> Result<PublishOutcome, Error> {
        self.call(|reply| Command::Publish { request, reply }).await
    }

    /// Subscribes and resolves on SUBACK with a stream of the messages `filter` matches.
    /// Overlapping subscriptions each get their own copy of a message. Messages that arrived
    /// before any subscription matched them (a resumed session, `clean_start = false`) wait in
    /// the core's unmatched buffer (`ClientConfig::unmatched_capacity`) and go to the first
    /// subscription that matches them.
    pub async fn subscribe(
        &self,
        filter: impl Into<String>,
        qos: QoS,
    ) -> Result<Subscription, Error> {
        self.subscribe_with(SubscribeFilter::new(filter, qos)).await
    }

    /// Joins the shared subscription `$share/{group}/{filter}`: the broker hands each message
    /// matching `filter` to one member of `group` (MQTT 5, and Mosquitto on 3.1.1 too). The
    /// group is checked on its own (not empty, no `/`, `+` or `#`; else
    /// `ClientError::InvalidTopic`), permissions are checked against `filter`, and it is
    /// refused locally (`ClientError::Unsupported`) when an MQTT 5 broker said it has no
    /// shared subscriptions, or `ClientConfig::shared_subscriptions` is `false` (for a 3.1.1
    /// broker without them, which cannot say so). Leave the group with
    /// [`Client::unsubscribe`] of [`Subscription::topic_filter`]: what the broker sends
    /// afterwards goes to the other members.
    pub async fn subscribe_shared(
        &self,
        group: &str,
        filter: &str,
        qos: QoS,
    ) -> Result<Subscription, Error> {
        let shared = jamey_mqtt_core::topic::TopicFilter::shared(group, filter)
            .map_err(|e| Error::Request(ClientError::InvalidTopic(e)))?;
        self.subscribe(shared.into_string(), qos).await
    }

    /// [`Client::subscribe`] with MQTT 5 subscription options.
    pub async fn subscribe_with(&self, filter: SubscribeFilter) -> Result<Subscription, Error> {
        self.subscribe_many(vec![filter])
            .await?
            .pop()
            .unwrap_or(Err(Error::Closed))
    }

    /// Subscribes to several filters in one SUBSCRIBE packet and resolves on its SUBACK with
    /// one result per filter, in order: a [`Subscription`] stream for each granted filter,
    /// [`Error::SubscribeRefused`] for each refused one. The outer error is a request the
    /// client refused before sending it, or that failed as a whole.
    pub async fn subscribe_many(
        &self,
        filters: Vec<SubscribeFilter>,
    ) -> Result<Vec<Result<Subscription, Error>>, Error> {
        self.subscribe_many_with(filters, SubscribeProperties::default())
            .await
    }

    /// [`Client::subscribe_many`] with MQTT 5 SUBSCRIBE properties: user properties, and a
    /// subscription identifier (1..=268,435,455) that applies to every filter of the packet.
    /// A subscription with an identifier receives exactly the messages the broker sends with
    /// it (they carry it in `properties.subscription_identifiers`), so overlapping or shared
    /// subscriptions with different identifiers each get their own copies; it keeps its
    /// identifier when the client subscribes again after a session loss. Refused on MQTT
    /// 3.1.1 (`ClientError::Unsupported`), and an identifier when the broker said it has none
    /// (`ClientError::SubscriptionIdentifiersUnavailable`).
    pub async fn subscribe_many_with(
        &self,
        filters: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
    ) -> Result<Vec<Result<Subscription, Error>>, Error> {
        let capacity = self.inner.subscription_capacity;
        let (streams, receivers): (Vec<_>, Vec<_>) =
            filters.iter().map(|_| inbox::inbox(capacity)).unzip();
        let names: Vec<String> = filters.iter().map(|f| f.filter.clone()).collect();
        let results = self
            .call(|reply| Command::Subscribe {
                filters,
                properties,
                streams,
                reply,
            })
            .await?;
        Ok(results
            .into_iter()
            .zip(names.into_iter().zip(receivers))
            .map(|(result, (filter, rx))| {
                result.map(|granted| Subscription {
                    filter,
                    granted,
                    messages: rx,
                })
            })
            .collect())
    }

    /// Unsubscribes `filter` and resolves on UNSUBACK. Every [`Subscription`] with exactly this
    /// filter ends as soon as the request is accepted: it yields the messages it already holds,
    /// then `None`; messages still on their way to it are dropped (so a stream the application
    /// stopped reading cannot hold the UNSUBACK back). A later `subscribe` of the same filter
    /// is not affected.
    pub async fn unsubscribe(&self, filter: impl Into<String>) -> Result<(), Error> {
        self.unsubscribe_many(vec![filter.into()])
            .await?
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Unsubscribes several filters in one UNSUBSCRIBE packet (each as
    /// [`Client::unsubscribe`]) and resolves on its UNSUBACK with one result per filter, in
    /// order ([`Error::UnsubscribeRefused`] for a filter the MQTT 5 broker refused).
    pub async fn unsubscribe_many(
        &self,
        filters: Vec<String>,
    ) -> Result<Vec<Result<(), Error>>, Error> {
        self.unsubscribe_many_with(filters, Vec::new()).await
    }

    /// [`Client::unsubscribe_many`] with MQTT 5 user properties (refused on MQTT 3.1.1).
    pub async fn unsubscribe_many_with(
        &self,
        filters: Vec<String>,
        user_properties: UserProperties,
    ) -> Result<Vec<Result<(), Error>>, Error> {
        self.call(|reply| Command::Unsubscribe {
            filters,
            user_properties,
            reply,
        })
        .await
    }

    /// Disconnects gracefully. Requests already accepted get the core's grace period (the
    /// connect timeout) to complete; what has not completed by then fails with
    /// `RequestError::Closed`. Resolves only when every accepted QoS 0 publish has been written
    /// and flushed, DISCONNECT has been written and flushed and the stream closed (TLS
    /// close_notify sent): a program may exit as soon as it returns.
    pub async fn disconnect(&self) -> Result<(), Error> {
        self.disconnect_with(DisconnectOptions::normal()).await
    }

    /// [`Client::disconnect`] with a reason code and properties on the final DISCONNECT
    /// (MQTT 5): e.g. [`DisconnectOptions::with_will`] (reason 0x04) makes the broker publish
    /// the will, and a session expiry interval replaces the one CONNECT set (0: the broker
    /// drops the session now). Refused before anything changes, with [`Error::Request`]: on
    /// MQTT 3.1.1 anything but the normal case (`ClientError::Unsupported`), a reason a client
    /// may not send, or a non-zero session expiry when CONNECT set 0
    /// (`ClientError::SessionExpiryWasZero`).
    pub async fn disconnect_with(&self, options: DisconnectOptions) -> Result<(), Error> {
        let (tx, rx) = async_channel::bounded(1);
        if self
            .inner
            .commands
            .send(Command::Disconnect { options, reply: tx })
            .await
            .is_err()
        {
            return Ok(()); // already closed
        }
        match rx.recv().await {
            Ok(Err(refused)) => Err(Error::Request(refused)),
            // Closed, or the driver ended (its close is over).
            Ok(Ok(())) | Err(_) => Ok(()),
        }
    }

    /// Resolves when the client is closed for good and its connection shut down: after
    /// [`Client::disconnect`], after the last handle was dropped and the background close
    /// finished, or after the reconnect policy gave up. It does not keep the client alive, so a
    /// program that ends by dropping its handles waits for the close like this:
    ///
    /// ```no_run
    /// async fn finish<R: jamey_mqtt::Runtime>(client: jamey_mqtt::Client<R>) {
    ///     let closed = client.closed();
    ///     drop(client); // the last handle: the close starts in the background
    ///     closed.await; // every accepted publish written, DISCONNECT sent, stream closed
    /// }
    /// ```
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let finished = self.inner.shared.finished.clone();
        async move {
            // Never sent to: `recv` returns when the driver drops the sender at its end.
            let _ = finished.recv().await;
        }
    }

    /// MQTT 5 enhanced authentication: re-authenticates on the live connection (AUTH 0x19
    /// with the configured method and `data`). The broker's challenges go to the
    /// [`Authenticator`](crate::Authenticator); resolves with the broker's final data on
    /// success (AUTH 0x00). Errors: [`Error::Request`] when refused at once (no enhanced
    /// auth configured, not connected, one already in progress), [`Error::Reauthentication`]
    /// when the broker ended the connection or the authenticator gave up.
    pub async fn reauthenticate(&self, data: Option<Bytes>) -> Result<Option<Bytes>, Error> {
        self.call(|reply| Command::Reauthenticate { data, reply })
            .await
    }

    /// The client's counters and health.
    pub async fn stats(&self) -> Result<ClientStats, Error> {
        let (tx, rx) = async_channel::bounded(1);
        self.inner
            .commands
            .send(Command::Stats { reply: tx })
            .await
            .map_err(|_| Error::Closed)?;
        rx.recv().await.map_err(|_| Error::Closed)
    }

    /// Registers the client's metrics into the application's `prometheus-client` registry, so
    /// one `/metrics` endpoint serves both: counters, health gauges, connection uptime, ping
    /// round trip, token expiry and the publish-to-ack latency histogram, all named `mqtt_*`
    /// and labelled with the client id (the list is in the README). Register each client once
    /// (a second registration renders the same series twice).
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.inner
            .shared
            .metrics
            .register(registry, &self.inner.client_id);
        // A turn of the driver loop fills the snapshot now rather than at the next wake-up.
        let _ = self.inner.commands.try_send(Command::RefreshMetrics);
    }

    /// A stream of connection events from now on: connected, lost, reconnecting, circuit
    /// open/half-open, gave up, resubscribed, disconnected (messages and acks are not in it).
    /// Bounded: a stream that is not read loses events, never blocks the client.
    pub fn events(&self) -> Events {
        let (tx, rx) = async_channel::bounded(self.inner.event_capacity);
        self.inner
            .shared
            .event_streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(tx);
        Events {
            events: Box::pin(rx),
        }
    }

    /// The connection in force, as its CONNACK described it: session present, the client id in
    /// force (assigned by the broker or configured), the keep-alive in force, the broker's limits,
    /// response information, server reference, reason string, user properties. Set when
    /// [`Client::connect`] returns and on every reconnect (also announced as
    /// [`Event::Connected`]); `None` while disconnected.
    pub fn connection_info(&self) -> Option<ConnectionInfo> {
        self.inner
            .shared
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether the driver has stopped (disconnected or gave up).
    pub fn is_closed(&self) -> bool {
        self.inner.commands.is_closed()
    }
}

/// The messages one subscription's filter matches, in arrival order, as `Ok` items. Ends
/// (`None`) after [`Client::unsubscribe`] of its filter or when the client closes. When it
/// ends for another reason (the broker lost the session and refused this filter when the
/// client subscribed it again), its last item is that error,
/// [`Error::SubscriptionEnded`](crate::Error::SubscriptionEnded). Dropping it tells the client
/// to stop routing to it (the broker's subscription stays until unsubscribed).
#[derive(Debug)]
pub struct Subscription {
    filter: String,
    granted: QoS,
    messages: inbox::Receiver<StreamItem>,
}

impl Subscription {
    /// The topic filter this subscription was made with.
    pub fn topic_filter(&self) -> &str {
        &self.filter
    }

    /// The QoS the broker granted.
    pub fn granted_qos(&self) -> QoS {
        self.granted
    }

    /// The next message, or the error that ended the subscription; `None` once it ended.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        self.messages.recv().await
    }
}

impl Stream for Subscription {
    type Item = Result<Message, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.messages.poll_recv(cx)
    }
}

/// Connection events (see [`Client::events`]).
#[derive(Debug)]
pub struct Events {
    events: Pin<Box<Receiver<Event>>>,
}

impl Events {
    /// The next event; `None` once the client is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.events.recv().await.ok()
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }
}

impl Stream for Events {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.events.as_mut().poll_next(cx)
    }
}
