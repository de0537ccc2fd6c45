//! A simulated network on a virtual clock: one [`ReadClient`] against one [`ReadTransfer`],
//! with a fault script deciding the fate of every datagram. No sockets, no sleeps.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use phoneboot_tftp::packet::{Opcode, Packet};
use phoneboot_tftp::*;

pub const CLIENT: &str = "192.0.2.10:40000";
pub const LISTEN: &str = "192.0.2.1:69";
pub const TRANSFER: &str = "192.0.2.1:50000";
pub const LATENCY: Duration = Duration::from_millis(1);

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ToServer,
    ToClient,
}

/// What the network does with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    Drop,
    Duplicate,
    /// Deliver after this extra delay (reorders it behind later datagrams).
    Delay(Duration),
}

/// A datagram as the fault script sees it.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub dir: Dir,
    pub opcode: Option<Opcode>,
    /// DATA's or ACK's wire block number.
    pub block: Option<u16>,
    /// DATA's payload length.
    pub payload_len: usize,
    /// How many datagrams of this opcode and block went this way before this one.
    pub occurrence: usize,
}

struct InFlight {
    at: Instant,
    seq: u64,
    dir: Dir,
    from: SocketAddr,
    bytes: Vec<u8>,
}

pub struct Run {
    pub client_result: Result<Vec<u8>, ClientError>,
    pub outcome: Option<Outcome>,
    pub server_stats: Option<Stats>,
    pub client_stats: Stats,
    pub tsize: Option<u64>,
    pub negotiated: Negotiated,
    /// Every datagram put on the wire, in order, with the virtual time it was sent.
    pub log: Vec<(Duration, Dir, Vec<u8>)>,
    pub elapsed: Duration,
}

impl Run {
    pub fn sent(&self, dir: Dir, opcode: Opcode) -> usize {
        self.log
            .iter()
            .filter(|(_, d, b)| {
                *d == dir && Packet::parse(b).map(|p| p.opcode()).ok() == Some(opcode)
            })
            .count()
    }
}

pub struct Sim {
    pub content: Bytes,
    pub mode: packet::Mode,
    pub limits: ServerLimits,
    pub sender: SenderConfig,
    pub client: ClientConfig,
    pub fault: Box<dyn FnMut(&Seen) -> Fate>,
    /// Streamed content: the server transfer holds only what the driver supplies, this many
    /// bytes at a time (at least what it wants); `None` holds the file whole.
    pub read_ahead: Option<usize>,
    /// Stretches the simulated driver supplied: (offset, length).
    pub supplied: std::rc::Rc<std::cell::RefCell<Vec<(u64, usize)>>>,
}

use phoneboot_tftp::packet;

impl Sim {
    pub fn new(content: impl Into<Bytes>) -> Self {
        Self {
            content: content.into(),
            mode: packet::Mode::Octet,
            limits: ServerLimits {
                max_blksize: 65_464,
                max_windowsize: 64,
                ..ServerLimits::default()
            },
            sender: SenderConfig::default(),
            client: ClientConfig::default(),
            fault: Box::new(|_| Fate::Deliver),
            read_ahead: None,
            supplied: Default::default(),
        }
    }

    /// Streams the content to the transfer `read_ahead` bytes at a time.
    pub fn streamed(mut self, read_ahead: usize) -> Self {
        self.read_ahead = Some(read_ahead);
        self
    }

    pub fn options(mut self, options: ClientRequest) -> Self {
        self.client.options = options;
        self
    }

    pub fn fault(mut self, f: impl FnMut(&Seen) -> Fate + 'static) -> Self {
        self.fault = Box::new(f);
        self
    }

