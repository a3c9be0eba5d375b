//! One seed's run, as the main future: connect both clients and subscribe (no faults), start
//! the fault plan and the application tasks, let the faults end and everything settle, then a
//! burst of publishes right before a graceful `disconnect()`, and the subscriber's close.

use std::time::{Duration, Instant};

use jamey_mqtt::{Client, ClientStats, Runtime};
use jamey_mqtt_core::topic::{TopicFilter, TopicName};
use jamey_mqtt_core::ConnectionState;

use crate::whole::api::{until, yield_now};
use crate::whole::checks;
use crate::whole::record::{App, Outcome};
use crate::whole::scenario::{Scenario, SUB_ID};
use crate::whole::tasks::{churn, publish_one, publisher, reader, request, SimClient};
use crate::Fault;

/// Virtual time after the faults for everything to settle (reconnect backoff is at most 30 s
/// and the circuit breaker stays open 60 s).
pub const SETTLE: Duration = Duration::from_secs(600);
/// Virtual time for each step of the healthy setup and shutdown.
const STEP: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// The clients' counters, taken once the run settled.
#[derive(Debug, Default)]
pub struct Finish {
    pub publisher: Option<ClientStats>,
    pub subscriber: Option<ClientStats>,
}

async fn connect(app: &App, config: &jamey_mqtt::Config) -> Option<SimClient> {
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
/// long-lived subscription whose filter matches it.
pub fn readers_complete(app: &App, scenario: &Scenario) -> bool {
    let owed = app.rt.with_net(|net| {
        net.broker
            .oracle
            .owed
            .get(SUB_ID)
            .cloned()
            .unwrap_or_default()
    });
    let record = app.record();
    owed.iter().all(|payload| {
        let Some(p) = record.publishes.iter().find(|p| p.payload == *payload) else {
            return true;
        };
        let topic = TopicName::new(p.topic).expect("valid topic");
        scenario.readers.iter().enumerate().all(|(i, r)| {
            record.refused[i]
                || !TopicFilter::new(r.filter)
                    .expect("valid filter")
                    .matches(&topic)
                || record.received[i].iter().any(|m| m.payload == *payload)
        })
    })
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
    let Some(sub) = connect(app, &scenario.sub_config).await else {
        return finish;
    };
    app.record().received = vec![Vec::new(); scenario.readers.len()];
    app.record().refused = vec![false; scenario.readers.len()];
    for (i, r) in scenario.readers.iter().enumerate() {
        let deadline = rt.now() + STEP;
        match request(app, deadline, &mut rng, || sub.subscribe(r.filter, r.qos)).await {
            Some(Ok(subscription)) => rt.spawn(reader(app.clone(), subscription, i, r.pause)),
            other => {
                app.fail(format!(
                    "subscribe {:?} on a healthy network: {other:?}",
                    r.filter
                ));
                return finish;
            }
        }
    }
    let Some(publisher_client) = connect(app, &scenario.pub_config).await else {
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
    let step = rt.now() + STEP;
    finish.publisher = until(rt, step, publisher_client.stats())
        .await
        .and_then(Result::ok);
    finish.subscriber = until(rt, step, sub.stats()).await.and_then(Result::ok);
    let describe = rt.with_net(|net| net.broker.describe());
    app.log(format_args!(
        "settled: publisher {:?}, subscriber {:?}\n{describe}",
        finish.publisher, finish.subscriber
    ));

    // A burst of publishes, then a graceful disconnect: everything accepted before it must
    // reach the broker, QoS 0 included.
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

    // The subscriber gets what is owed to it, then closes: its streams end.
    let step = rt.now() + STEP;
    if !wait_for(app, step, async || {
        broker_idle(app) && readers_complete(app, scenario)
    })
    .await
    {
        app.log(format_args!("the readers did not get everything owed"));
    }
    if until(rt, step, sub.disconnect()).await.is_none() {
        app.fail(format!(
            "subscriber: disconnect() still pending after {STEP:?}"
        ));
    }
    drop(sub);
    let readers = scenario.readers.len();
    if !wait_for(app, step, async || app.record().readers_ended == readers).await {
        app.fail("subscription streams did not end after the client closed".into());
    }
    finish
}
