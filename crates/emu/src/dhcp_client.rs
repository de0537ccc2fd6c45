//! The client side of a DHCPv4 exchange (RFC 2131): DISCOVER, OFFER, REQUEST, ACK, as a phone
//! does it on power-up, asking for the TFTP options (150, 66) in its parameter request list.
//! The reply's options then go through the seed's precedence ([`crate::dhcp::phone_servers`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;

use crate::dhcp::{DhcpError, OPTION_TFTP_NAME, OPTION_TFTP_SERVERS, Offer};

const DISCOVER: u8 = 1;
const REQUEST: u8 = 3;
const OFFER: u8 = 2;
const ACK: u8 = 5;
const NAK: u8 = 6;

/// Why an exchange did not give a lease.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(
        "cannot open the DHCP client socket on {0}: {1} (this needs root, or CAP_NET_RAW and CAP_NET_BIND_SERVICE)"
    )]
    Socket(String, std::io::Error),
    #[error("no DHCP {what} within {timeout:?} ({sent} requests sent)")]
    Timeout {
        what: &'static str,
        timeout: Duration,
        sent: u32,
    },
    #[error("cannot send a DHCP request: {0}")]
    Send(std::io::Error),
    #[error("the DHCPv6 server answered with status {0}: {1}")]
    Status(u16, String),
    #[error("the DHCP server refused the request (NAK)")]
    Nak,
    #[error("a malformed DHCP reply: {0}")]
    Malformed(#[from] DhcpError),
}

/// A BOOTREQUEST of `kind` from `mac`, with the broadcast flag set (the client has no address
/// yet) and a parameter request list that names the TFTP options.
pub fn message(
    kind: u8,
    mac: [u8; 6],
    xid: u32,
    requested: Option<(Ipv4Addr, Ipv4Addr)>,
) -> Vec<u8> {
    let mut p = vec![0u8; 240];
    p[0] = 1; // BOOTREQUEST
    p[1] = 1; // Ethernet
    p[2] = 6; // hardware address length
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[10] = 0x80; // broadcast flag
    p[28..34].copy_from_slice(&mac);
    p[236..240].copy_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(&[53, 1, kind]);
    // Client identifier: hardware type + MAC.
    p.extend_from_slice(&[61, 7, 1]);
    p.extend_from_slice(&mac);
    if let Some((address, server)) = requested {
        p.extend_from_slice(&[50, 4]);
        p.extend_from_slice(&address.octets());
        p.extend_from_slice(&[54, 4]);
        p.extend_from_slice(&server.octets());
    }
    // Subnet mask, router, DNS, domain name, TFTP server name (66), TFTP servers (150).
    p.extend_from_slice(&[55, 6, 1, 3, 6, 15, OPTION_TFTP_NAME, OPTION_TFTP_SERVERS]);
    p.push(255);
    p
}

/// A transaction id that differs between runs and between devices.
pub(crate) fn transaction_id(mac: [u8; 6]) -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]])
}

/// When a request is sent again if no reply came: after `first`, then twice as long each time,
/// at most `max`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retransmission {
    pub(crate) first: Duration,
    pub(crate) max: Duration,
}

/// RFC 2131 §4.1: 4 s, doubling up to 64 s. (The RFC also randomises each wait by ±1 s; one
/// emulated client has nobody to collide with.)
const RFC_2131: Retransmission = Retransmission {
    first: Duration::from_secs(4),
    max: Duration::from_secs(64),
};

/// One step of an exchange: what is sent, what it is waiting for (for messages), and which
/// datagram answers it: `accept` returns `None` for one that is not the answer (another
/// client's, another message type), and the step's result otherwise.
pub(crate) struct Step<'a, A> {
    pub(crate) request: &'a [u8],
    pub(crate) what: &'static str,
    pub(crate) accept: A,
}

