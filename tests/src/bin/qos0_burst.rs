//! A program as a new user writes it to go fast: connect, publish `count` QoS 0 messages of
//! `size` bytes with up to 500 publishes outstanding at once (so the client is handed data faster
//! than the socket takes it, and much is still buffered when the program ends), then end with `disconnect().await` (`disconnect` mode) or by dropping the
//! last handle and awaiting `closed()` (`drop` mode), and exit. The integration tests
//! `disconnect_flushes_every_accepted_qos0_publish` and `dropping_the_last_handle_flushes_too`
//! run it as its own process and count what a subscriber receives: everything `publish`
//! accepted must arrive, even though the process exits right after.
//!
//!   qos0_burst <tokio|smol> <port> <count> <size> <topic> <disconnect|drop>

use std::time::Duration;

use jamey_mqtt::{ClientConfig, Config, ProtocolVersion, QoS};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, runtime, port, count, size, topic, mode] = args.as_slice() else {
        eprintln!("usage: qos0_burst <tokio|smol> <port> <count> <size> <topic> <disconnect|drop>");
        std::process::exit(2);
    };
    let drop_last_handle = match mode.as_str() {
        "disconnect" => false,
        "drop" => true,
        other => panic!("unknown mode {other}"),
    };
    let port: u16 = port.parse().expect("port");
    let count: usize = count.parse().expect("count");
    let size: usize = size.parse().expect("size");
    let config = Config::new("127.0.0.1", port).mqtt(ClientConfig {
        protocol: ProtocolVersion::V311,
        client_id: format!("burst-{runtime}-{}", std::process::id()),
        keep_alive: Duration::from_secs(30),
        ..ClientConfig::default()
    });
    match runtime.as_str() {
        "tokio" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(async {
                let client = jamey_mqtt_tokio::Client::connect(config)
                    .await
                    .expect("connect");
                burst(&client, topic, count, size).await;
                close(client, drop_last_handle).await;
            }),
        "smol" => smol::block_on(async {
            let client = jamey_mqtt_smol::Client::connect(config)
                .await
                .expect("connect");
            burst(&client, topic, count, size).await;
            close(client, drop_last_handle).await;
        }),
        other => panic!("unknown runtime {other}"),
    }
}

async fn burst<R: jamey_mqtt::Runtime>(
    client: &jamey_mqtt::Client<R>,
    topic: &str,
    count: usize,
    size: usize,
) {
    use futures_util::stream::{FuturesUnordered, StreamExt};
    const WINDOW: usize = 500;
    let payload = bytes::Bytes::from(vec![b'x'; size]);
    let mut outstanding = FuturesUnordered::new();
    for _ in 0..count {
        if outstanding.len() >= WINDOW {
            let done: Result<_, _> = outstanding.next().await.expect("outstanding");
            done.expect("publish accepted");
        }
        outstanding.push(client.publish(topic, payload.clone(), QoS::AtMostOnce));
    }
    while let Some(done) = outstanding.next().await {
        done.expect("publish accepted");
    }
}

async fn close<R: jamey_mqtt::Runtime>(client: jamey_mqtt::Client<R>, drop_last_handle: bool) {
    if drop_last_handle {
        let closed = client.closed();
        drop(client);
        closed.await;
    } else {
        client.disconnect().await.expect("disconnect");
    }
}
