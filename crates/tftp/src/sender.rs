//! The server side of a read transfer: sends a file's blocks to one client.
//!
//! # Driving it
//!
//! ```text
//! let mut t = ReadTransfer::new(now, peer, content, negotiation, &config)?;
//! loop {
//!     while let Some(tx) = t.poll_transmit(now, &mut buf) { send(&buf[..tx.len], tx.destination) }
//!     if let Some(outcome) = t.outcome() { break }
//!     wait for a datagram or t.poll_timeout();
//!     t.handle_datagram(now, from, &datagram) or t.handle_timeout(now);
//! }
//! ```
//!
//! Inputs never send anything themselves; everything to send is drained with `poll_transmit`
//! after every input, and the next deadline read with `poll_timeout`.
//!
//! # Content held whole or supplied as it goes
//!
//! [`ReadTransfer::new`] takes the whole file (a small, hot file shared in memory).
//! [`ReadTransfer::streamed`] takes only its size: the engine then says which bytes the next
//! packet needs ([`ReadTransfer::wanted`]) and the driver reads them wherever they live (the
//! page cache, a download in progress) and hands them over with [`ReadTransfer::supply`] —
//! at least what was asked, more ahead if it likes. Only the stretch supplied last is held, so
//! a transfer's memory is bounded by the driver's read-ahead, not by the file. `poll_transmit`
//! sends nothing it does not hold; the driver asks `wanted` again before each drain:
//!
//! ```text
//! loop {
//!     if let Some(range) = t.wanted() { t.supply(range.start, read(range)) }
//!     let Some(tx) = t.poll_transmit(now, &mut buf) else { break };
//!     send(&buf[..tx.len], tx.destination)
//! }
//! ```
//!
//! # Rules implemented
//!
//! - RFC 1123 §4.2.3.1 (Sorcerer's Apprentice): DATA is retransmitted only on timeout (or,
//!   for a transfer held quiet, when the client repeats its request). A duplicate or stale ACK
//!   changes nothing and sends nothing.
//! - RFC 1123 §4.2.3.2: the timeout adapts to the measured round trip ([`RetryPolicy`]); one
//!   packet at a time is timed, and never one that was sent twice (Karn).
//! - RFC 7440 §4: up to `windowsize` blocks are sent before waiting for the ACK of the last one;
//!   an ACK inside the window means the blocks after it were lost, and sending restarts after it.
//! - RFC 2347: an OACK is retransmitted like DATA until the client's ACK 0; an ERROR in reply to
//!   it (a firmware "tsize probe") ends the transfer as [`Outcome::OptionsRejected`].
//! - RFC 1350: the last block is shorter than `blksize`, so a file whose size is a multiple of
//!   `blksize` (or is empty) ends with a zero-length block.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::block::Rollover;
use crate::options::Negotiation;
use crate::packet::{self, ErrorCode, Packet};
use crate::rtt::RttEstimator;
use crate::transfer::{MAX_RETRANSMISSIONS, RetryPolicy, Stats, Strangers, Transmit};

/// How a server-side read transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The client acknowledged the final block.
    Completed,
    /// Every block was sent but the final ACK never came: most likely a lost ACK.
    Unconfirmed,
    /// The client answered the OACK with an ERROR: a firmware probing the size, or refusing an
    /// option. Not a failure (spec tftp-protocol.md A4).
    OptionsRejected { code: ErrorCode },
    /// The client sent an ERROR during the transfer.
    PeerError { code: ErrorCode, message: String },
    /// The client stopped answering before the data was all sent.
    TimedOut,
    /// The client sent a packet that has no place in a read transfer; it was told so.
    ProtocolViolation,
    /// The client sent a new request from the same address and port before this transfer
    /// ended: it gave this one up.
    Superseded,
}

impl Outcome {
    /// True when the client has (or most likely has) the whole file.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Completed | Outcome::Unconfirmed)
    }
}

/// Configuration of server-side read transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderConfig {
    pub retry: RetryPolicy,
    /// What follows block 65535, unless the client chose with the `rollover` option.
    pub rollover: Rollover,
}

/// Why a transfer could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefuseReason {
    #[error(
        "file needs {blocks} blocks of {blksize} bytes, more than 65535, and rollover is refused"
    )]
    TooManyBlocks { blocks: u64, blksize: u16 },
}

