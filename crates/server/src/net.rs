//! Addresses as the listeners and the transfers both need them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// IPv4 clients of a dual-stack socket show up as `::ffff:a.b.c.d`; use the plain form.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The wildcard address of `client`'s family.
pub(crate) fn unspecified(client: SocketAddr) -> IpAddr {
    match client {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}