/// Sends the step's request to `server` until a datagram answers it, or `timeout` has passed.
pub(crate) async fn ask<T, A>(
    socket: &UdpSocket,
    server: SocketAddr,
    step: &mut Step<'_, A>,
    schedule: Retransmission,
    timeout: Duration,
) -> Result<T, ExchangeError>
where
    A: FnMut(&[u8], SocketAddr) -> Option<Result<T, ExchangeError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut wait = schedule.first;
    let mut sent = 0;
    let mut buf = vec![0u8; 1500];
    loop {
        socket
            .send_to(step.request, server)
            .await
            .map_err(ExchangeError::Send)?;
        sent += 1;
        let until = deadline.min(tokio::time::Instant::now() + wait);
        while let Ok(received) = tokio::time::timeout_at(until, socket.recv_from(&mut buf)).await {
            if let Ok((len, from)) = received
                && let Some(result) = (step.accept)(&buf[..len], from)
            {
                return result;
            }
        }
        if until >= deadline {
            return Err(ExchangeError::Timeout {
                what: step.what,
                timeout,
                sent,
            });
        }
        wait = (wait * 2).min(schedule.max);
    }
}

/// Accepts a DHCPv4 reply to `xid` of a `want`ed type; a NAK ends the exchange.
fn reply_v4(
    xid: u32,
    want: &[u8],
) -> impl FnMut(&[u8], SocketAddr) -> Option<Result<Offer, ExchangeError>> {
    move |datagram, _| {
        // Other clients' replies (another xid) and other message types are not ours.
        let offer = Offer::parse(datagram).ok().filter(|o| o.xid == xid)?;
        match offer.message_type {
            Some(NAK) => Some(Err(ExchangeError::Nak)),
            Some(t) if want.contains(&t) => Some(Ok(offer)),
            _ => None,
        }
    }
}

/// A DHCP client's socket: the client port on every address of `interface` only, broadcasts
/// allowed (a client with no address yet sends and receives them).
pub(crate) fn client_socket(interface: &str, port: SocketAddr) -> Result<UdpSocket, ExchangeError> {
    let fail = |e| ExchangeError::Socket(interface.to_owned(), e);
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(port),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(fail)?;
    if port.is_ipv6() {
        socket.set_only_v6(true).map_err(fail)?;
    } else {
        socket.set_broadcast(true).map_err(fail)?;
    }
    socket.set_reuse_address(true).map_err(fail)?;
    socket
        .bind_device(Some(interface.as_bytes()))
        .map_err(fail)?;
    socket.bind(&port.into()).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    UdpSocket::from_std(socket.into()).map_err(fail)
}

