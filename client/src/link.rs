//! The byte pump to the broker: opens the transport when the core asks, writes what the core
//! handed out, flushes, reads while the core wants to read, and closes on request. It reports
//! what happened ([`LinkEvent`]); it decides nothing about MQTT.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use futures_io::{AsyncRead, AsyncWrite};

use crate::transport::{TlsPolicy, Transport};
use crate::{Endpoint, Runtime};

const READ_BUFFER: usize = 16 * 1024;

type Opening<R> = Pin<Box<dyn Future<Output = io::Result<Transport<R>>> + Send>>;

/// What the link did, for the driver to report to the core.
pub(crate) enum LinkEvent {
    /// The transport asked for is open, or could not be opened.
    Opened(io::Result<()>),
    /// `n` bytes were read into [`Link::read_bytes`].
    Read(usize),
    /// The transport took `n` more bytes of the write buffer.
    Written(usize),
    /// The peer ended the stream (EOF) or it failed.
    Ended(Option<io::Error>),
    /// A close the core asked for finished: everything written, flushed and shut down.
    Closed(io::Result<()>),
}

pub(crate) struct Link<R: Runtime> {
    rt: R,
    /// `None`: plain TCP.
    tls: Option<TlsPolicy>,
    opening: Option<Opening<R>>,
    transport: Option<Transport<R>>,
    /// The core asked to close: write what is left, flush, close.
    closing: bool,
    /// Bytes handed out by the core, not yet taken by the transport.
    pub out: BytesMut,
    needs_flush: bool,
    read_buf: Box<[u8]>,
}

impl<R: Runtime> Link<R> {
    pub fn new(rt: R, tls: Option<TlsPolicy>) -> Link<R> {
        Link {
            rt,
            tls,
            opening: None,
            transport: None,
            closing: false,
            out: BytesMut::with_capacity(READ_BUFFER),
            needs_flush: false,
            read_buf: vec![0; READ_BUFFER].into_boxed_slice(),
        }
    }

    /// Whether a transport is open or being opened.
    pub fn is_active(&self) -> bool {
        self.transport.is_some() || self.opening.is_some()
    }

    /// The bytes of the last [`LinkEvent::Read`].
    pub fn read_bytes(&self, n: usize) -> &[u8] {
        &self.read_buf[..n]
    }

    /// `Action::Connect(endpoint)`: open a new transport to the endpoint the core chose. One
    /// still closing finishes in the background (it may owe the broker a farewell DISCONNECT).
    pub fn open(&mut self, endpoint: &Endpoint) {
        if let (true, Some(old)) = (self.closing, self.transport.take()) {
            let pending = std::mem::take(&mut self.out);
            self.rt.spawn(finish_close(old, pending));
        }
        self.reset();
        let target = TlsPolicy::target(self.tls.as_ref(), endpoint);
        let rt = self.rt.clone();
        self.opening = Some(Box::pin(async move { target?.open(&rt).await }));
    }

    /// `Action::Close`. Returns `false` when nothing was open (the close is complete at once).
    pub fn close(&mut self) -> bool {
        self.opening = None;
        self.closing = self.transport.is_some();
        self.closing
    }

    /// Bytes without a transport belong to one that is gone: they are dropped.
    pub fn drop_orphan_bytes(&mut self) {
        if self.transport.is_none() {
            self.out.clear();
        }
    }

    fn reset(&mut self) {
        self.transport = None;
        self.closing = false;
        self.out.clear();
        self.needs_flush = false;
    }

    /// Polls the link: opening, then writing, flushing and closing, then reading (only when
    /// `read` is true). `None` when nothing is ready.
    pub fn poll(&mut self, cx: &mut Context<'_>, read: bool) -> Option<LinkEvent> {
        if let Some(opening) = self.opening.as_mut() {
            if let Poll::Ready(result) = opening.as_mut().poll(cx) {
                self.opening = None;
                return Some(LinkEvent::Opened(result.map(|t| self.transport = Some(t))));
            }
        }
        if let Some(event) = self.poll_write_side(cx) {
            return Some(event);
        }
        let transport = self.transport.as_mut().filter(|_| read && !self.closing)?;
        match Pin::new(transport).poll_read(cx, &mut self.read_buf) {
            Poll::Ready(Ok(0)) => Some(self.ended(None)),
            Poll::Ready(Ok(n)) => Some(LinkEvent::Read(n)),
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                cx.waker().wake_by_ref();
                None
            }
            Poll::Ready(Err(e)) => Some(self.ended(Some(e))),
            Poll::Pending => None,
        }
    }

    fn ended(&mut self, error: Option<io::Error>) -> LinkEvent {
        let closing = self.closing;
        self.reset();
        match (closing, error) {
            // The core asked for this close: it ended, however it ended.
            (true, error) => LinkEvent::Closed(error.map_or(Ok(()), Err)),
            (false, error) => LinkEvent::Ended(error),
        }
    }

    fn poll_write_side(&mut self, cx: &mut Context<'_>) -> Option<LinkEvent> {
        let transport = self.transport.as_mut()?;
        if !self.out.is_empty() {
            return match Pin::new(&mut *transport).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => Some(self.ended(Some(io::ErrorKind::WriteZero.into()))),
                Poll::Ready(Ok(n)) => {
                    self.out.advance(n);
                    self.needs_flush = true;
                    Some(LinkEvent::Written(n))
                }
                Poll::Ready(Err(e)) => Some(self.ended(Some(e))),
                Poll::Pending => None,
            };
        }
        if self.needs_flush {
            match Pin::new(&mut *transport).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => return Some(self.ended(Some(e))),
                Poll::Pending => return None,
            }
        }
        if self.closing {
            if let Poll::Ready(result) = Pin::new(&mut *transport).poll_close(cx) {
                self.reset();
                return Some(LinkEvent::Closed(result));
            }
        }
        None
    }
}

/// Writes what is left for a transport the core closed, then closes it. Errors only mean the
/// peer is already gone, which is what closing wanted.
async fn finish_close<R: Runtime>(mut transport: Transport<R>, pending: BytesMut) {
    use futures_util::AsyncWriteExt;
    let _ = transport.write_all(&pending).await;
    let _ = transport.close().await;
}
