//! The client side of a read transfer: asks a server for a file and receives it.
//!
//! Driven like [`crate::sender::ReadTransfer`]: `handle_datagram` / `handle_timeout` in,
//! `poll_transmit` / `poll_timeout` out, then [`ReadClient::finish`] for the file.
//!
//! Rules implemented:
//! - RFC 1350 §4: the server's first answer fixes its TID (address and port); a datagram from
//!   anyone else gets ERROR 5 and changes nothing.
//! - RFC 2347 §3: an OACK is checked against what was asked; a bad one is refused with ERROR 8.
//!   A server that ignores the options answers DATA 1, and the defaults apply.
//! - RFC 7440 §4: the receiver ACKs the last block of each window, and on a gap ACKs the last
//!   block received in order, once, so that the sender restarts after it.
//! - RFC 1350 §6: after the final ACK the receiver dallies for one timeout and re-ACKs the final
//!   block if it shows up again (its ACK was lost).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::block::Rollover;
use crate::netascii;
use crate::options::{ClientRequest, Negotiated, OackError};
use crate::packet::{self, ErrorCode, Mode, Packet, Request};
use crate::transfer::{Stats, Strangers, Transmit};

/// Configuration of a client read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    pub mode: Mode,
    pub options: ClientRequest,
    /// Retransmission timeout of the request and of ACKs (fixed: a client waits for a server).
    pub timeout: Duration,
    pub max_retries: u32,
    pub rollover: Rollover,
    /// Largest file accepted; a larger one is refused with ERROR 3.
    pub max_size: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Octet,
            options: ClientRequest::default(),
            timeout: Duration::from_secs(1),
            max_retries: 5,
            rollover: Rollover::ToZero,
            max_size: 1 << 32,
        }
    }
}

/// Why a client read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("no answer from the server")]
    TimedOut,
    #[error("server error {code}: {message}")]
    Remote { code: ErrorCode, message: String },
    #[error("refused the server's OACK: {0}")]
    BadOack(OackError),
    #[error("the file is larger than the {0}-byte limit")]
    TooLarge(u64),
    #[error("the server sent a DATA packet larger than the block size")]
    OversizedBlock,
}

#[derive(Debug)]
enum Phase {
    /// The request is out (or `due`), no answer yet.
    Requesting {
        due: bool,
    },
    /// Data is coming. `ack_due` is a block index to acknowledge; `gap_acked` says that a gap
    /// was already signalled since the last in-order block.
    Receiving {
        ack_due: Option<u64>,
        gap_acked: bool,
    },
    /// All data is in; the final ACK is out. Re-ACK the final block if it comes again.
    Dallying {
        ack_due: bool,
    },
    Finished(Result<(), ClientError>),
}

/// The client side of one read transfer.
#[derive(Debug)]
pub struct ReadClient {
    server: SocketAddr,
    peer: Option<SocketAddr>,
    request: Vec<u8>,
    config: ClientConfig,
    params: Negotiated,
    tsize: Option<u64>,
    data: Vec<u8>,
    /// Index of the next block wanted.
    expected: u64,
    /// Blocks received in order since the last ACK sent.
    since_ack: u64,
    /// The block index of the last ACK sent.
    last_acked: u64,
    retries: u32,
    deadline: Option<Instant>,
    phase: Phase,
    strangers: Strangers,
    farewell: Option<(ErrorCode, &'static str)>,
    stats: Stats,
}

impl ReadClient {
    /// Prepares a read of `filename` from `server` (usually port 69). The request goes out on
    /// the first `poll_transmit`.
    pub fn new(now: Instant, server: SocketAddr, filename: &[u8], config: ClientConfig) -> Self {
        let options = config.options.to_options();
        let mut request = Vec::new();
        Packet::Rrq(Request {
            filename,
            mode: config.mode,
            options: options.as_options(),
        })
        .emit(&mut request);
        Self {
            server,
            peer: None,
            request,
            config,
            params: Negotiated::default(),
            tsize: None,
            data: Vec::new(),
            expected: 1,
            since_ack: 0,
            last_acked: 0,
            retries: 0,
            deadline: Some(now + config.timeout),
            phase: Phase::Requesting { due: true },
            strangers: Strangers::default(),
            farewell: None,
            stats: Stats::default(),
        }
    }

