//! How a device learns its TFTP servers from DHCP (spec cisco-tftp.md §5).
//!
//! Decoders are strict and say exactly what is wrong; nothing here panics on any input. The
//! precedence functions implement the seed's lists:
//!
//! - phones (§5.1): local "Alternate TFTP"; option 150 (first two addresses only); option 66;
//!   siaddr; sname (a host name only);
//! - gateways (§5.2): local setting; the DNS name CiscoCM1; siaddr; option 150; sname; option 66
//!   — with 66 and 150 both present the later one in the option list takes 150's place;
//! - IPv6 phones: local setting; DHCPv6 option 17 (enterprise 9) sub-option 1 (addresses, first
//!   two), then sub-option 2 (name).
//!
//! Where the seed is silent: a device takes its servers from the highest-precedence source that
//! is present and does not merge sources; a dotted address in sname is ignored (sname carries a
//! host name); sub-option 2 carries the name as plain ASCII text (its encoding is \[U\] in the
//! spec; a DNS wire-format name would be rejected with a reason).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// DHCPv4 option codes used here.
pub const OPTION_TFTP_NAME: u8 = 66;
pub const OPTION_TFTP_SERVERS: u8 = 150;
pub const OPTION_OVERLOAD: u8 = 52;
pub const OPTION_MESSAGE_TYPE: u8 = 53;
pub const OPTION_SERVER_ID: u8 = 54;
/// DHCPv6 Vendor-specific Information (RFC 8415 §21.17) and Cisco's enterprise number.
pub const OPTION6_VENDOR_OPTS: u16 = 17;
pub const CISCO_ENTERPRISE: u32 = 9;
/// Cisco's DHCPv6 vendor sub-options.
pub const SUBOPTION_TFTP_ADDRESSES: u16 = 1;
pub const SUBOPTION_TFTP_NAME: u16 = 2;

/// Why a DHCP value is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    #[error("option {0} is empty")]
    Empty(u16),
    #[error("option 150 is {0} bytes long, not a multiple of 4 (one IPv4 address each)")]
    Option150Length(usize),
    #[error("option 150 address #{0} is {1}, which is not a server address")]
    Option150Address(usize, Ipv4Addr),
    #[error("option 66 has a NUL byte inside the name")]
    Option66Nul,
    #[error("option 66 {0:?} is neither a host name nor a dotted IPv4 address")]
    Option66Name(String),
    #[error("option 17 is {0} bytes long, too short for an enterprise number")]
    Option17Short(usize),
    #[error("option 17 carries enterprise number {0}, not Cisco's ({CISCO_ENTERPRISE})")]
    Option17Enterprise(u32),
    #[error("option 17 sub-option at byte {0} is truncated")]
    Option17Truncated(usize),
    #[error(
        "option 17 sub-option 1 is {0} bytes long, not a multiple of 16 (one IPv6 address each)"
    )]
    SubOption1Length(usize),
    #[error("option 17 sub-option 2 {0:?} is neither a host name nor an IPv6 address")]
    SubOption2Name(String),
    #[error("DHCP reply of {0} bytes is shorter than the 240-byte header")]
    ReplyShort(usize),
    #[error("not a DHCP reply (op {0}, expected 2 = BOOTREPLY)")]
    NotAReply(u8),
    #[error("the DHCP magic cookie is missing")]
    NoCookie,
    #[error("DHCP option {0} at byte {1} runs past the end of the packet")]
    OptionTruncated(u8, usize),
    #[error("a DHCPv6 message of {0} bytes is shorter than its 4-byte header")]
    Reply6Short(usize),
    #[error("not a DHCPv6 REPLY or ADVERTISE (message type {0})")]
    NotAReply6(u8),
    #[error("a DHCPv6 option runs past the end of the {0}-byte message")]
    Option6Truncated(usize),
}

/// A TFTP server as DHCP names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Addr(IpAddr),
    /// A host name the device resolves with DNS (it may map to several addresses).
    Name(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Addr(a) => write!(f, "{a}"),
            Target::Name(n) => f.write_str(n),
        }
    }
}

/// Decodes option 150: one or more IPv4 addresses (RFC 5859).
pub fn decode_option150(value: &[u8]) -> Result<Vec<Ipv4Addr>, DhcpError> {
    if value.is_empty() {
        return Err(DhcpError::Empty(150));
    }
    if !value.len().is_multiple_of(4) {
        return Err(DhcpError::Option150Length(value.len()));
    }
    value
        .chunks_exact(4)
        .enumerate()
        .map(|(i, c)| {
            let a = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
            if a.is_unspecified() || a.is_broadcast() || a.is_multicast() {
                Err(DhcpError::Option150Address(i + 1, a))
            } else {
                Ok(a)
            }
        })
        .collect()
}

