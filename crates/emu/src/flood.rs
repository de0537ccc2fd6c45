//! Abuse of a TFTP server's request port, for tests and benchmarks: what a hostile or broken
//! network sends while phones boot. Half-open requests (an RRQ from a port that is closed at
//! once, as from a spoofed source: the server's answers go nowhere), junk datagrams, truncated
//! and oversized requests, and stray ACK/DATA for no transfer. Everything goes to one server
//! address, paced evenly over a period so that it overlaps a storm.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

/// What to send.
#[derive(Debug, Clone)]
pub struct Flood {
    /// RRQs from ports closed right after sending, for names taken in turn from `names`.
    pub half_open: usize,
    pub names: Vec<String>,
    /// Datagrams of random bytes.
    pub junk: usize,
    /// RRQs cut before their terminating NULs.
    pub truncated: usize,
    /// RRQs longer than any client sends (4 KiB of options).
    pub oversized: usize,
    /// ACKs and DATA sent to the request port.
    pub stray: usize,
    /// Spread over this long.
    pub over: Duration,
    /// The half-open requests' ports, from this one on (0: the system's choice). A range
    /// outside the system's ephemeral ports keeps them from landing on a port a client of the
    /// same address is using: a request spoofed with a phone's own address *and* port is
    /// indistinguishable from the phone's, for any server.
    pub first_port: u16,
}

/// What was sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sent {
    pub half_open: usize,
    pub junk: usize,
    pub truncated: usize,
    pub oversized: usize,
    pub stray: usize,
    /// Datagrams the server answered to the flood's own (long-lived) socket.
    pub answers: usize,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    HalfOpen,
    Junk,
    Truncated,
    Oversized,
    Stray,
}

fn rrq(name: &str, options: &[(&str, String)]) -> Vec<u8> {
    let mut d = vec![0, 1];
    d.extend_from_slice(name.as_bytes());
    d.extend_from_slice(b"\0octet\0");
    for (k, v) in options {
        d.extend_from_slice(k.as_bytes());
        d.push(0);
        d.extend_from_slice(v.as_bytes());
        d.push(0);
    }
    d
}

/// A small deterministic generator: the same flood on every run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Sends `flood` to `server`; returns what went out.
pub async fn run(server: SocketAddr, flood: &Flood) -> std::io::Result<Sent> {
    let any = match server {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let own = UdpSocket::bind(SocketAddr::new(any, 0)).await?;
    // Interleave the kinds so each is spread over the whole period.
    let mut plan: Vec<Kind> = Vec::new();
    let counts = [
        (Kind::HalfOpen, flood.half_open),
        (Kind::Junk, flood.junk),
        (Kind::Truncated, flood.truncated),
        (Kind::Oversized, flood.oversized),
        (Kind::Stray, flood.stray),
    ];
    let longest = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    for i in 0..longest {
        plan.extend(counts.iter().filter(|(_, n)| i < *n).map(|(k, _)| *k));
    }
    let total = plan.len().max(1);
    let started = Instant::now();
    let mut sent = Sent::default();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut buf = vec![0u8; 70_000];
    for (i, kind) in plan.into_iter().enumerate() {
        let due = started + flood.over.mul_f64(i as f64 / total as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        match kind {
            Kind::HalfOpen => {
                let name = flood
                    .names
                    .get(sent.half_open % flood.names.len().max(1))
                    .map_or("XMLDefault.cnf.xml", String::as_str);
                let port = match flood.first_port {
                    0 => 0,
                    first => {
                        first.saturating_add(u16::try_from(sent.half_open % 8192).unwrap_or(0))
                    }
                };
                let socket = match UdpSocket::bind(SocketAddr::new(any, port)).await {
                    Ok(s) => s,
                    Err(_) => UdpSocket::bind(SocketAddr::new(any, 0)).await?,
                };
                let options = [("blksize", "1428".to_owned()), ("tsize", "0".to_owned())];
                socket.send_to(&rrq(name, &options), server).await?;
                drop(socket); // closed: the server's answers go nowhere
                sent.half_open += 1;
            }
            Kind::Junk => {
                let len = usize::try_from(next(&mut seed) % 600).unwrap_or(0) + 1;
                let junk: Vec<u8> = (0..len).map(|_| next(&mut seed).to_le_bytes()[0]).collect();
                own.send_to(&junk, server).await?;
                sent.junk += 1;
            }
            Kind::Truncated => {
                let whole = rrq("SEP001122334455.cnf.xml", &[]);
                let cut = usize::try_from(next(&mut seed)).unwrap_or(0) % (whole.len() - 2) + 2;
                own.send_to(&whole[..cut], server).await?;
                sent.truncated += 1;
            }
            Kind::Oversized => {
                let options: Vec<(&str, String)> =
                    (0..400).map(|_| ("x-pad", "0".repeat(8))).collect();
                own.send_to(&rrq("XMLDefault.cnf.xml", &options), server)
                    .await?;
                sent.oversized += 1;
            }
            Kind::Stray => {
                let stray: &[u8] = if sent.stray % 2 == 0 {
                    &[0, 4, 0, 7]
                } else {
                    &[0, 3, 0, 1, b'x']
                };
                own.send_to(stray, server).await?;
                sent.stray += 1;
            }
        }
        while let Ok((_, _)) = own.try_recv_from(&mut buf) {
            sent.answers += 1;
        }
    }
    // The last answers.
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(200), own.recv_from(&mut buf)).await
    {
        sent.answers += 1;
    }
    Ok(sent)
}
