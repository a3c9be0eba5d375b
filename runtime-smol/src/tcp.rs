//! [`SmolTcp`]: the TCP stream the driver reads and writes on smol. It owns one thing, when to
//! make the read system call and when to ask async-io's reactor instead:
//! - async-io's own `poll_read` retries `recv` on every poll, so a driver woken by a request
//!   (not by the socket) paid a `recv` that failed with `EAGAIN` each time. This stream
//!   remembers that the socket was found empty and asks the reactor for readiness first (no
//!   system call until the reactor has seen data), as tokio's readiness tracking does.
//! - Asking the reactor is dear on async-io: an `epoll_ctl`, and when the executor thread then
//!   has nothing to run, a hand-over through async-io's helper thread (its `epoll_wait`, a
//!   futex wake-up of the executor thread), about 25 µs of CPU per idle turn on the project's
//!   machine. So a read that finds the socket empty first yields to the executor (the
//!   application's tasks run, a busy peer's next bytes often arrive meanwhile) and reads again,
//!   up to [`YIELDS`] times; only then does it go to the reactor. An idle client pays three
//!   extra polls and `recv` calls (a few µs) per wait.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use smol::io::{AsyncRead, AsyncWrite};
use smol::Async;

/// How many times a read that finds the socket empty yields before asking the reactor.
/// Measured with `throughput ... --only pub1 --only pub2 --only jamey-tokio --only jamey-smol`
/// (7 rounds, three interleaved runs): smol / tokio for QoS 2 publishing 1.01-1.22 with one
/// yield, 0.92-1.04 with three.
const YIELDS: u8 = 3;

/// A connected TCP stream (async-net's, polled through its async-io handle).
pub struct SmolTcp {
    io: Arc<Async<std::net::TcpStream>>,
    /// The last read found the socket empty and the reactor has not reported it readable since.
    read_blocked: bool,
    /// Consecutive reads that found the socket empty and yielded (at most [`YIELDS`]).
    yielded: u8,
}

impl SmolTcp {
    pub(crate) fn new(stream: smol::net::TcpStream) -> SmolTcp {
        SmolTcp {
            io: stream.into(),
            read_blocked: false,
            yielded: 0,
        }
    }
}

impl std::fmt::Debug for SmolTcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmolTcp")
            .field("peer", &self.io.get_ref().peer_addr().ok())
            .finish()
    }
}

impl AsyncRead for SmolTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            if this.read_blocked {
                // Registers the waker; `Ready` only once the reactor has seen the socket
                // readable since the failed read.
                ready!(this.io.poll_readable(cx))?;
                this.read_blocked = false;
            }
            match this.io.get_ref().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if this.yielded < YIELDS {
                        // Polled again at once, after the other tasks that are ready.
                        this.yielded += 1;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    this.yielded = 0;
                    this.read_blocked = true;
                }
                result => {
                    this.yielded = 0;
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl AsyncWrite for SmolTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.io.get_ref().write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.io.poll_writable(cx))?
                }
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A TCP socket has no user-space buffer to flush.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.io.get_ref().shutdown(Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use smol::io::{AsyncReadExt, AsyncWriteExt};

    use super::SmolTcp;

    /// A pair: our stream and the peer's end of it.
    fn pair() -> (SmolTcp, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let ours = smol::block_on(smol::net::TcpStream::connect(address)).expect("connect");
        let (theirs, _) = listener.accept().expect("accept");
        (SmolTcp::new(ours), theirs)
    }

    /// Counts its wake-ups.
    struct CountingWaker(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn an_empty_socket_yields_then_waits_for_the_reactor() {
        use std::pin::Pin;
        use std::sync::atomic::Ordering;
        use std::task::{Context, Poll, Waker};

        use smol::io::AsyncRead;

        let (mut ours, mut theirs) = pair();
        let counter = std::sync::Arc::new(CountingWaker(0.into()));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut buf = [0u8; 16];
        let mut poll = |ours: &mut SmolTcp| Pin::new(ours).poll_read(&mut cx, &mut buf);
        let yields = usize::from(super::YIELDS);
        // The first empty reads: pending, and the task is woken at once to read again.
        for woken in 1..=yields {
            assert!(poll(&mut ours).is_pending());
            assert_eq!(counter.0.load(Ordering::SeqCst), woken);
        }
        // The next: pending on the reactor, no wake-up of its own.
        assert!(poll(&mut ours).is_pending());
        assert_eq!(counter.0.load(Ordering::SeqCst), yields);
        // Data arrives: the reactor wakes the task and the read returns it.
        theirs.write_all(b"hi").expect("peer write");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while counter.0.load(Ordering::SeqCst) == yields {
            assert!(
                std::time::Instant::now() < deadline,
                "never woken by the reactor"
            );
            std::thread::yield_now();
        }
        match poll(&mut ours) {
            Poll::Ready(Ok(n)) => assert_eq!(&buf[..n], b"hi"),
            other => panic!("expected the data, got {other:?}"),
        }
    }

    #[test]
    fn data_sent_after_the_socket_was_found_empty_is_read() {
        let (mut ours, mut theirs) = pair();
        smol::block_on(async {
            let mut buf = [0u8; 16];
            // Nothing there yet: the read is pending (and the stream remembers it found none).
            let first = smol::future::poll_once(ours.read(&mut buf)).await;
            assert!(first.is_none(), "read returned {first:?} with nothing sent");
            theirs.write_all(b"hello").expect("peer write");
            let n = ours.read(&mut buf).await.expect("read");
            assert_eq!(&buf[..n], b"hello");
            // Written both ways, and the peer's close is an end of stream.
            ours.write_all(b"back").await.expect("write");
            ours.close().await.expect("close");
            let mut echoed = Vec::new();
            std::io::Read::read_to_end(&mut theirs, &mut echoed).expect("peer read");
            assert_eq!(echoed, b"back");
            theirs
                .shutdown(std::net::Shutdown::Write)
                .expect("peer shutdown");
            assert_eq!(ours.read(&mut buf).await.expect("read at end"), 0);
        });
    }
}
