//! One seed's run, as the main future: connect both clients and subscribe (no faults), start
//! the fault plan and the application tasks, let the faults end and everything settle; on
//! some seeds restart the subscriber as a fresh process that resumes its session
//! ([`Scenario::subscriber_restart`]); then a burst of publishes right before a graceful
//! `disconnect()` (or the publisher's last handle dropped), and the subscriber's close.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jamey_mqtt::{Client, MetricsRegistry, Runtime};
use jamey_mqtt_core::topic::{TopicFilter, TopicName};
use jamey_mqtt_core::ConnectionState;

use crate::whole::api::{until, yield_now};
use crate::whole::checks;
use crate::whole::record::{App, Outcome, Restarted};
use crate::whole::scenario::{Scenario, SubscriberRestart, SUB_ID};
use crate::whole::tasks::{churn, hand_over, publish_one, publisher, reader, request, SimClient};
use crate::Fault;

/// Virtual time after the faults for everything to settle (reconnect backoff is at most 30 s
/// and the circuit breaker stays open 60 s).
pub const SETTLE: Duration = Duration::from_secs(600);
/// Virtual time for each step of the healthy setup and shutdown.
const STEP: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// Every client process of the run, with the metrics registry it was registered into when it
/// connected: its counters are read from it once the run ended (after the final burst and
/// the close), see [`Finish::read_counters`].
#[derive(Debug, Default)]
pub struct Finish {
    pub processes: Vec<Process>,
}

#[derive(Debug)]
pub struct Process {
    /// "publisher", "subscriber", "subscriber (restarted)".
    pub name: &'static str,
    /// The publisher's configuration (else the subscriber's).
    pub publisher: bool,
    pub metrics: MetricsRegistry,
    /// The values of its metrics, once read ([`Finish::read_counters`]).
    pub counters: BTreeMap<String, u64>,
}

impl Finish {
    /// Reads every process's metrics (`mqtt_*`, labels left out) as the Prometheus text
    /// exposition renders them. Not while the network is locked (`SimRuntime::with_net`):
    /// rendering reads the runtime's clock.
    pub fn read_counters(&mut self) {
        for process in &mut self.processes {
            let mut text = String::new();
            if prometheus_client::encoding::text::encode(&mut text, &process.metrics).is_err() {
                continue;
            }
            process.counters = text
                .lines()
                .filter(|line| !line.starts_with('#'))
                .filter_map(|line| {
                    let (series, value) = line.rsplit_once(' ')?;
                    let name = series.split('{').next()?;
                    // The gauges and counters read here are whole numbers.
                    let value = value.parse::<f64>().ok()?;
                    Some((name.to_owned(), value as u64))
                })
                .collect();
        }
    }
}

/// Connects a client process and registers its metrics in `finish`.
async fn connect(
    app: &App,
    config: &jamey_mqtt::Config,
    finish: &mut Finish,
    name: &'static str,
) -> Option<SimClient> {
    let client = connect_client(app, config).await?;
    let mut metrics = MetricsRegistry::default();
    client.register_metrics(&mut metrics);
    finish.processes.push(Process {
        name,
        publisher: config.mqtt.client_id != SUB_ID,
        metrics,
        counters: BTreeMap::new(),
    });
    Some(client)
}

async fn connect_client(app: &App, config: &jamey_mqtt::Config) -> Option<SimClient> {
    let deadline = app.rt.now() + STEP;
    let id = &config.mqtt.client_id;
    match until(
        &app.rt,
        deadline,
        Client::connect_with(app.rt.clone(), config.clone()),
    )
    .await
    {
        Some(Ok(client)) => {
            if app.tracing() {
                let mut events = client.events();
                let (app, id) = (app.clone(), id.clone());
                app.rt.clone().spawn(async move {
                    while let Some(event) = events.recv().await {
                        app.log(format_args!("{id}: {event:?}"));
                    }
                });
            }
            Some(client)
        }
        Some(Err(e)) => {
            app.fail(format!("{id}: connect failed on a healthy network: {e:?}"));
            None
        }
        None => {
            app.fail(format!("{id}: connect still pending after {STEP:?}"));
            None
        }
    }
}

/// Waits (polling the virtual clock) until `done` holds; false at `deadline`.
async fn wait_for(app: &App, deadline: Instant, mut done: impl AsyncFnMut() -> bool) -> bool {
    loop {
        if done().await {
            return true;
        }
        if app.rt.now() >= deadline {
            return false;
        }
        app.rt.sleep(POLL).await;
    }
}

