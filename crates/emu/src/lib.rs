//! `phoneboot-emu`: what a Cisco device does before and during its boot.
//!
//! - [`dhcp`]: decoding the DHCP options that name TFTP servers (150, 66, DHCPv6 17 with
//!   Cisco's sub-options) and a DHCPv4 reply, and the seed's precedence rules that turn them
//!   into the list of servers a phone or a gateway tries.
//!
//! - [`dhcp_client`], [`dhcp6_client`]: the device's side of a real DHCPv4 exchange and of a
//!   stateless DHCPv6 one, on a network interface.
//!
//! - [`boot`]: a device's boot against its servers: the file order of its model family, and
//!   the seed's rules for busy and silent servers.
//!
//! - [`net`]: fetching from real servers over TFTP (phoneboot's client engine) and HTTP 6970.
//!
//! - [`storm`]: many devices booting at once or at a rate, measured.
//!
//! - [`flood`]: what a hostile or broken network sends to the request port meanwhile.
//!
//! - [`impair`]: a lossy, duplicating, reordering path between clients and a server.

pub mod boot;
pub mod dhcp;
pub mod dhcp6_client;
pub mod dhcp_client;
pub mod flood;
pub mod impair;
pub mod net;
pub mod report;
pub mod responder;
pub mod storm;
