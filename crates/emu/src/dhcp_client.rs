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
    #[error("no DHCP {0} within {1:?}")]
    Timeout(&'static str, Duration),
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

fn transaction_id(mac: [u8; 6]) -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]])
}

async fn reply(
    socket: &UdpSocket,
    xid: u32,
    want: &[u8],
    what: &'static str,
    timeout: Duration,
) -> Result<Offer, ExchangeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = vec![0u8; 1500];
    loop {
        let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .map_err(|_| ExchangeError::Timeout(what, timeout))?;
        let Ok((len, _)) = received else { continue };
        // Other clients' replies (another xid) and other message types are not ours.
        let Ok(offer) = Offer::parse(&buf[..len]) else {
            continue;
        };
        if offer.xid != xid {
            continue;
        }
        match offer.message_type {
            Some(NAK) => return Err(ExchangeError::Nak),
            Some(t) if want.contains(&t) => return Ok(offer),
            _ => {}
        }
    }
}

/// Runs DISCOVER/OFFER/REQUEST/ACK on `interface` for `mac` and returns the ACK, whose options
/// name the TFTP servers.
pub async fn exchange(
    interface: &str,
    mac: [u8; 6],
    timeout: Duration,
) -> Result<Offer, ExchangeError> {
    let fail = |e| ExchangeError::Socket(interface.to_owned(), e);
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(fail)?;
    socket.set_reuse_address(true).map_err(fail)?;
    socket.set_broadcast(true).map_err(fail)?;
    socket
        .bind_device(Some(interface.as_bytes()))
        .map_err(fail)?;
    socket
        .bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68)).into())
        .map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    let socket = UdpSocket::from_std(socket.into()).map_err(fail)?;
    let server = SocketAddr::from((Ipv4Addr::BROADCAST, 67));
    let xid = transaction_id(mac);
    socket
        .send_to(&message(DISCOVER, mac, xid, None), server)
        .await
        .map_err(fail)?;
    let offer = reply(&socket, xid, &[OFFER], "OFFER", timeout).await?;
    let (Some(address), Some(server_id)) = (offer.yiaddr, offer.server_id) else {
        return Err(ExchangeError::Malformed(DhcpError::ReplyShort(0)));
    };
    socket
        .send_to(
            &message(REQUEST, mac, xid, Some((address, server_id))),
            server,
        )
        .await
        .map_err(fail)?;
    reply(&socket, xid, &[ACK], "ACK", timeout).await
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
}