/// Connected, nothing in flight or queued.
async fn idle(app: &App, client: &SimClient) -> bool {
    let deadline = app.rt.now() + STEP;
    match until(&app.rt, deadline, client.stats()).await {
        Some(Ok(stats)) => {
            stats.health.state == ConnectionState::Connected
                && stats.health.in_flight == 0
                && stats.health.queued == 0
        }
        _ => false,
    }
}

/// Every QoS >= 1 message the broker routed into the subscriber's session has reached every
/// long-lived subscription whose filter matches it; one a resumed session delivered before
/// the restarted process subscribed again, the first matching subscription it made (the
/// readers subscribe in order), except at most `dropped` of those (dropped from the full
/// unmatched buffer).
pub fn readers_complete(app: &App, scenario: &Scenario, dropped: u64) -> bool {
    let owed = app.rt.with_net(|net| {
        net.broker
            .oracle
            .owed
            .get(SUB_ID)
            .cloned()
            .unwrap_or_default()
    });
    let record = app.record();
    let mut missing_resumed = 0;
    let complete = owed.iter().all(|payload| {
        let Some(p) = record.publishes.iter().find(|p| p.payload == *payload) else {
            return true;
        };
        let topic = TopicName::new(p.topic).expect("valid topic");
        let matching = |r: &crate::whole::scenario::Reader| {
            TopicFilter::new(r.filter)
                .expect("valid filter")
                .matches(&topic)
        };
        let got = |i: usize| record.received[i].iter().any(|m| m.payload == *payload);
        if record.resumed.contains(payload) {
            if !scenario.readers.iter().position(matching).is_none_or(got) {
                missing_resumed += 1;
            }
            return true;
        }
        scenario
            .readers
            .iter()
            .enumerate()
            .all(|(i, r)| record.refused[i] || !matching(r) || got(i))
    });
    complete && missing_resumed <= dropped
}

/// The unmatched messages the restarted subscriber process dropped (0 without a restart).
fn restart_dropped(app: &App) -> u64 {
    app.record().restarted.map_or(0, |r| r.unmatched_dropped)
}

fn broker_idle(app: &App) -> bool {
    app.rt
        .with_net(|net| !net.faults_on() && net.quiet() && net.broker.idle())
}

/// Injects the scripted faults at their instants within `span`, then stops the faults.
async fn scripted_faults(app: App, mut script: Vec<(Duration, Fault)>, span: Duration) {
    let start = app.rt.now();
    script.sort_by_key(|(at, _)| *at);
    for (at, fault) in script.into_iter().filter(|(at, _)| *at < span) {
        app.rt.sleep_until(start + at).await;
        app.rt.inject(fault);
    }
    app.rt.sleep_until(start + span).await;
    app.rt.stop_faults();
}

