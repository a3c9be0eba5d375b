//! [`SimStream`]: the client end of a simulated connection, as `futures-io` `AsyncRead` and
//! `AsyncWrite`; and [`connect`], the simulated TCP connect with its faults (refused, hanging).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};

use crate::clock::Sleep;
use crate::link::ConnId;
use crate::runtime::Shared;

/// The client end of a connection to the simulated broker.
pub struct SimStream {
    shared: Arc<Shared>,
    id: ConnId,
}

impl std::fmt::Debug for SimStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStream").field("id", &self.id).finish()
    }
}

/// Opens a connection after a short virtual delay, unless a fault refuses it or makes it hang.
pub(crate) async fn connect(shared: Arc<Shared>) -> io::Result<SimStream> {
    let delay = {
        let mut world = shared.world();
        let ms = world.net.rng.u64(1..=30);
        world.clock.now() + Duration::from_millis(ms)
    };
    Sleep::new(shared.clone(), delay).await;
    let outcome = {
        let mut world = shared.world();
        let now = world.clock.now();
        let net = &mut world.net;
        let down = net.faults.down_until.is_some_and(|until| now < until);
        if down || net.faults.refuse_tcp > 0 {
            if !down {
                net.faults.refuse_tcp -= 1;
            }
            net.stats.refused_tcp += 1;
            net.log(now, format_args!("connect refused"));
            Err(io::Error::from(io::ErrorKind::ConnectionRefused))
        } else if net.faults.hang_opens > 0 {
            net.faults.hang_opens -= 1;
            net.stats.hangs += 1;
            net.log(now, format_args!("connect hangs"));
            Ok(None)
        } else {
            Ok(Some(net.open(now)))
        }
    };
    match outcome {
        Err(e) => Err(e),
        // Never answers: the client's connect timeout has to fire.
        Ok(None) => std::future::pending().await,
        Ok(Some(id)) => Ok(SimStream { shared, id }),
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut world = self.shared.world();
        let net = &mut world.net;
        let slow = net.io.slow_reads;
        let limit = if slow {
            net.rng.usize(1..=16)
        } else {
            usize::MAX
        };
        let Some(conn) = net.conns.get_mut(&self.id) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        if conn.link.client_closed {
            return Poll::Ready(Ok(0));
        }
        if !conn.inbox.is_empty() {
            let n = buf.len().min(conn.inbox.len()).min(limit);
            for (slot, byte) in buf.iter_mut().zip(conn.inbox.drain(..n)) {
                *slot = byte;
            }
            return Poll::Ready(Ok(n));
        }
        if conn.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if conn.link.broker_closed && conn.link.to_client.is_empty() {
            conn.link.client_done = true;
            return Poll::Ready(Ok(0));
        }
        conn.wakers.push(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut world = self.shared.world();
        let now = world.clock.now();
        let net = &mut world.net;
        let Some(conn) = net.conns.get_mut(&self.id) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        if conn.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if conn.link.client_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if conn.stall_until.is_some_and(|until| until > now) {
            conn.wakers.push(cx.waker().clone());
            return Poll::Pending;
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut n = buf.len();
        if net.io.short_writes {
            if conn.pending_once {
                conn.pending_once = false;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            conn.pending_once = net.rng.u8(0..4) == 0;
            n = net.rng.usize(1..=n);
        }
        // A connection the broker closed takes bytes and drops them (no reset seen yet).
        if !conn.link.broker_closed {
            conn.link
                .to_broker
                .write(&mut net.rng, &net.profile, now, &buf[..n]);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut world = self.shared.world();
        if let Some(conn) = world.net.conns.get_mut(&self.id) {
            close(conn);
        }
        Poll::Ready(Ok(()))
    }
}

/// The client closes its end: it reads nothing more; what it wrote still arrives, then the
/// broker sees the end of the stream.
fn close(conn: &mut crate::net::SimConn) {
    conn.link.client_closed = true;
    conn.link.client_done = true;
    conn.link.to_client.clear();
    conn.inbox.clear();
}

impl Drop for SimStream {
    fn drop(&mut self) {
        let mut world = self.shared.world();
        if let Some(conn) = world.net.conns.get_mut(&self.id) {
            close(conn);
            conn.dropped = true;
        }
    }
}
