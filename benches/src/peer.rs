//! The two clients the end-to-end benches (`compare`, `memory`) measure against each other.

/// A client under measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Jamey,
    Rumqttc,
}

impl Peer {
    /// Both, in the order tables list them.
    pub const ALL: [Peer; 2] = [Peer::Jamey, Peer::Rumqttc];

    /// The name in result tables.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Jamey => "jamey-mqtt",
            Peer::Rumqttc => "rumqttc",
        }
    }

    /// The key on the command line (`--only jamey`).
    pub fn key(self) -> &'static str {
        match self {
            Peer::Jamey => "jamey",
            Peer::Rumqttc => "rumqttc",
        }
    }

    pub fn from_key(key: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.key() == key)
    }

    /// Who goes first in round `round`: the two alternate, so neither always runs on a cold or
    /// a warm machine.
    pub fn in_round_order(round: usize) -> [Peer; 2] {
        if round % 2 == 0 {
            [Peer::Jamey, Peer::Rumqttc]
        } else {
            [Peer::Rumqttc, Peer::Jamey]
        }
    }
}

/// A rumqttc client connected to `port` on 127.0.0.1 the way both benches use it: keep-alive
/// 60 s, `inflight` in flight, clean session, 1 MiB packets, TCP_NODELAY (rumqttc's default is
/// off; jamey always sets it), a request channel of `capacity`. Returns once CONNACK arrived.
pub async fn rumqttc_connect(
    port: u16,
    id: &str,
    inflight: u16,
    capacity: usize,
) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    use rumqttc::{AsyncClient, Event, MqttOptions, NetworkOptions, Packet};
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options
        .set_keep_alive(std::time::Duration::from_secs(60))
        .set_inflight(inflight)
        .set_clean_session(true)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, capacity);
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) =
            eventloop.poll().await.expect("rumqttc connect")
        {
            return (client, eventloop);
        }
    }
}

/// Ends a rumqttc session as its users do: a DISCONNECT request, then the event loop polled until
/// the DISCONNECT went out (or the loop failed), at most 5 s.
pub async fn rumqttc_disconnect(client: rumqttc::AsyncClient, mut eventloop: rumqttc::EventLoop) {
    use rumqttc::{Event, Outgoing};
    client.disconnect().await.expect("disconnect request");
    let drain = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
}
