//! A minimal TFTP responder, to measure the storm tool itself: one socket, no options, every
//! answer one datagram (the configuration fits in one block; trust lists and ring lists are
//! "not found"), ACKs ignored. Whatever rate a storm reaches against it is the ceiling of the
//! client side on this machine, not of any server.

use std::net::SocketAddr;

use phoneboot_tftp::ErrorCode;
use phoneboot_tftp::packet::{self, Packet};
use tokio::net::UdpSocket;

/// The configuration every phone gets: no load to fetch, no dial plan, no softkeys.
const CONFIG: &[u8] = b"<device>\n  <deviceProtocol>SIP</deviceProtocol>\n</device>\n";

/// Binds on `addr` and serves until the task is dropped; returns the bound address and the
/// serving future.
pub async fn bind(
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    // A big receive buffer: a storm starts a thousand requests at once, and a dropped one
    // costs the client a full retransmission timeout, which would be measured as the tool's.
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let raw = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let _ = raw.set_recv_buffer_size(8 << 20);
    raw.bind(&addr.into())?;
    raw.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(raw.into())?;
    let local = socket.local_addr()?;
    Ok((local, serve(socket)))
}

async fn serve(socket: UdpSocket) {
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    let mut out = vec![0u8; 600];
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Ok(Packet::Rrq(request)) = Packet::parse(&buf[..len]) else {
            continue; // ACKs and anything else need no answer
        };
        let name = String::from_utf8_lossy(request.filename);
        let written = if name.ends_with(".cnf.xml") {
            packet::write_data(&mut out, 1, CONFIG)
        } else {
            packet::write_error(&mut out, ErrorCode::FileNotFound, "File not found")
        };
        if let Some(n) = written {
            let _ = socket.send_to(&out[..n], from).await;
        }
    }
}