pub async fn run(app: &App, scenario: &Scenario) -> Finish {
    let mut finish = Finish::default();
    let rt = &app.rt;
    let mut rng = fastrand::Rng::with_seed(scenario.seed ^ 0x5eed);
    // Setup on a healthy network: the subscriber's long-lived subscriptions first.
    let Some(mut sub) = connect(app, &scenario.sub_config, &mut finish, "subscriber").await else {
        return finish;
    };
    app.record().received = vec![Vec::new(); scenario.readers.len()];
    app.record().refused = vec![false; scenario.readers.len()];
    if !subscribe_readers(app, scenario, &sub, &mut rng).await {
        return finish;
    }
    let Some(publisher_client) = connect(app, &scenario.pub_config, &mut finish, "publisher").await
    else {
        return finish;
    };

    // Faults, with the application running.
    app.log(format_args!("faults start"));
    match &scenario.script {
        None => rt.start_faults(scenario.fault_span, scenario.fault_gap),
        Some(script) => rt.spawn(scripted_faults(
            app.clone(),
            script.clone(),
            scenario.fault_span,
        )),
    }
    let deadline = rt.now() + scenario.fault_span + SETTLE;
    for plan in &scenario.publishers {
        let task = publisher(
            app.clone(),
            publisher_client.clone(),
            plan.clone(),
            deadline,
            rng.u64(..),
        );
        rt.spawn(task);
    }
    for plan in &scenario.churn {
        rt.spawn(churn(
            app.clone(),
            sub.clone(),
            plan.clone(),
            deadline,
            rng.u64(..),
        ));
    }
    rt.sleep(scenario.fault_span).await;

    // Settling: the tasks are done, the broker has delivered everything, both clients idle.
    let tasks = scenario.publishers.len() + scenario.churn.len();
    let settled = wait_for(app, deadline, async || {
        let record_done = {
            let record = app.record();
            record.tasks_done == tasks
                && record
                    .publishes
                    .iter()
                    .all(|p| p.outcome != Outcome::Pending)
        };
        // The subscriber's session is live at the broker too: a kick's end of stream may
        // still be on its way to a client that believes itself connected.
        let sub_live = app
            .rt
            .with_net(|net| net.broker.live_subscriptions(SUB_ID).is_some());
        record_done
            && sub_live
            && broker_idle(app)
            && idle(app, &publisher_client).await
            && idle(app, &sub).await
    })
    .await;
    if !settled {
        let step = rt.now() + STEP;
        let stats = until(rt, step, sub.stats()).await;
        app.log(format_args!("subscriber when not settled: {stats:?}"));
        let (describe, faults_on) = rt.with_net(|net| (net.broker.describe(), net.faults_on()));
        app.fail(format!(
            "not settled {SETTLE:?} after the faults (faults on {faults_on}):\n{describe}"
        ));
        return finish;
    }
    let held = {
        let record = app.record();
        rt.with_net(|net| checks::settled_subscriptions(scenario, &record, &net.broker))
    };
    for failure in held {
        app.fail(failure);
    }
    if app.tracing() {
        let step = rt.now() + STEP;
        let publisher = until(rt, step, publisher_client.stats()).await;
        let subscriber = until(rt, step, sub.stats()).await;
        let describe = rt.with_net(|net| net.broker.describe());
        app.log(format_args!(
            "settled: publisher {publisher:?}, subscriber {subscriber:?}\n{describe}"
        ));
    }

    if let Some(restart) = scenario.restart() {
        match restart_subscriber(app, scenario, restart, sub, &publisher_client, &mut finish).await
        {
            Some(fresh) => sub = fresh,
            None => return finish,
        }
    }

    // A burst of publishes, then a graceful disconnect: everything accepted before it must
    // reach the broker, QoS 0 included.
    if let Some(span) = scenario.burst_stall {
        // Both connections (publisher and subscriber) are the live ones now.
        for pick in 0..2 {
            rt.inject(Fault::Stall { pick, span });
        }
    }
    let step = rt.now() + STEP;
    if scenario.publisher_drops_handle {
        // Handed over unawaited, then the last handle goes: the client disconnects on its own
        // and must still deliver all of it.
        for planned in &scenario.burst {
            let index = app.publishing(planned.payload.clone(), planned.topic, planned.qos, true);
            hand_over(app, &publisher_client, index, planned).await;
        }
        let closed = publisher_client.closed();
        drop(publisher_client);
        if until(rt, step, closed).await.is_none() {
            app.fail("publisher: still open after its last handle was dropped".into());
        }
    } else {
        burst_then_disconnect(app, scenario, publisher_client, &mut rng).await;
    }

    // The subscriber gets what is owed to it, then closes: its streams end.
    let step = rt.now() + STEP;
    if !wait_for(app, step, async || {
        broker_idle(app) && readers_complete(app, scenario, restart_dropped(app))
    })
    .await
    {
        app.log(format_args!("the readers did not get everything owed"));
    }
    let step = rt.now() + STEP;
    if until(rt, step, sub.disconnect()).await.is_none() {
        app.fail(format!(
            "subscriber: disconnect() still pending after {STEP:?}"
        ));
    }
    drop(sub);
    let readers = app.record().readers_started;
    if !wait_for(app, step, async || app.record().readers_ended == readers).await {
        app.fail("subscription streams did not end after the client closed".into());
    }
    finish
}

/// Subscribes every long-lived reader in order (each awaited) and starts its task. False
/// (a failure recorded) when one is not granted on the healthy network.
async fn subscribe_readers(
    app: &App,
    scenario: &Scenario,
    sub: &SimClient,
    rng: &mut fastrand::Rng,
) -> bool {
    for (i, r) in scenario.readers.iter().enumerate() {
        let deadline = app.rt.now() + STEP;
        match request(app, deadline, rng, || sub.subscribe(r.filter, r.qos)).await {
            Some(Ok(subscription)) => {
                app.record().readers_started += 1;
                app.rt.spawn(reader(app.clone(), subscription, i, r.pause));
            }
            other => {
                app.fail(format!(
                    "subscribe {:?} on a healthy network: {other:?}",
                    r.filter
                ));
                return false;
            }
        }
    }
    true
}

