//! What a transfer sends, sent with as few system calls as the kernel allows.
//!
//! A lock-step transfer sends one datagram per ACK: each goes at once. A windowed transfer
//! sends a window of full-size DATA to one peer back to back; with UDP segmentation offload
//! (`UDP_SEGMENT`, Linux 4.18) the run goes as one send that the kernel cuts into the same
//! datagrams, in order — one pass through the socket layer instead of one per block. Where the
//! kernel or the device refuses it, the transfer falls back to one send per datagram, for
//! good.
//!
//! A segmented socket cannot send a datagram larger than the link's MTU: the kernel refuses
//! what it would otherwise fragment (EMSGSIZE). So segmentation is asked for only where every
//! datagram fits the path as it is — loopback, or a datagram within an Ethernet frame (1,500
//! bytes with the IP and UDP headers) — and a refusal of any send while it is on (a smaller
//! MTU somewhere: a VPN, a tunnel) turns it off and sends again, one datagram at a time.

use std::net::SocketAddr;

use phoneboot_tftp::Transmit;
use tracing::debug;

use crate::sockopt;
use crate::wire::Wire;

/// The kernel's limit on segments per send (`UDP_MAX_SEGMENTS`).
const MAX_SEGMENTS: usize = 64;
/// An Ethernet frame's payload: a datagram within it (headers included) is never fragmented
/// on the usual paths.
const ETHERNET_MTU: usize = 1500;
/// The longest send the kernel segments (a UDP datagram's payload limit, with room for the
/// headers of the IPv6 case).
const MAX_SEND: usize = 65_000;

/// Datagrams drained from the engine, written one after the other into one buffer.
#[derive(Debug)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    /// Each datagram's slot: the engine's largest datagram (`blksize` + 4).
    slot: usize,
    /// Segmenting by `slot` bytes is on.
    segmenting: bool,
    /// Bytes of the run waiting in `buf`.
    filled: usize,
    /// The run's destination and datagram count.
    run: Option<(SocketAddr, usize)>,
}

impl Outbox {
    /// An outbox for datagrams of at most `slot` bytes (at least 516) to `peer`; segmentation
    /// is asked of the kernel when `windowed`, a run of two or more fits in one send, and a
    /// datagram fits the path unfragmented.
    pub(crate) fn new(wire: &Wire, peer: SocketAddr, slot: usize, windowed: bool) -> Self {
        let slot = slot.max(516);
        let headers = if peer.is_ipv4() { 28 } else { 48 };
        let unfragmented = peer.ip().is_loopback() || slot + headers <= ETHERNET_MTU;
        let fits = (2 * slot <= MAX_SEND)
            .then_some(u16::try_from(slot).ok())
            .flatten();
        let segmenting = windowed
            && unfragmented
            && wire.socket().zip(fits).is_some_and(
                |(socket, size)| match sockopt::set_udp_segment(socket, size) {
                    Ok(()) => true,
                    Err(e) => {
                        debug!("no UDP segmentation offload ({e}): one send per datagram");
                        false
                    }
                },
            );
        let capacity = if segmenting {
            (MAX_SEND / slot).min(MAX_SEGMENTS) * slot
        } else {
            slot
        };
        Self {
            buf: vec![0; capacity.max(slot)],
            slot,
            segmenting,
            filled: 0,
            run: None,
        }
    }

    /// Where the engine writes its next datagram (`poll_transmit`); then call [`Outbox::push`]
    /// with what it wrote.
    pub(crate) fn slot(&mut self) -> &mut [u8] {
        let start = if self.segmenting { self.filled } else { 0 };
        let end = (start + self.slot).min(self.buf.len());
        self.buf.get_mut(start..end).unwrap_or_default()
    }

    /// Takes the datagram just written into [`Outbox::slot`]: sends it, or keeps it in the run.
    pub(crate) async fn push(&mut self, wire: &Wire, tx: Transmit) {
        if !self.segmenting {
            send(
                wire,
                self.buf.get(..tx.len).unwrap_or_default(),
                tx.destination,
            )
            .await;
            return;
        }
        match self.run {
            Some((to, _)) if to != tx.destination => {
                // A datagram for someone else (an ERROR 5 to a stranger): the run goes first.
                let start = self.filled;
                let datagram = self
                    .buf
                    .get(start..start + tx.len)
                    .unwrap_or_default()
                    .to_vec();
                self.flush_before(wire, start).await;
                if let Some(head) = self.buf.get_mut(..datagram.len()) {
                    head.copy_from_slice(&datagram);
                }
                self.filled = datagram.len();
                self.run = Some((tx.destination, 1));
            }
            Some((to, count)) => {
                self.filled += tx.len;
                self.run = Some((to, count + 1));
            }
            None => {
                self.filled = tx.len;
                self.run = Some((tx.destination, 1));
            }
        }
        let count = self.run.map_or(0, |(_, count)| count);
        // A short datagram can only end a run (the kernel cuts at `slot` bytes).
        if tx.len < self.slot || self.filled + self.slot > self.buf.len() || count == MAX_SEGMENTS {
            self.flush(wire).await;
        }
    }