/// Decodes option 66: a host name or a dotted IPv4 address, NVT-ASCII; trailing NULs are
/// tolerated (RFC 2132 receivers must accept them).
pub fn decode_option66(value: &[u8]) -> Result<Target, DhcpError> {
    let trimmed = value
        .iter()
        .rposition(|&b| b != 0)
        .map_or(&[][..], |end| &value[..=end]);
    if trimmed.is_empty() {
        return Err(DhcpError::Empty(66));
    }
    if trimmed.contains(&0) {
        return Err(DhcpError::Option66Nul);
    }
    let text = String::from_utf8_lossy(trimmed).into_owned();
    if let Ok(addr) = text.parse::<Ipv4Addr>() {
        return Ok(Target::Addr(IpAddr::V4(addr)));
    }
    if is_host_name(&text) {
        Ok(Target::Name(text))
    } else {
        Err(DhcpError::Option66Name(text))
    }
}

/// What Cisco's DHCPv6 vendor option carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CiscoV6 {
    /// Sub-option 1.
    pub addresses: Vec<Ipv6Addr>,
    /// Sub-option 2.
    pub name: Option<Target>,
}

/// Decodes a DHCPv6 option 17 value with enterprise number 9; unknown sub-options are skipped.
pub fn decode_option17(value: &[u8]) -> Result<CiscoV6, DhcpError> {
    let (enterprise, mut rest) = value
        .split_first_chunk::<4>()
        .ok_or(DhcpError::Option17Short(value.len()))?;
    let enterprise = u32::from_be_bytes(*enterprise);
    if enterprise != CISCO_ENTERPRISE {
        return Err(DhcpError::Option17Enterprise(enterprise));
    }
    let mut out = CiscoV6::default();
    while !rest.is_empty() {
        let at = value.len() - rest.len();
        let (head, body) = rest
            .split_first_chunk::<4>()
            .ok_or(DhcpError::Option17Truncated(at))?;
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let data = body.get(..len).ok_or(DhcpError::Option17Truncated(at))?;
        rest = &body[len..];
        match code {
            SUBOPTION_TFTP_ADDRESSES => {
                if len == 0 || !len.is_multiple_of(16) {
                    return Err(DhcpError::SubOption1Length(len));
                }
                out.addresses.extend(data.chunks_exact(16).map(|c| {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(c);
                    Ipv6Addr::from(a)
                }));
            }
            SUBOPTION_TFTP_NAME => {
                let text = String::from_utf8_lossy(data).into_owned();
                out.name = Some(if let Ok(a) = text.parse::<Ipv6Addr>() {
                    Target::Addr(IpAddr::V6(a))
                } else if is_host_name(&text) {
                    Target::Name(text)
                } else {
                    return Err(DhcpError::SubOption2Name(text));
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Encodes Cisco's DHCPv6 option 17 value (for configuration output and tests).
pub fn encode_option17(addresses: &[Ipv6Addr], name: Option<&str>) -> Vec<u8> {
    let mut out = CISCO_ENTERPRISE.to_be_bytes().to_vec();
    if !addresses.is_empty() {
        out.extend_from_slice(&SUBOPTION_TFTP_ADDRESSES.to_be_bytes());
        out.extend_from_slice(
            &u16::try_from(addresses.len() * 16)
                .unwrap_or(u16::MAX)
                .to_be_bytes(),
        );
        for a in addresses {
            out.extend_from_slice(&a.octets());
        }
    }
    if let Some(name) = name {
        out.extend_from_slice(&SUBOPTION_TFTP_NAME.to_be_bytes());
        out.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    out
}

/// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, each 1..=63
/// long, 253 in all.
fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The parts of a DHCPv4 reply that name TFTP servers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Offer {
    /// The transaction id the reply answers.
    pub xid: u32,
    /// The address offered to the client (`yiaddr`).
    pub yiaddr: Option<Ipv4Addr>,
    /// Option 53: 2 OFFER, 5 ACK, 6 NAK.
    pub message_type: Option<u8>,
    /// Option 54: the DHCP server that answered.
    pub server_id: Option<Ipv4Addr>,
    pub siaddr: Option<Ipv4Addr>,
    /// sname, when it is not used for options (overload).
    pub sname: Option<String>,
    /// Option 150 as sent (validated when the precedence uses it).
    pub option150: Option<Vec<u8>>,
    /// Option 66 as sent.
    pub option66: Option<Vec<u8>>,
    /// Option codes in the order they appeared (the gateway rule for 66 vs 150 needs it).
    pub order: Vec<u8>,
}

impl Offer {
    /// Parses a DHCPv4 reply (RFC 2131 §2): the fixed header, the magic cookie and the options,
    /// including options overloaded into `file` and `sname` (option 52).
    pub fn parse(packet: &[u8]) -> Result<Self, DhcpError> {
        const SNAME: std::ops::Range<usize> = 44..108;
        const FILE: std::ops::Range<usize> = 108..236;
        if packet.len() < 240 {
            return Err(DhcpError::ReplyShort(packet.len()));
        }
        if packet[0] != 2 {
            return Err(DhcpError::NotAReply(packet[0]));
        }
        if packet[236..240] != [99, 130, 83, 99] {
            return Err(DhcpError::NoCookie);
        }
        let siaddr = Ipv4Addr::new(packet[20], packet[21], packet[22], packet[23]);
        let yiaddr = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
        let mut offer = Offer {
            xid: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
            yiaddr: (!yiaddr.is_unspecified()).then_some(yiaddr),
            siaddr: (!siaddr.is_unspecified()).then_some(siaddr),
            ..Offer::default()
        };
        let mut overload = 0u8;
        parse_options(packet, 240, &mut offer, &mut overload)?;
        // RFC 2132 §9.3: with overload, options continue in `file` (1), `sname` (2) or both (3).
        if overload & 1 != 0 {
            parse_options(&packet[..FILE.end], FILE.start, &mut offer, &mut 0)?;
        }
        if overload & 2 != 0 {
            parse_options(&packet[..SNAME.end], SNAME.start, &mut offer, &mut 0)?;
        } else {
            let field = &packet[SNAME];
            let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
            let text = String::from_utf8_lossy(&field[..end]).into_owned();
            offer.sname = (!text.is_empty()).then_some(text);
        }
        Ok(offer)
    }
}

fn parse_options(
    packet: &[u8],
    start: usize,
    offer: &mut Offer,
    overload: &mut u8,
) -> Result<(), DhcpError> {
    let mut i = start;
    while let Some(&code) = packet.get(i) {
        match code {
            0 => i += 1,
            255 => break,
            _ => {
                let len = usize::from(
                    *packet
                        .get(i + 1)
                        .ok_or(DhcpError::OptionTruncated(code, i))?,
                );
                let data = packet
                    .get(i + 2..i + 2 + len)
                    .ok_or(DhcpError::OptionTruncated(code, i))?;
                match code {
                    OPTION_TFTP_SERVERS => {
                        // RFC 3396: a long option may be split; the parts concatenate.
                        offer
                            .option150
                            .get_or_insert_with(Vec::new)
                            .extend_from_slice(data);
                    }
                    OPTION_TFTP_NAME => {
                        offer
                            .option66
                            .get_or_insert_with(Vec::new)
                            .extend_from_slice(data);
                    }
                    OPTION_OVERLOAD => *overload = data.first().copied().unwrap_or(0),
                    OPTION_MESSAGE_TYPE => offer.message_type = data.first().copied(),
                    OPTION_SERVER_ID => {
                        if let Ok(octets) = <[u8; 4]>::try_from(data) {
                            offer.server_id = Some(Ipv4Addr::from(octets));
                        }
                    }
                    _ => {}
                }
                offer.order.push(code);
                i += 2 + len;
            }
        }
    }
    Ok(())
}

/// Settings a device may have locally (the phone's "Alternate TFTP", a gateway's config).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Local {
    /// TFTP Server 1 and 2 set on the device; used instead of DHCP when present.
    pub servers: Vec<Target>,
}

/// Which source the servers came from, for the emulator's trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    Local,
    CiscoCm1,
    Option150,
    Option66,
    Siaddr,
    Sname,
    V6Addresses,
    V6Name,
}

/// The servers a phone tries, in order, and where they came from (spec §5.1). Malformed
/// options are skipped as a phone would skip them; the errors are returned for the trace.
pub fn phone_servers(
    local: &Local,
    offer: &Offer,
) -> (Option<(Chosen, Vec<Target>)>, Vec<DhcpError>) {
    let mut problems = Vec::new();
    if !local.servers.is_empty() {
        return (
            Some((
                Chosen::Local,
                local.servers.iter().take(2).cloned().collect(),
            )),
            problems,
        );
    }
    if let Some(raw) = &offer.option150 {
        match decode_option150(raw) {
            // Only the first two addresses are used.
            Ok(list) => {
                let servers = list
                    .into_iter()
                    .take(2)
                    .map(|a| Target::Addr(a.into()))
                    .collect();
                return (Some((Chosen::Option150, servers)), problems);
            }
            Err(e) => problems.push(e),
        }
    }
    if let Some(raw) = &offer.option66 {
        match decode_option66(raw) {
            Ok(t) => return (Some((Chosen::Option66, vec![t])), problems),
            Err(e) => problems.push(e),
        }
    }
    if let Some(a) = offer.siaddr {
        return (
            Some((Chosen::Siaddr, vec![Target::Addr(a.into())])),
            problems,
        );
    }
    if let Some(name) = sname_host(offer) {
        return (Some((Chosen::Sname, vec![name])), problems);
    }
    (None, problems)
}

/// The servers a gateway tries (spec §5.2). `cisco_cm1` is what the DNS name CiscoCM1 resolved
/// to, if it did.
pub fn gateway_servers(
    local: &Local,
    cisco_cm1: Option<IpAddr>,
    offer: &Offer,
) -> (Option<(Chosen, Vec<Target>)>, Vec<DhcpError>) {
    let mut problems = Vec::new();
    if !local.servers.is_empty() {
        return (Some((Chosen::Local, local.servers.clone())), problems);
    }
    if let Some(a) = cisco_cm1 {
        return (Some((Chosen::CiscoCm1, vec![Target::Addr(a)])), problems);
    }
    if let Some(a) = offer.siaddr {
        return (
            Some((Chosen::Siaddr, vec![Target::Addr(a.into())])),
            problems,
        );
    }
    let from150 = offer.option150.as_ref().and_then(|raw| {
        decode_option150(raw)
            .map_err(|e| problems.push(e))
            .ok()
            .map(|l| {
                l.into_iter()
                    .map(|a| Target::Addr(a.into()))
                    .collect::<Vec<_>>()
            })
    });
    let from66 = offer
        .option66
        .as_ref()
        .and_then(|raw| decode_option66(raw).map_err(|e| problems.push(e)).ok());
    // Both sent: the later one in the option list takes option 150's place.
    let position = |code| offer.order.iter().rposition(|&c| c == code);
    match (from150, from66) {
        (Some(_), Some(t)) if position(OPTION_TFTP_NAME) > position(OPTION_TFTP_SERVERS) => {
            return (Some((Chosen::Option66, vec![t])), problems);
        }
        (Some(list), _) => return (Some((Chosen::Option150, list)), problems),
        (None, from66) => {
            if let Some(name) = sname_host(offer) {
                return (Some((Chosen::Sname, vec![name])), problems);
            }
            if let Some(t) = from66 {
                return (Some((Chosen::Option66, vec![t])), problems);
            }
        }
    }
    (None, problems)
}

/// The servers an IPv6 phone tries: local, then sub-option 1 (first two), then sub-option 2.
pub fn phone_servers_v6(
    local: &Local,
    option17: Option<&[u8]>,
) -> (Option<(Chosen, Vec<Target>)>, Vec<DhcpError>) {
    if !local.servers.is_empty() {
        return (
            Some((
                Chosen::Local,
                local.servers.iter().take(2).cloned().collect(),
            )),
            Vec::new(),
        );
    }
    match option17.map(decode_option17) {
        Some(Ok(v6)) if !v6.addresses.is_empty() => {
            let servers = v6
                .addresses
                .into_iter()
                .take(2)
                .map(|a| Target::Addr(a.into()))
                .collect();
            (Some((Chosen::V6Addresses, servers)), Vec::new())
        }
        Some(Ok(CiscoV6 { name: Some(t), .. })) => (Some((Chosen::V6Name, vec![t])), Vec::new()),
        Some(Ok(_)) | None => (None, Vec::new()),
        Some(Err(e)) => (None, vec![e]),
    }
}

/// sname as a server: a host name only; a dotted address there is ignored (the seed: "DNS name
/// only, no dotted IP").
fn sname_host(offer: &Offer) -> Option<Target> {
    let name = offer.sname.as_deref()?;
    (name.parse::<Ipv4Addr>().is_err() && is_host_name(name)).then(|| Target::Name(name.to_owned()))
}
