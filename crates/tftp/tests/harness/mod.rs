//! Fuzz harnesses, shared by the cargo-fuzz targets in `fuzz/` and by the corpus replay test,
//! so that the targets cannot rot: every committed corpus entry runs in the ordinary test suite.
//!
//! Each harness takes arbitrary bytes and panics only when an invariant breaks.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use phoneboot_tftp::packet::{self, Packet};
use phoneboot_tftp::*;

/// Parse -> emit -> parse gives the same packet; negotiation on any request is total; the
/// writers never overflow their buffer.
pub fn packet_roundtrip(data: &[u8]) {
    if let Ok(p) = Packet::parse(data) {
        let mut out = Vec::new();
        p.emit(&mut out);
        assert_eq!(Packet::parse(&out), Ok(p), "re-parse of {out:?}");
        if let Packet::Rrq(req) | Packet::Wrq(req) = p {
            for size in [0u64, 1, 512, u64::MAX] {
                let n = negotiate_read(req.options, size, &ServerLimits::default());
                assert!((8..=65_464).contains(&n.params.blksize));
                assert!(n.params.windowsize >= 1);
                // Never an OACK carrying an option the client did not send.
                for (name, _) in n.oack.as_options().iter() {
                    assert!(req.options.get(&String::from_utf8_lossy(name)).is_some());
                }
            }
        }
        if let Packet::Oack(opts) = p {
            let ask = ClientRequest {
                blksize: Some(1024),
                windowsize: Some(8),
                timeout: Some(3),
                tsize: true,
            };
            if let Ok((params, _)) = ask.accept_oack(opts) {
                assert!(params.blksize <= 1024 && params.windowsize <= 8);
            }
        }
    }
    let mut small = [0u8; 16];
    if let Some(len) = packet::write_error(
        &mut small,
        ErrorCode::NotDefined,
        &String::from_utf8_lossy(data),
    ) {
        assert!(len <= small.len());
        assert!(matches!(
            Packet::parse(&small[..len]),
            Ok(Packet::Error { .. })
        ));
    }
    let _ = netascii::decode(data);
    assert_eq!(netascii::decode(&netascii::encode(data)), data);
}

/// A little cursor over the fuzzer's bytes.
struct Script<'a> {
    data: &'a [u8],
}

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.byte()?, self.byte()?]))
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

/// Drives a server-side read transfer with datagrams and timeouts chosen by the fuzzer.
/// Invariants: no panic; each input produces a bounded number of datagrams, each within the
/// buffer; once the script ends, timeouts alone finish the transfer within a bounded count.
pub fn transfer_drive(data: &[u8]) {
    let mut s = Script { data };
    let peer: SocketAddr = "192.0.2.1:1000".parse().unwrap();
    let stranger: SocketAddr = "192.0.2.2:1000".parse().unwrap();
    let (Some(len), Some(blk), Some(win), Some(flags)) = (s.u16(), s.u16(), s.byte(), s.byte())
    else {
        return;
    };
    let mut req = packet::OptionsBuf::new();
    req.push_num(b"blksize", u64::from(blk));
    req.push_num(b"windowsize", u64::from(win));
    if flags & 1 != 0 {
        req.push_num(b"tsize", 0);
    }
    let rollover = match flags >> 1 & 3 {
        0 => Rollover::ToZero,
        1 => Rollover::ToOne,
        _ => Rollover::Refuse,
    };
    let limits = ServerLimits {
        max_blksize: 65_464,
        max_windowsize: 64,
        ..ServerLimits::default()
    };
    let content = Bytes::from(vec![0x5a; usize::from(len)]);
    let n = negotiate_read(req.as_options(), content.len() as u64, &limits);
    let config = SenderConfig {
        rollover,
        ..SenderConfig::default()
    };
    let mut now = Instant::now();
    let Ok(mut t) = ReadTransfer::new(now, peer, content, &n, &config) else {
        return;
    };
    let mut buf = vec![0u8; t.blksize().max(512) + 4];
    let drain = |t: &mut ReadTransfer, now: Instant, buf: &mut [u8]| {
        let mut count = 0u64;
        while let Some(tx) = t.poll_transmit(now, buf) {
            assert!(tx.len <= buf.len());
            count += 1;
            assert!(count <= t.windowsize() + 8, "unbounded burst");
        }
    };
    drain(&mut t, now, &mut buf);
    while let Some(op) = s.byte() {
        match op % 6 {
            0 => {
                let block = s.u16().unwrap_or(0);
                let [hi, lo] = block.to_be_bytes();
                t.handle_datagram(now, peer, &[0, 4, hi, lo]);
            }
            1 => {
                let n = usize::from(s.byte().unwrap_or(0));
                let d = s.bytes(n).to_vec();
                t.handle_datagram(now, peer, &d);
            }
            2 => {
                let n = usize::from(s.byte().unwrap_or(0));
                let d = s.bytes(n).to_vec();
                t.handle_datagram(now, stranger, &d);
            }
            3 => {
                if let Some(d) = t.poll_timeout() {
                    now = now.max(d);
                }
                t.handle_timeout(now);
            }
            4 => now += Duration::from_millis(u64::from(s.byte().unwrap_or(0)) * 10),
            _ => t.handle_datagram(now, peer, b"\0\x05\0\x08x\0"),
        }
        drain(&mut t, now, &mut buf);
    }
    // Left alone, the transfer ends: bounded retries.
    for _ in 0..64 {
        let Some(d) = t.poll_timeout() else { break };
        now = now.max(d);
        t.handle_timeout(now);
        drain(&mut t, now, &mut buf);
    }
    assert!(
        t.outcome().is_some(),
        "transfer still alive after its retries"
    );
}

/// Feeds a client read arbitrary datagrams from the server and strangers.
pub fn client_drive(data: &[u8]) {
    let mut s = Script { data };
    let server: SocketAddr = "192.0.2.1:69".parse().unwrap();
    let tid: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let config = ClientConfig {
        options: ClientRequest {
            blksize: Some(512),
            windowsize: Some(4),
            timeout: None,
            tsize: true,
        },
        max_size: 1 << 16,
        ..ClientConfig::default()
    };
    let mut now = Instant::now();
    let mut c = ReadClient::new(now, server, b"file", config);
    let mut buf = vec![0u8; 600];
    while let Some(op) = s.byte() {
        let n = usize::from(s.byte().unwrap_or(0)) * 4;
        let d = s.bytes(n).to_vec();
        let from = if op & 1 == 0 {
            tid
        } else {
            "192.0.2.9:1".parse().unwrap()
        };
        if op & 2 == 0 {
            c.handle_datagram(now, from, &d);
        } else {
            if let Some(t) = c.poll_timeout() {
                now = now.max(t);
            }
            c.handle_timeout(now);
        }
        let mut count = 0;
        while c.poll_transmit(now, &mut buf).is_some() {
            count += 1;
            assert!(count <= 8, "unbounded client burst");
        }
    }
    for _ in 0..64 {
        let Some(t) = c.poll_timeout() else { break };
        now = now.max(t);
        c.handle_timeout(now);
        while c.poll_transmit(now, &mut buf).is_some() {}
    }
    assert!(c.is_finished(), "client still alive after its retries");
}
