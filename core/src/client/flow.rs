//! Flow accounting between the client and the transport: bytes handed out and not yet written
//! (bounded by `ClientConfig::max_buffered_bytes`), which QoS 0 publishes are done (their last
//! byte was written), and whether the adapter reads (it pauses while an application stream is
//! full, so TCP pushes back on the broker).

use std::collections::VecDeque;

use crate::session::Request;

#[derive(Debug, Default)]
pub(crate) struct Flow {
    /// Bytes handed out by `poll_output` and not yet reported written.
    buffered: usize,
    /// Bytes reported written since the client was created.
    written_total: u64,
    /// QoS 0 publishes handed out and not yet written, with the `written_total` at which
    /// their last byte is written.
    unwritten_qos0: VecDeque<(u64, Request)>,
    /// The adapter holds a message for a full application stream and does not read.
    delivery_blocked: bool,
}

impl Flow {
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// `n` more bytes were handed to the adapter.
    pub(crate) fn handed_out(&mut self, n: usize) {
        self.buffered += n;
    }

    /// A QoS 0 publish whose last byte is the `pending`-th byte from now (counting bytes
    /// buffered and those handed out in the same call).
    pub(crate) fn track_qos0(&mut self, pending: usize, request: Request) {
        let end = self.written_total + pending as u64;
        self.unwritten_qos0.push_back((end, request));
    }

    /// The transport took `n` bytes; [`Flow::pop_written`] then hands out the QoS 0 publishes
    /// now fully written.
    pub(crate) fn written(&mut self, n: usize) {
        let n = n.min(self.buffered);
        self.buffered -= n;
        self.written_total += n as u64;
    }

    /// The oldest QoS 0 publish whose last byte is written, if any (no list is built: this
    /// runs after every write).
    pub(crate) fn pop_written(&mut self) -> Option<Request> {
        if self
            .unwritten_qos0
            .front()
            .is_some_and(|(end, _)| *end <= self.written_total)
        {
            return self.unwritten_qos0.pop_front().map(|(_, request)| request);
        }
        None
    }

    /// The transport is gone (or a new one starts): nothing is buffered for it any more, and
    /// the QoS 0 publishes it never took are handed back.
    pub(crate) fn transport_gone(&mut self) -> Vec<Request> {
        self.buffered = 0;
        self.delivery_blocked = false;
        self.unwritten_qos0
            .drain(..)
            .map(|(_, request)| request)
            .collect()
    }

    pub(crate) fn set_delivery_blocked(&mut self, blocked: bool) {
        self.delivery_blocked = blocked;
    }

    pub(crate) fn delivery_blocked(&self) -> bool {
        self.delivery_blocked
    }
}
