//! The client side of a DHCPv6 exchange (RFC 8415), as an IPv6 phone does it at power-up:
//! stateless (§18.2.6: the address comes from router advertisements; an INFORMATION-REQUEST to
//! All_DHCP_Relay_Agents_and_Servers asks for configuration only) or stateful (§18.2.1: SOLICIT,
//! ADVERTISE, REQUEST, REPLY, leasing an address in an IA_NA). Either way the phone takes
//! Cisco's vendor option (17, enterprise 9) from the REPLY; its value then goes through the
//! seed's precedence ([`crate::dhcp::phone_servers_v6`]).

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use crate::dhcp::{CISCO_ENTERPRISE, DhcpError, OPTION6_VENDOR_OPTS};
use crate::dhcp_client::{ExchangeError, Retransmission, Step, ask, client_socket, transaction_id};

const SOLICIT: u8 = 1;
const ADVERTISE: u8 = 2;
const REQUEST: u8 = 3;
const REPLY: u8 = 7;
const INFORMATION_REQUEST: u8 = 11;

const OPTION_CLIENT_ID: u16 = 1;
const OPTION_SERVER_ID: u16 = 2;
const OPTION_IA_NA: u16 = 3;
const OPTION_IAADDR: u16 = 5;
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

/// RFC 8415 §7.6: every first retransmission after 1 s (INF_, SOL_, REQ_TIMEOUT), then
/// doubling; the maxima (3600 s, 30 s) are capped here at 64 s, as for DHCPv4.
const RFC_8415: Retransmission = Retransmission {
    first: Duration::from_secs(1),
    max: Duration::from_secs(64),
};

/// How the phone comes by its address, which decides the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From router advertisements; DHCPv6 gives the configuration only.
    Stateless,
    /// Leased over DHCPv6, with the configuration.
    Stateful,
}

/// What the server's REPLY said that a phone uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Where the reply came from (the server's link-local address).
    pub server: Ipv6Addr,
    /// The value of option 17 with Cisco's enterprise number, if the server sent one.
    pub vendor_opts: Option<Vec<u8>>,
    /// The leased address (stateful only).
    pub address: Option<Ipv6Addr>,
}

/// What one answer (ADVERTISE or REPLY) carried.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    from: Ipv6Addr,
    server_id: Vec<u8>,
    vendor_opts: Option<Vec<u8>>,
    address: Option<Ipv6Addr>,
}

/// A message of `kind` from `mac` with transaction id `xid`: a DUID-LL client identifier, an
/// option request for the vendor options (17), DNS servers and domain list, the vendor class a
/// Cisco phone sends (enterprise 9, so that a server knows whose vendor options to send), then
/// `extra` options.
pub fn message(
    kind: u8,
    mac: [u8; 6],
    xid: [u8; 3],
    model: &str,
    extra: &[(u16, &[u8])],
) -> Vec<u8> {
    let mut p = vec![kind, xid[0], xid[1], xid[2]];
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
    for (code, data) in extra {
        push_option(&mut p, *code, data);
    }
    p
}

/// An IA_NA (identity association for a non-temporary address), asking for `address` when
/// one is known (a REQUEST for what was advertised); T1 and T2 left to the server.
fn ia_na(iaid: [u8; 4], address: Option<Ipv6Addr>) -> Vec<u8> {
    let mut ia = iaid.to_vec();
    ia.extend_from_slice(&[0; 8]);
    if let Some(address) = address {
        let mut iaaddr = address.octets().to_vec();
        iaaddr.extend_from_slice(&[0; 8]);
        push_option(&mut ia, OPTION_IAADDR, &iaaddr);
    }
    ia
}

fn push_option(p: &mut Vec<u8>, code: u16, data: &[u8]) {
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(&u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes());
    p.extend_from_slice(data);
}