    /// Sends the run in hand.
    pub(crate) async fn flush(&mut self, wire: &Wire) {
        let end = self.filled;
        self.flush_before(wire, end).await;
    }

    /// Sends the run's bytes before `end`.
    async fn flush_before(&mut self, wire: &Wire, end: usize) {
        let Some((to, count)) = self.run.take() else {
            return;
        };
        self.filled = 0;
        let bytes = self.buf.get(..end).unwrap_or_default();
        match wire.send(bytes, to).await {
            Ok(()) => {}
            // Refused while segmenting (a device without checksum offload, an old kernel, a
            // datagram over a smaller MTU): off for good on this socket, and this run again one
            // datagram at a time — after it is off, since the same check applies to every send.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EIO | libc::EINVAL | libc::EMSGSIZE)
                ) =>
            {
                debug!(%to, count, "UDP segmentation refused ({e}): one send per datagram");
                if let Some(Err(e)) = wire.socket().map(|s| sockopt::set_udp_segment(s, 0)) {
                    debug!("turning UDP segmentation off: {e}");
                }
                self.segmenting = false;
                for datagram in bytes.chunks(self.slot) {
                    send(wire, datagram, to).await;
                }
            }
            Err(e) => debug!(%to, "send: {e}"),
        }
    }
}

async fn send(wire: &Wire, datagram: &[u8], to: SocketAddr) {
    if let Err(e) = wire.send(datagram, to).await {
        debug!(%to, "send: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UdpSocket;

    async fn datagrams(socket: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 70_000];
        for _ in 0..n {
            let (len, _) = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                socket.recv_from(&mut buf),
            )
            .await
            .unwrap()
            .unwrap();
            out.push(buf[..len].to_vec());
        }
        out
    }

    /// Pushes `datagrams` (destination, bytes) as the engine would write them.
    async fn push_all(outbox: &mut Outbox, wire: &Wire, datagrams: &[(SocketAddr, Vec<u8>)]) {
        for (to, bytes) in datagrams {
            outbox.slot()[..bytes.len()].copy_from_slice(bytes);
            let tx = Transmit {
                destination: *to,
                len: bytes.len(),
            };
            outbox.push(wire, tx).await;
        }
        outbox.flush(wire).await;
    }

    #[tokio::test]
    async fn a_window_arrives_as_the_same_datagrams_in_order_with_a_stranger_between() {
        let sender = Wire::Own(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (to_peer, to_stranger) = (peer.local_addr().unwrap(), stranger.local_addr().unwrap());
        let slot = 1432;
        let mut outbox = Outbox::new(&sender, to_peer, slot, true);
        assert!(
            outbox.segmenting,
            "Linux 4.18 and later segment UDP on loopback"
        );
        let full = |i: u8| vec![i; slot];
        // 50 full datagrams (more than one send holds), an ERROR to a stranger, 3 more and a
        // short last one.
        let mut sent: Vec<(SocketAddr, Vec<u8>)> = (0..50).map(|i| (to_peer, full(i))).collect();
        sent.push((to_stranger, b"\0\x05stranger".to_vec()));
        sent.extend((50..53).map(|i| (to_peer, full(i))));
        sent.push((to_peer, vec![99; 100]));
        push_all(&mut outbox, &sender, &sent).await;

        let expected: Vec<Vec<u8>> = sent
            .iter()
            .filter(|(to, _)| *to == to_peer)
            .map(|(_, b)| b.clone())
            .collect();
        assert_eq!(datagrams(&peer, expected.len()).await, expected);
        assert_eq!(
            datagrams(&stranger, 1).await,
            vec![b"\0\x05stranger".to_vec()]
        );
    }

    #[tokio::test]
    async fn lock_step_sends_each_datagram_at_once() {
        let sender = Wire::Own(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut outbox = Outbox::new(&sender, peer.local_addr().unwrap(), 516, false);
        let to = peer.local_addr().unwrap();
        outbox.slot()[..4].copy_from_slice(&[0, 3, 0, 1]);
        outbox
            .push(
                &sender,
                Transmit {
                    destination: to,
                    len: 4,
                },
            )
            .await;
        // Nothing flushed: it went at once.
        assert_eq!(datagrams(&peer, 1).await, vec![vec![0, 3, 0, 1]]);
    }
}