#[derive(Debug)]
enum Phase {
    /// Waiting for ACK 0 to an OACK. `due` means the OACK must be (re)sent.
    Negotiating {
        oack: Vec<u8>,
        due: bool,
    },
    /// Sending data. Blocks `next..=end` remain to be sent in the current pass; `acked` is the
    /// highest acknowledged block; `sent` the highest block ever sent (bounds which ACKs are
    /// plausible). Invariant: `acked < next <= end + 1`, `end <= last`, `acked <= sent`.
    Sending {
        acked: u64,
        sent: u64,
        next: u64,
        end: u64,
    },
    Finished(Outcome),
}

/// The server side of one read transfer. See the module documentation.
#[derive(Debug)]
pub struct ReadTransfer {
    peer: SocketAddr,
    /// The file's length in bytes.
    size: u64,
    /// The stretch of the file in hand: all of it, or what the driver supplied last.
    held: Held,
    blksize: usize,
    window: u64,
    rollover: Rollover,
    /// Index of the final block (always shorter than `blksize`, possibly empty).
    last: u64,
    retry: RetryPolicy,
    /// The client's RFC 2349 `timeout`: used as it is, never adapted.
    negotiated_timeout: Option<Duration>,
    rtt: RttEstimator,
    /// The packet being timed for a round-trip sample: the index of a block sent once (0 for
    /// the OACK) and when it went out. Cleared when anything is retransmitted (Karn).
    timing: Option<(u64, Instant)>,
    /// The timeout in force (after backoff).
    timeout: Duration,
    retries: u32,
    /// Time waited in timeouts since the last progress, against [`RetryPolicy::patience`].
    waited: Duration,
    deadline: Option<Instant>,
    phase: Phase,
    strangers: Strangers,
    /// An ERROR to send to the peer before the transfer is over.
    farewell: Option<(ErrorCode, &'static str)>,
    /// The peer sent something to this transfer's port, which it can only know from our first
    /// answer: it will not retransmit its request any more.
    heard_from_peer: bool,
    /// The OACK went out at least once: a later copy must not be timed (Karn).
    oack_sent: bool,
    /// The driver asked for no retransmissions on the timer until the peer is heard from: the
    /// first packet goes again only when the request does ([`ReadTransfer::request_repeated`]).
    quiet: bool,
    stats: Stats,
}

/// Bytes of the file from `offset` on.
#[derive(Debug, Default)]
struct Held {
    offset: u64,
    bytes: Bytes,
}

impl Held {
    /// The bytes of `range`, if all of them are held.
    fn get(&self, range: &Range<u64>) -> Option<&[u8]> {
        let start = usize::try_from(range.start.checked_sub(self.offset)?).ok()?;
        let stop = usize::try_from(range.end.checked_sub(self.offset)?).ok()?;
        self.bytes.get(start..stop)
    }
}

/// The bytes of a file of `size` bytes that block `index` (1-based) carries.
fn block_range(size: u64, blksize: usize, index: u64) -> Range<u64> {
    let start = index
        .saturating_sub(1)
        .saturating_mul(blksize as u64)
        .min(size);
    start..start.saturating_add(blksize as u64).min(size)
}

impl ReadTransfer {
    /// Starts a read transfer of `content` to `peer` with the result of option negotiation.
    pub fn new(
        now: Instant,
        peer: SocketAddr,
        content: Bytes,
        negotiation: &Negotiation,
        config: &SenderConfig,
    ) -> Result<Self, RefuseReason> {
        let mut transfer = Self::streamed(now, peer, content.len() as u64, negotiation, config)?;
        transfer.supply(0, content);
        Ok(transfer)
    }

