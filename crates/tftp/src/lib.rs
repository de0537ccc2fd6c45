//! `phoneboot-tftp`: a sans-IO TFTP engine.
//!
//! Everything TFTP means lives here, and nothing else: no sockets, no files, no clock, no async
//! runtime. Time comes in as a `now: Instant` argument, datagrams as byte slices, file content as
//! [`bytes::Bytes`] (the whole file, or the stretches the driver supplies when the engine asks
//! for them); what to send comes out of `poll_transmit`. The server (`phoneboot-server`)
//! and the phone emulator drive the same state machines with real sockets; the tests here drive
//! them with a virtual clock and a lossy simulated network.
//!
//! - [`packet`]: strict parse and emit of RRQ, WRQ, DATA, ACK, ERROR, OACK (RFC 1350, 2347).
//! - [`options`]: negotiation of blksize (RFC 2348), timeout and tsize (RFC 2349), windowsize
//!   (RFC 7440) and tftp-hpa's `rollover`.
//! - [`sender`]: the server side of a read transfer ([`ReadTransfer`]).
//! - [`receiver`]: the client side of a read transfer ([`ReadClient`]).
//! - [`netascii`]: the text-mode conversion; [`block`]: block-number rollover.
//!
//! The crate's test suite checks that it stays sans-IO (`tests/sans_io.rs`).

pub mod block;
pub mod netascii;
pub mod options;
pub mod packet;
pub mod receiver;
mod rtt;
pub mod sender;
pub mod transfer;

pub use block::Rollover;
pub use options::{ClientRequest, Negotiated, Negotiation, ServerLimits, negotiate_read};
pub use packet::{ErrorCode, Mode, Packet, ParseError};
pub use receiver::{ClientConfig, ClientError, ReadClient};
pub use sender::{Outcome, ReadTransfer, RefuseReason, SenderConfig};
pub use transfer::{RetryPolicy, Stats, Transmit};