    pub fn run(mut self) -> Run {
        let start = Instant::now();
        let mut now = start;
        let mut client = ReadClient::new(now, addr(LISTEN), b"file", self.client);
        let mut server: Option<ReadTransfer> = None;
        let mut queue: Vec<InFlight> = Vec::new();
        let mut seq = 0u64;
        let mut counts: std::collections::HashMap<(u8, Option<Opcode>, Option<u16>), usize> =
            Default::default();
        let mut log = Vec::new();
        let mut buf = vec![0u8; 70_000];

        for _step in 0..5_000_000 {
            // Drain what both sides want to send.
            let mut outgoing: Vec<(Dir, SocketAddr, Vec<u8>)> = Vec::new();
            while let Some(tx) = client.poll_transmit(now, &mut buf) {
                outgoing.push((Dir::ToServer, tx.destination, buf[..tx.len].to_vec()));
            }
            if let Some(s) = server.as_mut() {
                loop {
                    if let (Some(range), Some(ahead)) = (s.wanted(), self.read_ahead) {
                        let start = usize::try_from(range.start).unwrap();
                        let want = usize::try_from(range.end - range.start).unwrap();
                        let stop = (start + want.max(ahead)).min(self.content.len());
                        self.supplied.borrow_mut().push((range.start, stop - start));
                        s.supply(range.start, self.content.slice(start..stop));
                    }
                    let Some(tx) = s.poll_transmit(now, &mut buf) else {
                        break;
                    };
                    outgoing.push((Dir::ToClient, tx.destination, buf[..tx.len].to_vec()));
                }
            }
            for (dir, _to, bytes) in outgoing {
                log.push((now - start, dir, bytes.clone()));
                let parsed = Packet::parse(&bytes).ok();
                let opcode = parsed.map(|p| p.opcode());
                let (block, payload_len) = match parsed {
                    Some(Packet::Data { block, payload }) => (Some(block), payload.len()),
                    Some(Packet::Ack { block }) => (Some(block), 0),
                    _ => (None, 0),
                };
                let key = (dir as u8, opcode, block);
                let occurrence = *counts.get(&key).unwrap_or(&0);
                counts.insert(key, occurrence + 1);
                let seen = Seen {
                    dir,
                    opcode,
                    block,
                    payload_len,
                    occurrence,
                };
                let from = match dir {
                    Dir::ToServer => addr(CLIENT),
                    Dir::ToClient => addr(TRANSFER),
                };
                let copies = match (self.fault)(&seen) {
                    Fate::Deliver => vec![LATENCY],
                    Fate::Drop => vec![],
                    Fate::Duplicate => vec![LATENCY, LATENCY],
                    Fate::Delay(d) => vec![LATENCY + d],
                };
                for delay in copies {
                    seq += 1;
                    queue.push(InFlight {
                        at: now + delay,
                        seq,
                        dir,
                        from,
                        bytes: bytes.clone(),
                    });
                }
            }

            let server_done = server.as_ref().is_some_and(|s| s.outcome().is_some());
            if client.is_finished() && (server_done || server.is_none()) && queue.is_empty() {
                break;
            }

            // Next event: the earliest datagram or the earliest timer.
            let timer = [
                client.poll_timeout(),
                server.as_ref().and_then(|s| s.poll_timeout()),
            ]
            .into_iter()
            .flatten()
            .min();
            let next_dgram = queue.iter().map(|d| (d.at, d.seq)).min();
            match (next_dgram, timer) {
                (Some((at, seq_no)), t) if t.is_none_or(|t| at <= t) => {
                    let i = queue.iter().position(|d| d.seq == seq_no).unwrap();
                    let d = queue.swap_remove(i);
                    now = now.max(d.at);
                    match d.dir {
                        Dir::ToClient => client.handle_datagram(now, d.from, &d.bytes),
                        Dir::ToServer => match server.as_mut() {
                            Some(s) => {
                                // A retransmitted RRQ goes to port 69, not to the transfer's
                                // socket; the server's admission layer drops duplicates.
                                if !matches!(Packet::parse(&d.bytes), Ok(Packet::Rrq(_))) {
                                    s.handle_datagram(now, d.from, &d.bytes);
                                }
                            }
                            None => {
                                let Ok(Packet::Rrq(req)) = Packet::parse(&d.bytes) else {
                                    continue;
                                };
                                let content = match self.mode {
                                    packet::Mode::Octet => self.content.clone(),
                                    packet::Mode::Netascii => {
                                        Bytes::from(netascii::encode(&self.content))
                                    }
                                };
                                let negotiation =
                                    negotiate_read(req.options, content.len() as u64, &self.limits);
                                let started = match self.read_ahead {
                                    None => ReadTransfer::new(
                                        now,
                                        d.from,
                                        content,
                                        &negotiation,
                                        &self.sender,
                                    ),
                                    Some(_) => ReadTransfer::streamed(
                                        now,
                                        d.from,
                                        content.len() as u64,
                                        &negotiation,
                                        &self.sender,
                                    ),
                                };
                                match started {
                                    Ok(t) => server = Some(t),
                                    Err(_) => {
                                        let len = packet::write_error(
                                            &mut buf,
                                            ErrorCode::NotDefined,
                                            "too big",
                                        )
                                        .unwrap();
                                        client.handle_datagram(now, addr(LISTEN), &buf[..len]);
                                    }
                                }
                            }
                        },
                    }
                }
                (_, Some(t)) => {
                    now = now.max(t);
                    client.handle_timeout(now);
                    if let Some(s) = server.as_mut() {
                        s.handle_timeout(now);
                    }
                }
                (None, None) => break,
                (Some(_), None) => unreachable!(),
            }
        }
        let negotiated = client.negotiated();
        let tsize = client.tsize();
        let client_stats = client.stats();
        Run {
            outcome: server.as_ref().and_then(|s| s.outcome().cloned()),
            server_stats: server.as_ref().map(|s| s.stats()),
            client_stats,
            tsize,
            negotiated,
            client_result: client.finish(),
            log,
            elapsed: now - start,
        }
    }
}

/// A client's options.
pub fn opts(blksize: Option<u16>, windowsize: Option<u16>, tsize: bool) -> ClientRequest {
    ClientRequest {
        blksize,
        windowsize,
        timeout: None,
        tsize,
    }
}

/// Deterministic pseudo-random bytes (xorshift), so tests need no RNG crate.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24).to_le_bytes()[0]
        })
        .collect()
}