    /// Starts a read transfer of a file of `size` bytes whose content the driver supplies as
    /// it is needed (see the module documentation).
    pub fn streamed(
        now: Instant,
        peer: SocketAddr,
        size: u64,
        negotiation: &Negotiation,
        config: &SenderConfig,
    ) -> Result<Self, RefuseReason> {
        let params = negotiation.params;
        let blksize = usize::from(params.blksize);
        let last = size / u64::from(params.blksize) + 1;
        let rollover = params.rollover.unwrap_or(config.rollover);
        if rollover == Rollover::Refuse && last > u64::from(u16::MAX) {
            return Err(RefuseReason::TooManyBlocks {
                blocks: last,
                blksize: params.blksize,
            });
        }
        let window = u64::from(params.windowsize.max(1));
        let first_timeout = params.timeout.unwrap_or(config.retry.initial_timeout);
        let phase = if negotiation.oack.is_empty() {
            // RFC 2347 §3: no accepted option, no OACK; DATA 1 answers the request directly.
            Phase::Sending {
                acked: 0,
                sent: 0,
                next: 1,
                end: window.min(last),
            }
        } else {
            let mut oack = Vec::new();
            Packet::Oack(negotiation.oack.as_options()).emit(&mut oack);
            Phase::Negotiating { oack, due: true }
        };
        Ok(Self {
            peer,
            size,
            held: Held::default(),
            blksize,
            window,
            rollover,
            last,
            retry: config.retry,
            negotiated_timeout: params.timeout,
            rtt: RttEstimator::default(),
            timing: None,
            timeout: first_timeout,
            retries: 0,
            waited: Duration::ZERO,
            deadline: Some(now + first_timeout),
            phase,
            strangers: Strangers::default(),
            farewell: None,
            heard_from_peer: false,
            oack_sent: false,
            quiet: false,
            stats: Stats::default(),
        })
    }

    /// The client's address (its TID).
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The negotiated block size.
    pub fn blksize(&self) -> usize {
        self.blksize
    }

    /// The negotiated window size.
    pub fn windowsize(&self) -> u64 {
        self.window
    }

    /// Bytes this transfer sends in total.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The bytes of the file the next packet needs and the transfer does not hold; `None`
    /// when it holds them or has nothing to send.
    pub fn wanted(&self) -> Option<Range<u64>> {
        let Phase::Sending { next, end, .. } = &self.phase else {
            return None;
        };
        if next > end {
            return None;
        }
        let range = block_range(self.size, self.blksize, *next);
        (!range.is_empty() && self.held.get(&range).is_none()).then_some(range)
    }

    /// Hands over the file's bytes from `offset` on (at least what [`wanted`](Self::wanted)
    /// asked for; they replace what was held).
    pub fn supply(&mut self, offset: u64, bytes: Bytes) {
        self.held = Held { offset, bytes };
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The smoothed round trip to the client, once one was measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// The retransmission timeout in force.
    pub fn current_timeout(&self) -> Duration {
        self.timeout
    }

    /// True once the client has sent a datagram to this transfer. From then on a
    /// request from the same address and port is a new request, not a retransmission of the
    /// one this transfer answers (a client retransmits its request only until it is answered).
    pub fn heard_from_peer(&self) -> bool {
        self.heard_from_peer
    }

    /// How the transfer ended, once it has. Drain `poll_transmit` first: a farewell ERROR may
    /// still be queued.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.phase {
            Phase::Finished(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// When `handle_timeout` must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Finished(_) => None,
            _ => self.deadline,
        }
    }

    /// Feeds one datagram received on the transfer's socket from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let packet = Packet::parse(datagram);
        if from != self.peer {
            // RFC 1350 §4: a packet from a wrong TID gets ERROR 5 and does not disturb the
            // transfer. Never answer an ERROR with an ERROR.
            let is_error = matches!(packet, Ok(Packet::Error { .. }));
            self.strangers.note(from, is_error, &mut self.stats);
            return;
        }
        if matches!(self.phase, Phase::Finished(_)) {
            return;
        }
        // Even a malformed datagram proves it: the client learned this port from our answer.
        self.heard_from_peer = true;
        self.quiet = false;
        match packet {
            Ok(Packet::Ack { block }) => self.on_ack(now, block),
            Ok(Packet::Error { code, message }) => {
                let outcome = if matches!(self.phase, Phase::Negotiating { .. }) {
                    Outcome::OptionsRejected { code }
                } else {
                    Outcome::PeerError {
                        code,
                        message: String::from_utf8_lossy(message).into_owned(),
                    }
                };
                self.phase = Phase::Finished(outcome);
            }
            Ok(other) => {
                // DATA, a request or an OACK on a read transfer's port is illegal here.
                let _ = other;
                self.farewell = Some((ErrorCode::IllegalOperation, "Illegal TFTP operation"));
                self.phase = Phase::Finished(Outcome::ProtocolViolation);
            }
            // A corrupted or truncated datagram from the peer: ignore it, the timeout recovers.
            Err(_) => self.stats.ignored_datagrams += 1,
        }
    }