    /// The parameters in force (defaults until an OACK says otherwise).
    pub fn negotiated(&self) -> Negotiated {
        self.params
    }

    /// The size the server announced with `tsize`, if it did.
    pub fn tsize(&self) -> Option<u64> {
        self.tsize
    }

    /// The server's transfer address, once it answered.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// True once the whole file is in (the client may still be dallying).
    pub fn is_complete(&self) -> bool {
        matches!(self.phase, Phase::Dallying { .. } | Phase::Finished(Ok(())))
    }

    /// True when there is nothing more to do (not even dallying).
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished(_))
    }

    /// The result, once finished: the file's bytes (converted from netascii if asked).
    pub fn finish(self) -> Result<Vec<u8>, ClientError> {
        match self.phase {
            Phase::Finished(Err(e)) => Err(e),
            Phase::Finished(Ok(())) | Phase::Dallying { .. } => Ok(match self.config.mode {
                Mode::Octet => self.data,
                Mode::Netascii => netascii::decode(&self.data),
            }),
            _ => Err(ClientError::TimedOut),
        }
    }

    /// The error, if the read failed.
    pub fn error(&self) -> Option<&ClientError> {
        match &self.phase {
            Phase::Finished(Err(e)) => Some(e),
            _ => None,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Finished(_) => None,
            _ => self.deadline,
        }
    }

    /// Feeds one datagram received from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let packet = Packet::parse(datagram);
        let known = match self.peer {
            Some(peer) => from == peer,
            // The server answers from a new port, but from the address we asked.
            None => from.ip() == self.server.ip(),
        };
        if !known {
            let is_error = matches!(packet, Ok(Packet::Error { .. }));
            self.strangers.note(from, is_error, &mut self.stats);
            return;
        }
        let Ok(packet) = packet else {
            self.stats.ignored_datagrams += 1;
            return;
        };
        match (&mut self.phase, packet) {
            (Phase::Finished(_), _) => {}
            (_, Packet::Error { code, message }) => {
                // An ERROR from the server ends the read; never answer it.
                if !matches!(self.phase, Phase::Dallying { .. }) {
                    self.finish_with(Err(ClientError::Remote {
                        code,
                        message: String::from_utf8_lossy(message).into_owned(),
                    }));
                }
            }
            (Phase::Requesting { .. }, Packet::Oack(options)) => {
                self.peer = Some(from);
                match self.config.options.accept_oack(options) {
                    Ok((params, tsize)) => {
                        if tsize.is_some_and(|size| size > self.config.max_size) {
                            self.refuse(
                                ErrorCode::DiskFull,
                                "File too large",
                                ClientError::TooLarge(self.config.max_size),
                            );
                            return;
                        }
                        self.params = params;
                        self.tsize = tsize;
                        self.phase = Phase::Receiving {
                            ack_due: Some(0),
                            gap_acked: false,
                        };
                        self.retries = 0;
                        self.deadline = Some(now + self.config.timeout);
                    }
                    Err(e) => self.refuse(
                        ErrorCode::OptionRefused,
                        "Option negotiation refused",
                        ClientError::BadOack(e),
                    ),
                }
            }
            (Phase::Requesting { .. }, Packet::Data { block, payload }) => {
                // The server ignored our options (RFC 2347 §3): RFC 1350 defaults apply.
                self.peer = Some(from);
                self.phase = Phase::Receiving {
                    ack_due: None,
                    gap_acked: false,
                };
                self.on_data(now, block, payload);
            }
            (Phase::Receiving { ack_due, .. }, Packet::Oack(_)) => {
                // Our ACK 0 was lost and the server resent its OACK.
                if self.expected == 1 {
                    *ack_due = Some(0);
                }
            }
            (Phase::Receiving { .. }, Packet::Data { block, payload }) => {
                self.on_data(now, block, payload);
            }
            (Phase::Dallying { ack_due }, Packet::Data { block, .. }) => {
                if block == self.config.rollover.wire(self.expected - 1) {
                    *ack_due = true;
                } else {
                    self.stats.ignored_datagrams += 1;
                }
            }
            _ => self.stats.ignored_datagrams += 1,
        }
    }

    fn on_data(&mut self, now: Instant, block: u16, payload: &[u8]) {
        let blksize = usize::from(self.params.blksize);
        let Phase::Receiving { ack_due, gap_acked } = &mut self.phase else {
            return;
        };
        if block != self.config.rollover.wire(self.expected) {
            self.stats.ignored_datagrams += 1;
            if std::mem::replace(gap_acked, true) {
                return; // one answer per disturbance, until data flows in order again
            }
            let window = u64::from(self.params.windowsize);
            if rollover_index_after(self.config.rollover, block, self.expected, window) {
                // RFC 7440 §4: a block after a gap; ACK the last one received in order so that
                // the sender restarts after it.
                *ack_due = Some(self.expected - 1);
                self.since_ack = 0;
            } else {
                // An old duplicate: our last ACK may have been lost, so repeat it, and only it.
                // ACKing a block inside the current window would tell the sender that the rest
                // of the window was lost: the windowed form of the Sorcerer's Apprentice.
                *ack_due = Some(self.last_acked);
            }
            return;
        }
        if payload.len() > blksize {
            self.refuse(
                ErrorCode::IllegalOperation,
                "DATA larger than the block size",
                ClientError::OversizedBlock,
            );
            return;
        }
        if (self.data.len() + payload.len()) as u64 > self.config.max_size {
            self.refuse(
                ErrorCode::DiskFull,
                "File too large",
                ClientError::TooLarge(self.config.max_size),
            );
            return;
        }
        self.data.extend_from_slice(payload);
        self.stats.segments_acknowledged += 1;
        self.expected += 1;
        self.since_ack += 1;
        self.retries = 0;
        *gap_acked = false;
        self.deadline = Some(now + self.config.timeout);
        if payload.len() < blksize {
            // The final block: ACK it and dally one timeout for a retransmission of it.
            self.phase = Phase::Dallying { ack_due: true };
        } else if self.since_ack >= u64::from(self.params.windowsize) {
            *ack_due = Some(self.expected - 1);
            self.since_ack = 0;
        }
    }

    fn refuse(&mut self, code: ErrorCode, message: &'static str, error: ClientError) {
        self.farewell = Some((code, message));
        self.finish_with(Err(error));
    }

    fn finish_with(&mut self, result: Result<(), ClientError>) {
        self.phase = Phase::Finished(result);
        self.deadline = None;
    }

    /// Call when `poll_timeout`'s instant has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_none_or(|d| now < d) {
            return;
        }
        if let Phase::Dallying { .. } = self.phase {
            self.finish_with(Ok(()));
            return;
        }
        if self.retries >= self.config.max_retries {
            self.finish_with(Err(ClientError::TimedOut));
            return;
        }
        self.retries += 1;
        self.stats.timeouts += 1;
        self.deadline = Some(now + self.config.timeout);
        match &mut self.phase {
            Phase::Requesting { due } => *due = true,
            Phase::Receiving { ack_due, .. } => {
                // RFC 7440 §4: on timeout the receiver re-ACKs the last block received in order.
                *ack_due = Some(self.expected - 1);
                self.since_ack = 0;
            }
            Phase::Dallying { .. } | Phase::Finished(_) => {}
        }
    }

    /// Writes the next datagram to send into `buf` (at least 516 bytes) and says where to.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(error5) = self.strangers.poll_transmit(buf) {
            return Some(error5);
        }
        let peer = self.peer.unwrap_or(self.server);
        if let Some((code, message)) = self.farewell.take() {
            let len = packet::write_error(buf, code, message)?;
            return Some(Transmit {
                destination: peer,
                len,
            });
        }
        let rollover = self.config.rollover;
        let ack_block = match &mut self.phase {
            Phase::Requesting { due } if *due => {
                *due = false;
                let len = self.request.len();
                buf.get_mut(..len)?.copy_from_slice(&self.request);
                return Some(Transmit {
                    destination: self.server,
                    len,
                });
            }
            Phase::Receiving { ack_due, .. } => ack_due.take()?,
            Phase::Dallying { ack_due } if *ack_due => {
                *ack_due = false;
                self.expected - 1
            }
            _ => return None,
        };
        self.last_acked = ack_block;
        let len = packet::write_ack(buf, rollover.wire(ack_block))?;
        Some(Transmit {
            destination: peer,
            len,
        })
    }
}

/// True when wire number `block` belongs to one of the `window` blocks after `expected`.
fn rollover_index_after(rollover: Rollover, block: u16, expected: u64, window: u64) -> bool {
    rollover.index_in(block, expected + 1, window).is_some()
}
