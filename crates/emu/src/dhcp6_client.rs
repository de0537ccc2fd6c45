//! The client side of a stateless DHCPv6 exchange (RFC 8415 §18.2.6): an IPv6 phone that has
//! its address from router advertisements asks for configuration only, with an
//! INFORMATION-REQUEST to All_DHCP_Relay_Agents_and_Servers, and takes Cisco's vendor option
//! (17, enterprise 9) from the REPLY. The option's value then goes through the seed's
//! precedence ([`crate::dhcp::phone_servers_v6`]).

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dhcp::{CISCO_ENTERPRISE, OPTION6_VENDOR_OPTS};
use crate::dhcp_client::{ExchangeError, Retransmission, Step, ask, client_socket};

const INFORMATION_REQUEST: u8 = 11;
const REPLY: u8 = 7;

const OPTION_CLIENT_ID: u16 = 1;
const OPTION_SERVER_ID: u16 = 2;
const OPTION_ORO: u16 = 6;
const OPTION_ELAPSED_TIME: u16 = 8;
const OPTION_STATUS_CODE: u16 = 13;
const OPTION_VENDOR_CLASS: u16 = 16;
const OPTION_DNS_SERVERS: u16 = 23;
const OPTION_DOMAIN_LIST: u16 = 24;

/// ff02::1:2, port 547: every DHCPv6 server and relay on the link.
const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
const SERVER_PORT: u16 = 547;
const CLIENT_PORT: u16 = 546;

/// RFC 8415 §7.6: INF_TIMEOUT 1 s, INF_MAX_RT (3600 s) capped here at 64 s, as for DHCPv4.
const RFC_8415: Retransmission = Retransmission {
    first: Duration::from_secs(1),
    max: Duration::from_secs(64),
};

/// What the server's REPLY said that a phone uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Where the reply came from (the server's link-local address).
    pub server: Ipv6Addr,
    /// The value of option 17 with Cisco's enterprise number, if the server sent one.
    pub vendor_opts: Option<Vec<u8>>,
}

/// An INFORMATION-REQUEST from `mac` with transaction id `xid`: a DUID-LL client identifier,
/// an option request for the vendor options (17), DNS servers and domain list, and the vendor
/// class a Cisco phone sends (enterprise 9), so that a server knows whose vendor options to
/// send.
pub fn information_request(mac: [u8; 6], xid: [u8; 3], model: &str) -> Vec<u8> {
    let mut p = vec![INFORMATION_REQUEST, xid[0], xid[1], xid[2]];
    // DUID-LL (type 3), hardware type 1 (Ethernet).
    let mut duid = vec![0, 3, 0, 1];
    duid.extend_from_slice(&mac);
    push_option(&mut p, OPTION_CLIENT_ID, &duid);
    push_option(&mut p, OPTION_ELAPSED_TIME, &[0, 0]);
    let oro: Vec<u8> = [OPTION6_VENDOR_OPTS, OPTION_DNS_SERVERS, OPTION_DOMAIN_LIST]
        .iter()
        .flat_map(|c| c.to_be_bytes())
        .collect();
    push_option(&mut p, OPTION_ORO, &oro);
    let class = format!("Cisco Systems, Inc. IP Phone {model}");
    let mut vendor_class = CISCO_ENTERPRISE.to_be_bytes().to_vec();
    vendor_class.extend_from_slice(&u16::try_from(class.len()).unwrap_or(0).to_be_bytes());
    vendor_class.extend_from_slice(class.as_bytes());
    push_option(&mut p, OPTION_VENDOR_CLASS, &vendor_class);
    p
}

fn push_option(p: &mut Vec<u8>, code: u16, data: &[u8]) {
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(&u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes());
    p.extend_from_slice(data);
}

/// The options of a DHCPv6 message after its 4-byte header; `None` when one overruns the
/// message.
fn options(message: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let mut rest = message.get(4..)?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (head, body) = rest.split_first_chunk::<4>()?;
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        out.push((code, body.get(..len)?));
        rest = &body[len..];
    }
    Some(out)
}

/// Accepts the REPLY to `xid`; a REPLY with a failure status ends the exchange.
fn reply_to(xid: [u8; 3]) -> impl FnMut(&[u8], SocketAddr) -> Option<Result<Reply, ExchangeError>> {
    move |datagram, from| {
        if datagram.len() < 4 || datagram[0] != REPLY || datagram[1..4] != xid {
            return None;
        }
        let options = options(datagram)?;
        if !options.iter().any(|(c, _)| *c == OPTION_SERVER_ID) {
            return None; // RFC 8415 §16.10: a REPLY without a server id is discarded
        }
        if let Some((_, status)) = options.iter().find(|(c, _)| *c == OPTION_STATUS_CODE)
            && let Some((code, text)) = status.split_first_chunk::<2>()
            && *code != [0, 0]
        {
            return Some(Err(ExchangeError::Status(
                u16::from_be_bytes(*code),
                String::from_utf8_lossy(text).into_owned(),
            )));
        }
        let vendor_opts = options
            .iter()
            .filter(|(c, _)| *c == OPTION6_VENDOR_OPTS)
            .map(|(_, v)| *v)
            .find(|v| v.get(..4) == Some(&CISCO_ENTERPRISE.to_be_bytes()[..]))
            .map(<[u8]>::to_vec);
        let SocketAddr::V6(from) = from else {
            return None;
        };
        Some(Ok(Reply {
            server: *from.ip(),
            vendor_opts,
        }))
    }
}

