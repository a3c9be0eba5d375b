//! The application tasks: publishers (in order or detached, retrying on `QueueFull`),
//! long-lived subscription readers (some slow), and subscriptions made, read a little and
//! dropped or unsubscribed. Every request runs against a virtual-time deadline: one still
//! pending then is a failure.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::SimRuntime;
use jamey_mqtt::{Client, ClientError, Error, PublishRequest, RequestError, Runtime, Subscription};
use jamey_mqtt_core::packet::PublishProperties;
use jamey_mqtt_core::SubscriptionEnd;

use crate::whole::api::{next_message, until};
use crate::whole::record::{App, Outcome, Received};
use crate::whole::scenario::{Churn, PlannedPublish, Publisher};

pub type SimClient = Client<SimRuntime>;

/// Runs a request, waiting and retrying while the client answers `QueueFull` (back-pressure).
/// `None`: still pending at `deadline`.
pub async fn request<T, Fut: Future<Output = Result<T, Error>>>(
    app: &App,
    deadline: Instant,
    rng: &mut fastrand::Rng,
    mut make: impl FnMut() -> Fut,
) -> Option<Result<T, Error>> {
    loop {
        match until(&app.rt, deadline, make()).await {
            Some(Err(Error::Request(ClientError::QueueFull { .. }))) => {
                app.rt.sleep(Duration::from_millis(rng.u64(20..=500))).await;
            }
            other => return other,
        }
    }
}

/// Makes publish `index` of the record and records how it ended. `retry`: wait and retry on
/// `QueueFull`; otherwise `QueueFull` means not accepted.
pub async fn publish_one(
    app: App,
    client: SimClient,
    index: usize,
    planned: PlannedPublish,
    deadline: Instant,
    seed: u64,
    retry: bool,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut req = PublishRequest::new(planned.topic, planned.payload.clone(), planned.qos);
    if let Some(alias) = planned.alias {
        req = req.properties(PublishProperties {
            topic_alias: Some(alias),
            ..PublishProperties::default()
        });
    }
    let result = if retry {
        request(&app, deadline, &mut rng, || {
            client.publish_request(req.clone())
        })
        .await
    } else {
        until(&app.rt, deadline, client.publish_request(req)).await
    };
    let outcome = request_outcome(result);
    app.log(format_args!(
        "publish {:?} {:?}: {outcome:?}",
        short(&planned.payload),
        planned.qos
    ));
    if outcome == Outcome::Pending {
        app.fail(format!(
            "publish {:?} ({:?}) still pending at its deadline",
            short(&planned.payload),
            planned.qos
        ));
    }
    app.resolved(index, outcome);
}

/// Hands publish `index` of the record to the client and drops the future unawaited: polled
/// once, its command is in the client's channel (the caller made sure there is room), so the
/// client took it. Recorded as [`Outcome::Taken`].
pub async fn hand_over(app: &App, client: &SimClient, index: usize, planned: &PlannedPublish) {
    let req = PublishRequest::new(planned.topic, planned.payload.clone(), planned.qos);
    let mut future = Box::pin(client.publish_request(req));
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(result) = future.as_mut().poll(cx) {
            app.fail(format!(
                "publish {:?} answered before the driver ran: {result:?}",
                short(&planned.payload)
            ));
        }
        std::task::Poll::Ready(())
    })
    .await;
    drop(future);
    app.log(format_args!(
        "publish {:?} {:?} handed over",
        short(&planned.payload),
        planned.qos
    ));
    app.resolved(index, Outcome::Taken);
}

fn request_outcome<T>(result: Option<Result<T, Error>>) -> Outcome {
    match result {
        None => Outcome::Pending,
        Some(Ok(_)) => Outcome::Ok,
        Some(Err(
            e @ Error::Request(
                ClientError::PacketTooLarge { .. }
                | ClientError::InvalidTopicAlias { .. }
                | ClientError::QueueFull { .. },
            ),
        )) => Outcome::Refused(e.to_string()),
        Some(Err(Error::Failed(RequestError::NotWritten))) => Outcome::NotWritten,
        // Admitted, then the broker came back with a smaller maximum packet size.
        Some(Err(e @ Error::Failed(RequestError::PacketTooLarge { .. }))) => {
            Outcome::Refused(e.to_string())
        }
        Some(Err(e)) => Outcome::Failed(format!("{e:?}")),
    }
}