/// The options in `data` (a message after its 4-byte header, or an option's body); `None`
/// when one overruns it.
fn options(mut rest: &[u8]) -> Option<Vec<(u16, &[u8])>> {
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

/// A failure status among `options`, as the exchange's error.
fn failure(options: &[(u16, &[u8])]) -> Option<ExchangeError> {
    let (_, status) = options.iter().find(|(c, _)| *c == OPTION_STATUS_CODE)?;
    let (code, text) = status.split_first_chunk::<2>()?;
    (*code != [0, 0]).then(|| {
        ExchangeError::Status(
            u16::from_be_bytes(*code),
            String::from_utf8_lossy(text).into_owned(),
        )
    })
}

/// The address an IA_NA's body carries; the IA's own failure status (NoAddrsAvail) as an
/// error. `Ok(None)` when it is malformed (the answer is then passed over).
fn leased(ia: &[u8]) -> Result<Option<Ipv6Addr>, ExchangeError> {
    let Some(inner) = ia.get(12..).and_then(options) else {
        return Ok(None);
    };
    if let Some(e) = failure(&inner) {
        return Err(e);
    }
    Ok(inner
        .iter()
        .filter(|(c, _)| *c == OPTION_IAADDR)
        .find_map(|(_, a)| a.first_chunk::<16>())
        .map(|a| Ipv6Addr::from(*a)))
}

/// Accepts the answer of type `want` to `xid`; a failure status ends the exchange. With
/// `lease`, an answer must carry an address in an IA_NA.
fn answer_to(
    xid: [u8; 3],
    want: u8,
    lease: bool,
) -> impl FnMut(&[u8], SocketAddr) -> Option<Result<Answer, ExchangeError>> {
    move |datagram, from| {
        let (header, body) = datagram.split_first_chunk::<4>()?;
        if header[0] != want || header[1..] != xid {
            return None;
        }
        let options = options(body)?;
        // RFC 8415 §16.3, §16.10: an answer without a server id is discarded.
        let server_id = options
            .iter()
            .find(|(c, _)| *c == OPTION_SERVER_ID)?
            .1
            .to_vec();
        if let Some(e) = failure(&options) {
            return Some(Err(e));
        }
        let address = match options.iter().find(|(c, _)| *c == OPTION_IA_NA) {
            Some((_, ia)) => match leased(ia) {
                Ok(address) => address,
                Err(e) => return Some(Err(e)),
            },
            None => None,
        };
        if lease && address.is_none() {
            return None;
        }
        let vendor_opts = cisco_vendor_opts(&options);
        let SocketAddr::V6(from) = from else {
            return None;
        };
        Some(Ok(Answer {
            from: *from.ip(),
            server_id,
            vendor_opts,
            address,
        }))
    }
}

/// The Cisco option 17 value of a captured DHCPv6 REPLY or ADVERTISE (the UDP payload), as a
/// phone would take it; `Ok(None)` when the message carries none.
pub fn vendor_opts_of(message: &[u8]) -> Result<Option<Vec<u8>>, DhcpError> {
    let Some((header, body)) = message.split_first_chunk::<4>() else {
        return Err(DhcpError::Reply6Short(message.len()));
    };
    if header[0] != REPLY && header[0] != ADVERTISE {
        return Err(DhcpError::NotAReply6(header[0]));
    }
    let options = options(body).ok_or(DhcpError::Option6Truncated(message.len()))?;
    Ok(cisco_vendor_opts(&options))
}

/// The value of the option 17 among `options` that carries Cisco's enterprise number.
fn cisco_vendor_opts(options: &[(u16, &[u8])]) -> Option<Vec<u8>> {
    options
        .iter()
        .filter(|(c, _)| *c == OPTION6_VENDOR_OPTS)
        .map(|(_, v)| *v)
        .find(|v| v.get(..4) == Some(&CISCO_ENTERPRISE.to_be_bytes()[..]))
        .map(<[u8]>::to_vec)
}

/// Runs the exchange of `mode` on `interface` as an IPv6 phone of `model` with `mac` does at
/// power-up; each answer is waited for at most `timeout`, the request re-sent meanwhile.
pub async fn exchange(
    interface: &str,
    mac: [u8; 6],
    model: &str,
    mode: Mode,
    timeout: Duration,
) -> Result<Reply, ExchangeError> {
    let socket = client_socket(
        interface,
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, CLIENT_PORT)),
    )?;
    let scope =
        interface_index(interface).map_err(|e| ExchangeError::Socket(interface.to_owned(), e))?;
    let server = SocketAddr::V6(SocketAddrV6::new(ALL_SERVERS, SERVER_PORT, 0, scope));
    // DHCPv6 transaction ids are 3 bytes: the low ones of a DHCPv4-style id.
    let [_, a, b, c] = transaction_id(mac).to_be_bytes();
    let xid = [a, b, c];
    let answer = match mode {
        Mode::Stateless => {
            let mut step = Step {
                request: &message(INFORMATION_REQUEST, mac, xid, model, &[]),
                what: "REPLY",
                accept: answer_to(xid, REPLY, false),
            };
            ask(&socket, server, &mut step, RFC_8415, timeout).await?
        }
        Mode::Stateful => {
            let iaid = [mac[2], mac[3], mac[4], mac[5]];
            let mut solicit = Step {
                request: &message(
                    SOLICIT,
                    mac,
                    xid,
                    model,
                    &[(OPTION_IA_NA, &ia_na(iaid, None))],
                ),
                what: "ADVERTISE",
                accept: answer_to(xid, ADVERTISE, true),
            };
            let advertised = ask(&socket, server, &mut solicit, RFC_8415, timeout).await?;
            // A new transaction for the REQUEST (RFC 8415 §18.2.2), to the server that
            // advertised, for the address it offered.
            let xid = [xid[0], xid[1], xid[2].wrapping_add(1)];
            let ia = ia_na(iaid, advertised.address);
            let request = message(
                REQUEST,
                mac,
                xid,
                model,
                &[
                    (OPTION_SERVER_ID, &advertised.server_id),
                    (OPTION_IA_NA, &ia),
                ],
            );
            let mut step = Step {
                request: &request,
                what: "REPLY",
                accept: answer_to(xid, REPLY, true),
            };
            ask(&socket, server, &mut step, RFC_8415, timeout).await?
        }
    };
    Ok(Reply {
        server: answer.from,
        vendor_opts: answer.vendor_opts,
        address: answer.address,
    })
}

