//! Types shared by both sides of a transfer: what to send, when to retry, and statistics.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use crate::packet::{self, ErrorCode};

/// A datagram the caller must send: the first `len` bytes of the buffer it passed to
/// `poll_transmit`, to `destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub len: usize,
}

/// Retransmission policy. RFC 1123 §4.2.3.2 asks for an adaptive timeout: a transfer measures
/// its round trip (Karn's rule: never on a retransmitted packet) and retransmits after RFC
/// 6298's timeout for it, within `[min_timeout, max_timeout]`, doubling on each loss. A client
/// that negotiated RFC 2349 `timeout` gets exactly that interval instead.
///
/// How long a silent client is waited for does not shrink with the timeout: a transfer gives up
/// when it has waited as long as `initial_timeout` doubling over the allowed retries would
/// have, however many faster retransmissions fitted in that time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retransmission timeout before the first round trip is measured, unless the peer
    /// negotiated `timeout`.
    pub initial_timeout: Duration,
    /// The measured timeout never goes below this (a lost packet on a fast LAN costs this).
    pub min_timeout: Duration,
    /// The backoff doubles the timeout up to this value (or the negotiated `timeout`, if larger).
    pub max_timeout: Duration,
    /// Retransmissions of one packet, on the `initial_timeout` schedule, before the transfer
    /// is abandoned.
    pub max_retries: u32,
    /// Retransmissions of the final window before the sender stops waiting for its ACK: the data
    /// is all out, so a lost final ACK should not hold a serving slot for a minute.
    pub final_retries: u32,
    /// Retransmissions of the first packet (OACK or DATA 1) while the client has sent nothing:
    /// a request with a spoofed source must not make us a reflector for long.
    pub unanswered_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_timeout: Duration::from_secs(1),
            min_timeout: Duration::from_millis(100),
            max_timeout: Duration::from_secs(8),
            max_retries: 5,
            final_retries: 2,
            unanswered_retries: 3,
        }
    }
}

/// Retransmissions of one packet at most, whatever the patience allows: a floor of a few
/// milliseconds must not turn a silent client into hundreds of datagrams.
pub(crate) const MAX_RETRANSMISSIONS: u32 = 32;

impl RetryPolicy {
    /// The timeout after one more backoff step.
    pub(crate) fn backoff(&self, current: Duration, base: Duration) -> Duration {
        (current * 2).min(self.max_timeout.max(base))
    }

    /// How long a transfer waits without progress before it gives up, when `retries`
    /// retransmissions are allowed: the time `retries` timeouts and the final wait take on the
    /// fixed schedule from `base` (1 + 2 + 4 + 8 + 8 + 8 s for 5 retries from 1 s).
    pub(crate) fn patience(&self, base: Duration, retries: u32) -> Duration {
        let mut timeout = base;
        let mut total = Duration::ZERO;
        for _ in 0..=retries {
            total += timeout;
            timeout = self.backoff(timeout, base);
        }
        total
    }
}

/// Counts a transfer keeps about itself; the driver turns them into metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// DATA packets sent, retransmissions included.
    pub segments_sent: u64,
    /// DATA packets sent again after a timeout or a loss signal.
    pub segments_retransmitted: u64,
    /// Distinct blocks the peer acknowledged (sender) or that arrived in order (receiver).
    pub segments_acknowledged: u64,
    /// Datagrams from another address or port, answered with ERROR 5.
    pub foreign_datagrams: u64,
    /// Datagrams from the peer that did not parse, or that were stale duplicates.
    pub ignored_datagrams: u64,
    /// Timeouts that led to a retransmission.
    pub timeouts: u64,
}

/// Bound on queued ERROR 5 replies to strangers: a flood of foreign datagrams costs nothing.
const MAX_QUEUED_STRANGERS: usize = 4;

/// Senders of datagrams that belong to no transfer here, each owed an ERROR 5 (RFC 1350 §4:
/// a packet from a wrong TID is answered and does not disturb the transfer). Shared by both
/// sides of a transfer.
#[derive(Debug, Default)]
pub(crate) struct Strangers(VecDeque<SocketAddr>);

impl Strangers {
    /// Notes a datagram from `from` that is not the peer's, counting it. An ERROR is never
    /// answered with an ERROR; past a few queued answers the rest go unanswered.
    pub(crate) fn note(&mut self, from: SocketAddr, is_error: bool, stats: &mut Stats) {
        stats.foreign_datagrams += 1;
        if !is_error && self.0.len() < MAX_QUEUED_STRANGERS {
            self.0.push_back(from);
        }
    }

    /// The next ERROR 5 owed, written into `buf`.
    pub(crate) fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let stranger = self.0.pop_front()?;
        let len = packet::write_error(buf, ErrorCode::UnknownTransferId, "Unknown transfer ID")?;
        Some(Transmit {
            destination: stranger,
            len,
        })
    }
}
