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