/// Runs DISCOVER/OFFER/REQUEST/ACK on `interface` for `mac` and returns the ACK, whose options
/// name the TFTP servers.
pub async fn exchange(
    interface: &str,
    mac: [u8; 6],
    timeout: Duration,
) -> Result<Offer, ExchangeError> {
    let socket = client_socket(interface, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68)))?;
    let xid = transaction_id(mac);
    let server = SocketAddr::from((Ipv4Addr::BROADCAST, 67));
    let mut discover = Step {
        request: &message(DISCOVER, mac, xid, None),
        what: "OFFER",
        accept: reply_v4(xid, &[OFFER]),
    };
    let offer = ask(&socket, server, &mut discover, RFC_2131, timeout).await?;
    let (Some(address), Some(server_id)) = (offer.yiaddr, offer.server_id) else {
        return Err(ExchangeError::Malformed(DhcpError::ReplyShort(0)));
    };
    let mut request = Step {
        request: &message(REQUEST, mac, xid, Some((address, server_id))),
        what: "ACK",
        accept: reply_v4(xid, &[ACK]),
    };
    ask(&socket, server, &mut request, RFC_2131, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discover_asks_for_the_tftp_options_and_round_trips_through_the_parser() {
        let mac = [0, 0x11, 0x22, 0xaa, 0xbb, 0xcc];
        let mut m = message(DISCOVER, mac, 0x1234_5678, None);
        assert_eq!(&m[28..34], &mac);
        assert_eq!(m[10], 0x80, "broadcast flag");
        let prl = m
            .windows(2)
            .position(|w| w == [55, 6])
            .expect("parameter request list");
        assert!(m[prl + 2..prl + 8].contains(&150) && m[prl + 2..prl + 8].contains(&66));
        m[0] = 2; // seen as a reply, the parser reads it back
        let parsed = Offer::parse(&m).unwrap();
        assert_eq!(parsed.xid, 0x1234_5678);
        assert_eq!(parsed.message_type, Some(DISCOVER));
        let r = message(
            REQUEST,
            mac,
            7,
            Some((Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1))),
        );
        let mut r2 = r.clone();
        r2[0] = 2;
        assert_eq!(
            Offer::parse(&r2).unwrap().server_id,
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
    }

    const FAST: Retransmission = Retransmission {
        first: Duration::from_millis(50),
        max: Duration::from_millis(100),
    };

    /// A server on loopback that drops the first `drop` requests and answers the next one with
    /// `reply_type`; returns how many requests it saw.
    async fn server(drop: usize, reply_type: u8) -> (SocketAddr, tokio::task::JoinHandle<usize>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            let mut seen = 0;
            loop {
                let (n, from) = socket.recv_from(&mut buf).await.unwrap();
                seen += 1;
                if seen > drop {
                    let mut answer = buf[..n].to_vec();
                    answer[0] = 2; // BOOTREPLY
                    let at = answer.windows(3).position(|w| w[..2] == [53, 1]).unwrap();
                    answer[at + 2] = reply_type;
                    socket.send_to(&answer, from).await.unwrap();
                    return seen;
                }
            }
        });
        (addr, task)
    }

    async fn client() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").await.unwrap()
    }

    type Accept = Box<dyn FnMut(&[u8], SocketAddr) -> Option<Result<Offer, ExchangeError>>>;

    fn discover(request: &[u8]) -> Step<'_, Accept> {
        Step {
            request,
            what: "OFFER",
            accept: Box::new(reply_v4(42, &[OFFER])),
        }
    }

    #[tokio::test]
    async fn a_lost_discover_is_sent_again_until_an_offer_comes() {
        let (addr, seen) = server(2, OFFER).await;
        let request = message(DISCOVER, [0, 1, 2, 3, 4, 5], 42, None);
        let offer = ask(
            &client().await,
            addr,
            &mut discover(&request),
            FAST,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!((offer.xid, offer.message_type), (42, Some(OFFER)));
        assert_eq!(seen.await.unwrap(), 3, "sent three times, answered once");
    }

    #[tokio::test]
    async fn a_nak_ends_the_exchange_at_once() {
        let (addr, _) = server(0, NAK).await;
        let request = message(DISCOVER, [0, 1, 2, 3, 4, 5], 42, None);
        let result = ask(
            &client().await,
            addr,
            &mut discover(&request),
            FAST,
            Duration::from_secs(10),
        )
        .await;
        assert!(matches!(result, Err(ExchangeError::Nak)), "{result:?}");
    }

    #[tokio::test]
    async fn silence_ends_in_a_timeout_that_says_how_often_it_asked() {
        // A socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let request = message(DISCOVER, [0, 1, 2, 3, 4, 5], 42, None);
        let result = ask(
            &client().await,
            silent.local_addr().unwrap(),
            &mut discover(&request),
            FAST,
            Duration::from_millis(400),
        )
        .await;
        let Err(ExchangeError::Timeout { what, sent, .. }) = result else {
            panic!("{result:?}");
        };
        assert_eq!(what, "OFFER");
        // Sent at 0, 50 and 150 ms, then every 100 ms until 400 ms; a slow machine sends fewer.
        assert!((2..=5).contains(&sent), "{sent}");
        let mut buf = [0u8; 1500];
        let (n, _) = silent.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &request[..], "the same request each time");
    }
}