/// The subscriber process ends gracefully once its readers have everything; the publisher
/// publishes `restart.absent` while no subscriber is connected; a fresh process (a new
/// `Client`, `clean_start = false`) resumes the session and subscribes the same filters
/// again. What the session delivers before that waits in the unmatched buffer. Returns the
/// fresh process once its readers have what the session owed (`None`: a failure recorded).
async fn restart_subscriber(
    app: &App,
    scenario: &Scenario,
    restart: &SubscriberRestart,
    old: SimClient,
    publisher_client: &SimClient,
    finish: &mut Finish,
) -> Option<SimClient> {
    let rt = &app.rt;
    let mut rng = fastrand::Rng::with_seed(scenario.seed ^ 0x4e57);
    let step = rt.now() + STEP;
    if !wait_for(app, step, async || {
        broker_idle(app) && readers_complete(app, scenario, 0)
    })
    .await
    {
        // What is missing fails the seed in the checks (unless excused there).
        app.log(format_args!(
            "restart: the readers did not get everything owed before the restart"
        ));
    }
    let step = rt.now() + STEP;
    app.log(format_args!(
        "restart: the subscriber process ends (dropping its handle: {})",
        restart.drop_handle
    ));
    let closed = old.closed();
    if restart.drop_handle {
        drop(old);
    } else if until(rt, step, old.disconnect()).await.is_none() {
        app.fail(format!(
            "subscriber: disconnect() still pending after {STEP:?}"
        ));
        return None;
    }
    if until(rt, step, closed).await.is_none() {
        app.fail("restart: the old subscriber process did not close".into());
        return None;
    }
    let started = app.record().readers_started;
    let gone = wait_for(app, step, async || {
        app.record().readers_ended == started
            && app
                .rt
                .with_net(|net| net.broker.live_subscriptions(SUB_ID).is_none())
    })
    .await;
    if !gone {
        app.fail(
            "restart: the old process's streams did not end, or the broker still sees it".into(),
        );
        return None;
    }
    let deadline = rt.now() + STEP;
    for planned in &restart.absent {
        let index = app.publishing(planned.payload.clone(), planned.topic, planned.qos, false);
        let task = publish_one(
            app.clone(),
            publisher_client.clone(),
            index,
            planned.clone(),
            deadline,
            rng.u64(..),
            true,
        );
        task.await;
    }
    app.record()
        .resumed
        .extend(restart.absent.iter().map(|p| p.payload.clone()));
    app.log(format_args!(
        "restart: a fresh subscriber process resumes the session"
    ));
    let fresh = connect(app, &scenario.sub_config, finish, "subscriber (restarted)").await?;
    if !subscribe_readers(app, scenario, &fresh, &mut rng).await {
        return None;
    }
    let step = rt.now() + STEP;
    if !wait_for(app, step, async || {
        let dropped = match until(&app.rt, app.rt.now() + STEP, fresh.stats()).await {
            Some(Ok(stats)) => stats.core.messages_unmatched_dropped,
            _ => return false,
        };
        broker_idle(app) && readers_complete(app, scenario, dropped)
    })
    .await
    {
        app.log(format_args!(
            "restart: the readers did not get everything owed"
        ));
    }
    if app.tracing() {
        let stats = until(rt, rt.now() + STEP, fresh.stats()).await;
        let received: Vec<Vec<String>> = app
            .record()
            .received
            .iter()
            .map(|r| {
                r.iter()
                    .map(|m| crate::whole::tasks::short(&m.payload))
                    .collect()
            })
            .collect();
        let describe = rt.with_net(|net| net.broker.describe());
        app.log(format_args!(
            "restart: fresh process {stats:?}; received {received:?}\n{describe}"
        ));
    }
    match until(rt, rt.now() + STEP, fresh.stats()).await {
        Some(Ok(stats)) => {
            app.record().restarted = Some(Restarted {
                unmatched: stats.core.messages_unmatched,
                unmatched_dropped: stats.core.messages_unmatched_dropped,
                capacity: scenario.sub_config.mqtt.unmatched_capacity,
            });
        }
        other => {
            app.fail(format!(
                "restart: no stats from the fresh process: {other:?}"
            ));
            return None;
        }
    }
    Some(fresh)
}

/// The final burst, each publish awaited by its own task, then `disconnect()`.
async fn burst_then_disconnect(
    app: &App,
    scenario: &Scenario,
    publisher_client: SimClient,
    rng: &mut fastrand::Rng,
) {
    let rt = &app.rt;
    let step = rt.now() + STEP;
    for planned in &scenario.burst {
        let index = app.publishing(planned.payload.clone(), planned.topic, planned.qos, true);
        let task = publish_one(
            app.clone(),
            publisher_client.clone(),
            index,
            planned.clone(),
            step,
            rng.u64(..),
            false,
        );
        rt.spawn(task);
    }
    // The burst's commands reach the channel before the disconnect's (FIFO executor).
    yield_now().await;
    if until(rt, step, publisher_client.disconnect())
        .await
        .is_none()
    {
        app.fail(format!(
            "publisher: disconnect() still pending after {STEP:?}"
        ));
    }
    if until(rt, step, publisher_client.closed()).await.is_none() {
        app.fail("publisher: closed() still pending after disconnect()".into());
    }
    drop(publisher_client);
}