    fn on_ack(&mut self, now: Instant, block: u16) {
        match &mut self.phase {
            Phase::Negotiating { .. } => {
                if block != 0 {
                    // Not an answer to the OACK; the OACK timeout recovers (no resend here: an
                    // input never triggers a retransmission).
                    self.stats.ignored_datagrams += 1;
                    return;
                }
                self.take_sample(now, 0);
                self.phase = Phase::Sending {
                    acked: 0,
                    sent: 0,
                    next: 1,
                    end: self.window.min(self.last),
                };
                self.progress(now);
            }
            Phase::Sending {
                acked,
                sent,
                next,
                end,
            } => {
                let Some(index) = self.rollover.index_in(block, *acked, *sent - *acked) else {
                    // An ACK for a block never sent, or from long ago.
                    self.stats.ignored_datagrams += 1;
                    return;
                };
                if index == *acked {
                    // A duplicate ACK: the Sorcerer's Apprentice fix is to do nothing at all.
                    self.stats.ignored_datagrams += 1;
                    return;
                }
                self.stats.segments_acknowledged += index - *acked;
                *acked = index;
                if index == self.last {
                    self.phase = Phase::Finished(Outcome::Completed);
                    return;
                }
                // RFC 7440 §4: an ACK for a block before the last one sent in this pass tells
                // that the blocks after it were lost: go back and send from there.
                let go_back = index + 1 < *next;
                if go_back {
                    *next = index + 1;
                }
                *end = (index + self.window).min(self.last);
                if go_back && self.timing.is_some_and(|(timed, _)| timed > index) {
                    self.timing = None; // the timed block will be sent again
                }
                self.take_sample(now, index);
                self.progress(now);
            }
            Phase::Finished(_) => {}
        }
    }

    /// An ACK for `acked` arrived: a round-trip sample if it covers the timed packet.
    fn take_sample(&mut self, now: Instant, acked: u64) {
        if let Some((timed, sent_at)) = self.timing
            && acked >= timed
        {
            self.rtt.sample(now.saturating_duration_since(sent_at));
            self.timing = None;
        }
    }

    /// The timeout for a packet sent now, before any backoff.
    fn base_timeout(&self) -> Duration {
        self.negotiated_timeout.unwrap_or_else(|| {
            self.rtt.timeout(
                self.retry.initial_timeout,
                self.retry.min_timeout,
                self.retry.max_timeout,
            )
        })
    }

    /// New data was acknowledged: the retry budget and the backoff start over.
    fn progress(&mut self, now: Instant) {
        self.retries = 0;
        self.waited = Duration::ZERO;
        self.timeout = self.base_timeout();
        self.deadline = Some(now + self.timeout);
    }

    /// Until the client is heard from, the first packet is sent again only when its request
    /// is ([`ReadTransfer::request_repeated`]), not on the timer, which still ends the
    /// transfer when its patience is spent. A half-open request (a spoofed source, a client
    /// gone) then costs one packet, and nothing stale reaches a new socket that reuses the
    /// client's port.
    pub fn hold_quiet(&mut self) {
        if !self.heard_from_peer {
            self.quiet = true;
        }
    }

    /// The client sent its request again (it has not heard our first packet): a quiet
    /// transfer sends the first packet again, as tftp-hpa does. Otherwise the timer resends,
    /// and this does nothing (the request and our answer most likely crossed).
    pub fn request_repeated(&mut self) {
        if !self.quiet {
            return;
        }
        self.timing = None; // Karn: the answer may be to either copy
        match &mut self.phase {
            Phase::Negotiating { due, .. } => *due = true,
            Phase::Sending {
                acked: 0,
                next,
                end,
                ..
            } => {
                *next = 1;
                *end = self.window.min(self.last);
            }
            Phase::Sending { .. } | Phase::Finished(_) => {}
        }
    }

    /// The client sent a new request from its address and port: it has given this transfer up
    /// (or has the whole file, if every block is out). Nothing more is sent.
    pub fn superseded(&mut self) {
        let outcome = match &self.phase {
            Phase::Finished(_) => return,
            Phase::Sending { sent, .. } if *sent == self.last => Outcome::Unconfirmed,
            _ => Outcome::Superseded,
        };
        self.phase = Phase::Finished(outcome);
        self.deadline = None;
    }