fn interface_index(name: &str) -> std::io::Result<u32> {
    let path = format!("/sys/class/net/{name}/ifindex");
    std::fs::read_to_string(&path)?
        .trim()
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{path}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::{decode_option17, encode_option17};

    #[test]
    fn an_information_request_asks_for_the_vendor_options_as_a_cisco_phone() {
        let m = message(
            INFORMATION_REQUEST,
            [0, 0x11, 0x22, 0xaa, 0xbb, 0xcc],
            [1, 2, 3],
            "CP-7965G",
            &[],
        );
        assert_eq!(&m[..4], &[INFORMATION_REQUEST, 1, 2, 3]);
        let options = options(&m[4..]).unwrap();
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
        let got = answer_to([1, 2, 3], REPLY, false)(&datagram, from())
            .unwrap()
            .unwrap();
        assert_eq!(got.from, "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(got.vendor_opts.as_deref(), Some(&cisco[..]));
        assert_eq!(
            decode_option17(&cisco).unwrap().addresses,
            ["2001:db8::5".parse::<Ipv6Addr>().unwrap()]
        );
    }

    #[test]
    fn replies_that_are_not_ours_or_not_whole_are_passed_over() {
        let mut accept = answer_to([1, 2, 3], REPLY, false);
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
        let mut accept = answer_to([1, 2, 3], REPLY, false);
        let mut stateful = answer_to([1, 2, 3], REPLY, true);
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
            let _ = stateful(&datagram, from());
            // The same bytes as the body of an IA_NA.
            let mut with_ia = reply([1, 2, 3], &[]);
            push_option(&mut with_ia, OPTION_IA_NA, &datagram[4..]);
            let _ = stateful(&with_ia, from());
        }
    }

    fn ia(address: Option<&str>, status: Option<(u16, &str)>) -> Vec<u8> {
        let mut ia = ia_na(
            [0xaa, 0xbb, 0xcc, 0xdd],
            address.map(|a| a.parse().unwrap()),
        );
        if let Some((code, text)) = status {
            let mut data = code.to_be_bytes().to_vec();
            data.extend_from_slice(text.as_bytes());
            push_option(&mut ia, OPTION_STATUS_CODE, &data);
        }
        ia
    }

    #[test]
    fn a_stateful_answer_gives_the_leased_address() {
        let mut advertise = reply(
            [1, 2, 3],
            &[(OPTION_IA_NA, ia(Some("2001:db8::100"), None))],
        );
        advertise[0] = ADVERTISE;
        let got = answer_to([1, 2, 3], ADVERTISE, true)(&advertise, from())
            .unwrap()
            .unwrap();
        assert_eq!(got.address, Some("2001:db8::100".parse().unwrap()));
        assert_eq!(got.server_id, [0, 3, 0, 1, 1, 2, 3, 4, 5, 6]);
        // The REQUEST names that server and asks for that address.
        let request = message(
            REQUEST,
            [0, 0x11, 0x22, 0xaa, 0xbb, 0xcc],
            [1, 2, 4],
            "CP-8845",
            &[
                (OPTION_SERVER_ID, &got.server_id),
                (OPTION_IA_NA, &ia_na([0x22, 0xaa, 0xbb, 0xcc], got.address)),
            ],
        );
        let options = options(&request[4..]).unwrap();
        let ia_body = options.iter().find(|(c, _)| *c == OPTION_IA_NA).unwrap().1;
        assert_eq!(leased(ia_body).unwrap(), got.address);
        assert!(
            options
                .iter()
                .any(|(c, v)| *c == OPTION_SERVER_ID && *v == got.server_id)
        );
    }

    #[test]
    fn no_address_in_a_stateful_answer_is_no_answer_and_no_addrs_avail_is_an_error() {
        let mut accept = answer_to([1, 2, 3], REPLY, true);
        assert!(accept(&reply([1, 2, 3], &[]), from()).is_none(), "no IA_NA");
        assert!(
            accept(&reply([1, 2, 3], &[(OPTION_IA_NA, ia(None, None))]), from()).is_none(),
            "an IA_NA without an address"
        );
        let refused = reply(
            [1, 2, 3],
            &[(OPTION_IA_NA, ia(None, Some((2, "no addresses left"))))],
        );
        let got = accept(&refused, from()).unwrap();
        assert!(
            matches!(&got, Err(ExchangeError::Status(2, text)) if text == "no addresses left"),
            "{got:?}"
        );
    }

    #[test]
    fn a_captured_reply_gives_its_cisco_option_or_says_why_not() {
        let cisco = encode_option17(&["2001:db8::5".parse().unwrap()], Some("tftp.example"));
        let captured = reply([1, 2, 3], &[(17, cisco.clone())]);
        assert_eq!(vendor_opts_of(&captured), Ok(Some(cisco)));
        assert_eq!(vendor_opts_of(&reply([1, 2, 3], &[])), Ok(None));
        let mut solicit = captured.clone();
        solicit[0] = 1;
        assert_eq!(vendor_opts_of(&solicit), Err(DhcpError::NotAReply6(1)));
        assert_eq!(vendor_opts_of(&[7, 0]), Err(DhcpError::Reply6Short(2)));
        let cut = &captured[..captured.len() - 1];
        assert_eq!(
            vendor_opts_of(cut),
            Err(DhcpError::Option6Truncated(cut.len()))
        );
    }

    #[test]
    fn a_failure_status_ends_the_exchange_with_the_servers_words() {
        let mut status = 2u16.to_be_bytes().to_vec(); // NoAddrsAvail
        status.extend_from_slice(b"no addresses");
        let datagram = reply([1, 2, 3], &[(OPTION_STATUS_CODE, status)]);
        let got = answer_to([1, 2, 3], REPLY, false)(&datagram, from()).unwrap();
        assert!(
            matches!(&got, Err(ExchangeError::Status(2, text)) if text == "no addresses"),
            "{got:?}"
        );
    }
}