/// The payload's tag (before the padding), for messages.
pub fn short(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|b| *b == b'|')
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

/// Publishes the plan at its instants, some awaited in order, some detached; then drops its
/// handle.
pub async fn publisher(app: App, client: SimClient, plan: Publisher, deadline: Instant, seed: u64) {
    let start = app.rt.now();
    let mut rng = fastrand::Rng::with_seed(seed);
    for planned in plan.publishes {
        app.rt.sleep_until(start + planned.delay).await;
        let index = app.publishing(planned.payload.clone(), planned.topic, planned.qos, false);
        let seed = rng.u64(..);
        if planned.detached {
            let task = publish_one(
                app.clone(),
                client.clone(),
                index,
                planned,
                deadline,
                seed,
                true,
            );
            app.rt.spawn(task);
        } else {
            publish_one(
                app.clone(),
                client.clone(),
                index,
                planned,
                deadline,
                seed,
                true,
            )
            .await;
        }
    }
    drop(client);
    app.record().tasks_done += 1;
}

/// Reads a long-lived subscription until it ends, pausing after each message if slow. The
/// one error item allowed is a refused re-subscription, and only as the last item.
pub async fn reader(app: App, mut sub: Subscription, index: usize, pause: Option<Duration>) {
    let filter = sub.topic_filter().to_owned();
    let mut refused = None;
    while let Some(item) = next_message(&mut sub).await {
        if let Some(code) = refused {
            app.fail(format!(
                "subscription {filter:?} yielded {:?} after its refused re-subscription ({code:?})",
                item.map(|m| short(&m.payload))
            ));
            break;
        }
        match item {
            Ok(message) => {
                app.record().received[index].push(Received {
                    payload: message.payload,
                    topic: message.topic.into(),
                    qos: message.qos,
                });
                if let Some(pause) = pause {
                    app.rt.sleep(pause).await;
                }
            }
            Err(Error::SubscriptionEnded {
                filter: ended,
                end: SubscriptionEnd::ResubscribeRefused(code),
            }) if ended == filter => {
                app.log(format_args!(
                    "subscription {filter:?}: re-subscription refused"
                ));
                app.record().refused[index] = true;
                refused = Some(code);
            }
            Err(e) => {
                app.fail(format!("subscription {filter:?} ended with an error: {e}"));
                break;
            }
        }
    }
    app.log(format_args!("subscription {filter:?} ended"));
    app.record().readers_ended += 1;
}

/// Subscribes, reads a few messages (each within a short virtual wait), then unsubscribes or
/// just drops the subscription and the handle.
pub async fn churn(app: App, client: SimClient, plan: Churn, deadline: Instant, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    app.rt.sleep(plan.delay).await;
    app.log(format_args!("subscribe {:?} {:?}", plan.filter, plan.qos));
    let result = request(&app, deadline, &mut rng, || {
        client.subscribe(plan.filter, plan.qos)
    })
    .await;
    app.log(format_args!(
        "subscribe {:?}: {:?}",
        plan.filter,
        result.as_ref().map(|r| r.as_ref().map(|_| ()))
    ));
    match result {
        None => app.fail(format!(
            "subscribe {:?} still pending at its deadline",
            plan.filter
        )),
        Some(Err(e)) => app.fail(format!("subscribe {:?} failed: {e:?}", plan.filter)),
        Some(Ok(mut sub)) => {
            for _ in 0..plan.reads {
                let wait = app.rt.now() + Duration::from_secs(2);
                if !matches!(
                    until(&app.rt, wait, next_message(&mut sub)).await,
                    Some(Some(Ok(_)))
                ) {
                    break;
                }
            }
            if plan.unsubscribe {
                let result =
                    request(&app, deadline, &mut rng, || client.unsubscribe(plan.filter)).await;
                match result {
                    None => app.fail(format!(
                        "unsubscribe {:?} still pending at its deadline",
                        plan.filter
                    )),
                    Some(Err(e)) => {
                        app.fail(format!("unsubscribe {:?} failed: {e:?}", plan.filter))
                    }
                    Some(Ok(())) => {}
                }
            }
            if !plan.unsubscribe {
                app.record().dropped.insert(plan.filter);
            }
            drop(sub);
        }
    }
    drop(client);
    app.record().tasks_done += 1;
}