    /// Call when `poll_timeout`'s instant has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_none_or(|d| now < d) {
            return;
        }
        let limit = match &self.phase {
            Phase::Negotiating { .. } => self.retry.max_retries,
            Phase::Sending { end, next, .. } if *end == self.last && *next > *end => {
                self.retry.final_retries.min(self.retry.max_retries)
            }
            Phase::Sending { .. } => self.retry.max_retries,
            Phase::Finished(_) => return,
        };
        // RFC 7440 asks for bounded retries; spoofed requests ask for fewer still (A14).
        let limit = if self.heard_from_peer {
            limit
        } else {
            limit.min(self.retry.unanswered_retries)
        };
        // Patience is counted on the schedule the first timeout has before any measurement,
        // so a measured fast path retransmits sooner but does not give up sooner (the final
        // window too: a loss burst of a second must not cost a phone its last block).
        self.waited += self.timeout;
        let schedule = self
            .negotiated_timeout
            .unwrap_or(self.retry.initial_timeout);
        let patience = self.retry.patience(schedule, limit);
        if self.waited >= patience || self.retries >= MAX_RETRANSMISSIONS {
            let outcome = match &self.phase {
                Phase::Sending { sent, .. } if *sent == self.last => Outcome::Unconfirmed,
                _ => Outcome::TimedOut,
            };
            self.phase = Phase::Finished(outcome);
            self.deadline = None;
            return;
        }
        self.retries += 1;
        self.stats.timeouts += 1;
        self.timing = None; // Karn: what is resent now cannot be timed
        // Never past the patience: the last wait is cut to what is left of it, so a transfer
        // holds its slot no longer than the fixed schedule did.
        self.timeout = self
            .retry
            .backoff(self.timeout, self.base_timeout())
            .min(patience - self.waited);
        self.deadline = Some(now + self.timeout);
        if self.quiet {
            return; // counted against the patience, sent only when the request comes again
        }
        match &mut self.phase {
            Phase::Negotiating { due, .. } => *due = true,
            Phase::Sending {
                acked, next, end, ..
            } => {
                // Resend the whole window after the last acknowledged block.
                *next = *acked + 1;
                *end = (*acked + self.window).min(self.last);
            }
            Phase::Finished(_) => {}
        }
    }

    /// Writes the next datagram to send into `buf` (which must hold `blksize + 4` bytes and at
    /// least 516) and says where to send it.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(error5) = self.strangers.poll_transmit(buf) {
            return Some(error5);
        }
        if let Some((code, message)) = self.farewell.take() {
            let len = packet::write_error(buf, code, message)?;
            return Some(self.to_peer(len));
        }
        match &mut self.phase {
            Phase::Negotiating { oack, due } if *due => {
                *due = false;
                let len = oack.len();
                buf.get_mut(..len)?.copy_from_slice(oack);
                if !self.oack_sent {
                    self.timing = Some((0, now));
                }
                self.oack_sent = true;
                // A quiet transfer's resend answers a repeated request: its patience runs on.
                if !self.quiet {
                    self.deadline = Some(now + self.timeout);
                }
                Some(self.to_peer(len))
            }
            Phase::Sending {
                sent, next, end, ..
            } if *next <= *end => {
                let index = *next;
                let range = block_range(self.size, self.blksize, index);
                // Not in hand: the driver asks `wanted` and supplies it first.
                let payload = if range.is_empty() {
                    &[][..]
                } else {
                    self.held.get(&range)?
                };
                let len = packet::write_data(buf, self.rollover.wire(index), payload)?;
                self.stats.segments_sent += 1;
                if index <= *sent {
                    self.stats.segments_retransmitted += 1;
                } else if self.timing.is_none() {
                    self.timing = Some((index, now));
                }
                *sent = (*sent).max(index);
                *next += 1;
                if *next > *end && !self.quiet {
                    // The window is out: now wait for its ACK.
                    self.deadline = Some(now + self.timeout);
                }
                Some(self.to_peer(len))
            }
            _ => None,
        }
    }

    fn to_peer(&self, len: usize) -> Transmit {
        Transmit {
            destination: self.peer,
            len,
        }
    }
}