/// Asks the DHCPv6 servers on `interface` for configuration (stateless: the phone's address
/// comes from router advertisements), as an IPv6 phone of `model` does at power-up.
pub async fn exchange(
    interface: &str,
    mac: [u8; 6],
    model: &str,
    timeout: Duration,
) -> Result<Reply, ExchangeError> {
    let socket = client_socket(
        interface,
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, CLIENT_PORT)),
    )?;
    let scope =
        interface_index(interface).map_err(|e| ExchangeError::Socket(interface.to_owned(), e))?;
    let server = SocketAddr::V6(SocketAddrV6::new(ALL_SERVERS, SERVER_PORT, 0, scope));
    let xid = transaction_id(mac);
    let mut step = Step {
        request: &information_request(mac, xid, model),
        what: "REPLY",
        accept: reply_to(xid),
    };
    ask(&socket, server, &mut step, RFC_8415, timeout).await
}

fn interface_index(name: &str) -> std::io::Result<u32> {
    let path = format!("/sys/class/net/{name}/ifindex");
    std::fs::read_to_string(&path)?
        .trim()
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{path}: {e}")))
}

fn transaction_id(mac: [u8; 6]) -> [u8; 3] {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let [_, a, b, c] = (nanos ^ u32::from_be_bytes([0, mac[3], mac[4], mac[5]])).to_be_bytes();
    [a, b, c]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::{decode_option17, encode_option17};

    #[test]
    fn an_information_request_asks_for_the_vendor_options_as_a_cisco_phone() {
        let m = information_request([0, 0x11, 0x22, 0xaa, 0xbb, 0xcc], [1, 2, 3], "CP-7965G");
        assert_eq!(&m[..4], &[INFORMATION_REQUEST, 1, 2, 3]);
        let options = options(&m).unwrap();
        let get = |code| options.iter().find(|(c, _)| *c == code).unwrap().1;
        assert_eq!(
            get(OPTION_CLIENT_ID),
            &[0, 3, 0, 1, 0, 0x11, 0x22, 0xaa, 0xbb, 0xcc]
        );
        assert_eq!(&get(OPTION_ORO)[..2], &OPTION6_VENDOR_OPTS.to_be_bytes());
        let class = get(OPTION_VENDOR_CLASS);
        assert_eq!(&class[..4], &CISCO_ENTERPRISE.to_be_bytes());
        assert!(String::from_utf8_lossy(&class[6..]).ends_with("IP Phone CP-7965G"));
    }

    fn reply(xid: [u8; 3], extra: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut p = vec![REPLY, xid[0], xid[1], xid[2]];
        push_option(&mut p, OPTION_SERVER_ID, &[0, 3, 0, 1, 1, 2, 3, 4, 5, 6]);
        for (code, data) in extra {
            push_option(&mut p, *code, data);
        }
        p
    }

    fn from() -> SocketAddr {
        "[fe80::1]:547".parse().unwrap()
    }

    #[test]
    fn the_reply_gives_ciscos_vendor_option_and_ignores_others() {
        let cisco = encode_option17(&["2001:db8::5".parse().unwrap()], None);
        let other_vendor = [0, 0, 0x11, 0x8b, 0, 1, 0, 0].to_vec(); // enterprise 4491
        let datagram = reply([1, 2, 3], &[(17, other_vendor), (17, cisco.clone())]);
        let got = reply_to([1, 2, 3])(&datagram, from()).unwrap().unwrap();
        assert_eq!(got.server, "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(got.vendor_opts.as_deref(), Some(&cisco[..]));
        assert_eq!(
            decode_option17(&cisco).unwrap().addresses,
            ["2001:db8::5".parse::<Ipv6Addr>().unwrap()]
        );
    }

    #[test]
    fn replies_that_are_not_ours_or_not_whole_are_passed_over() {
        let mut accept = reply_to([1, 2, 3]);
        assert!(
            accept(&reply([9, 9, 9], &[]), from()).is_none(),
            "another xid"
        );
        let mut advertise = reply([1, 2, 3], &[]);
        advertise[0] = 2;
        assert!(accept(&advertise, from()).is_none(), "not a REPLY");
        let mut cut = reply([1, 2, 3], &[(17, vec![0, 0, 0, 9])]);
        cut.truncate(cut.len() - 1);
        assert!(accept(&cut, from()).is_none(), "an option overruns");
        let no_server_id = vec![REPLY, 1, 2, 3];
        assert!(accept(&no_server_id, from()).is_none(), "no server id");
        assert!(accept(&[REPLY, 1], from()).is_none(), "too short");
    }

    #[test]
    fn no_datagram_makes_the_reply_reader_panic() {
        let mut accept = reply_to([1, 2, 3]);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..20_000usize {
            let mut datagram = vec![REPLY, 1, 2, 3];
            datagram.extend((0..round % 300).map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            }));
            if round % 2 == 0 {
                // Half of them with a well-formed server id first, to reach the rest.
                let mut with_id = reply([1, 2, 3], &[]);
                with_id.extend_from_slice(&datagram[4..]);
                datagram = with_id;
            }
            let _ = accept(&datagram, from());
        }
    }

    #[test]
    fn a_failure_status_ends_the_exchange_with_the_servers_words() {
        let mut status = 2u16.to_be_bytes().to_vec(); // NoAddrsAvail
        status.extend_from_slice(b"no addresses");
        let datagram = reply([1, 2, 3], &[(OPTION_STATUS_CODE, status)]);
        let got = reply_to([1, 2, 3])(&datagram, from()).unwrap();
        assert!(
            matches!(&got, Err(ExchangeError::Status(2, text)) if text == "no addresses"),
            "{got:?}"
        );
    }
}
