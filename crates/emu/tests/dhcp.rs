//! The seed's TFTP-server precedence for phones, gateways and IPv6 phones, table-driven, from
//! real DHCP reply bytes; and the decoders' exact errors on malformed values.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use phoneboot_emu::dhcp::*;

/// Builds a DHCPv4 reply: siaddr, sname and options in the order given.
fn reply(siaddr: [u8; 4], sname: &str, options: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 2; // BOOTREPLY
    p[1] = 1;
    p[2] = 6;
    p[20..24].copy_from_slice(&siaddr);
    p[44..44 + sname.len()].copy_from_slice(sname.as_bytes());
    p.extend_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(&[53, 1, 5]); // DHCPACK
    for (code, data) in options {
        p.push(*code);
        p.push(u8::try_from(data.len()).unwrap());
        p.extend_from_slice(data);
    }
    p.push(255);
    p
}

fn o150(addrs: &[[u8; 4]]) -> (u8, Vec<u8>) {
    (150, addrs.concat())
}

fn o66(text: &str) -> (u8, Vec<u8>) {
    (66, text.as_bytes().to_vec())
}

fn show(result: &(Option<(Chosen, Vec<Target>)>, Vec<DhcpError>)) -> String {
    match &result.0 {
        None => "none".into(),
        Some((chosen, servers)) => format!(
            "{chosen:?}: {}",
            servers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

const NONE: [u8; 4] = [0, 0, 0, 0];
const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];
const C: [u8; 4] = [10, 0, 0, 3];
const S: [u8; 4] = [10, 9, 9, 9];

#[test]
fn phones_follow_the_seed_precedence() {
    let cases: Vec<(&str, Vec<u8>, Local, &str)> = vec![
        (
            "150 with three addresses: only the first two",
            reply(NONE, "", &[o150(&[A, B, C])]),
            Local::default(),
            "Option150: 10.0.0.1, 10.0.0.2",
        ),
        (
            "66 then 150: 150 wins for a phone",
            reply(NONE, "", &[o66("tftp.example"), o150(&[A])]),
            Local::default(),
            "Option150: 10.0.0.1",
        ),
        (
            "150 then 66: 150 wins for a phone",
            reply(NONE, "", &[o150(&[A]), o66("tftp.example")]),
            Local::default(),
            "Option150: 10.0.0.1",
        ),
        (
            "66 with a name",
            reply(S, "", &[o66("tftp.example")]),
            Local::default(),
            "Option66: tftp.example",
        ),
        (
            "66 with a dotted address",
            reply(NONE, "", &[o66("10.0.0.7")]),
            Local::default(),
            "Option66: 10.0.0.7",
        ),
        (
            "66 with a trailing NUL",
            reply(NONE, "", &[(66, b"tftp.example\0".to_vec())]),
            Local::default(),
            "Option66: tftp.example",
        ),
        (
            "siaddr beats sname",
            reply(S, "boot.example", &[]),
            Local::default(),
            "Siaddr: 10.9.9.9",
        ),
        (
            "sname as a host name",
            reply(NONE, "boot.example", &[]),
            Local::default(),
            "Sname: boot.example",
        ),
        (
            "sname holding a dotted address is ignored",
            reply(NONE, "10.0.0.8", &[]),
            Local::default(),
            "none",
        ),
        (
            "malformed 150 is skipped for 66",
            reply(NONE, "", &[(150, vec![10, 0, 0]), o66("tftp.example")]),
            Local::default(),
            "Option66: tftp.example",
        ),
        (
            "local Alternate TFTP overrides DHCP",
            reply(S, "", &[o150(&[A])]),
            Local {
                servers: vec![
                    Target::Name("local1".into()),
                    Target::Name("local2".into()),
                    Target::Name("local3".into()),
                ],
            },
            "Local: local1, local2",
        ),
        (
            "nothing at all",
            reply(NONE, "", &[]),
            Local::default(),
            "none",
        ),
    ];
    for (what, packet, local, expect) in cases {
        let offer = Offer::parse(&packet).unwrap();
        assert_eq!(show(&phone_servers(&local, &offer)), expect, "{what}");
    }
    let offer = Offer::parse(&reply(NONE, "", &[(150, vec![10, 0, 0]), o66("x")])).unwrap();
    let (_, problems) = phone_servers(&Local::default(), &offer);
    assert_eq!(
        problems,
        [DhcpError::Option150Length(3)],
        "the skipped option is reported"
    );
}

#[test]
fn gateways_follow_the_seed_precedence() {
    let cm1 = Some(IpAddr::V4(Ipv4Addr::new(10, 5, 5, 5)));
    let cases: Vec<(&str, Vec<u8>, Option<IpAddr>, &str)> = vec![
        (
            "CiscoCM1 beats DHCP",
            reply(S, "", &[o150(&[A])]),
            cm1,
            "CiscoCm1: 10.5.5.5",
        ),
        (
            "siaddr beats option 150",
            reply(S, "", &[o150(&[A])]),
            None,
            "Siaddr: 10.9.9.9",
        ),
        (
            "150 then 66: the later, 66, wins",
            reply(NONE, "", &[o150(&[A]), o66("gw-tftp.example")]),
            None,
            "Option66: gw-tftp.example",
        ),
        (
            "66 then 150: the later, 150, wins",
            reply(NONE, "", &[o66("gw-tftp.example"), o150(&[A, B, C])]),
            None,
            "Option150: 10.0.0.1, 10.0.0.2, 10.0.0.3",
        ),
        (
            "sname before 66",
            reply(NONE, "boot.example", &[o66("gw-tftp.example")]),
            None,
            "Sname: boot.example",
        ),
        (
            "66 alone, dotted",
            reply(NONE, "", &[o66("10.0.0.7")]),
            None,
            "Option66: 10.0.0.7",
        ),
        (
            "sname dotted is ignored, 66 used",
            reply(NONE, "10.0.0.8", &[o66("gw.example")]),
            None,
            "Option66: gw.example",
        ),
    ];
    for (what, packet, cm1, expect) in cases {
        let offer = Offer::parse(&packet).unwrap();
        assert_eq!(
            show(&gateway_servers(&Local::default(), cm1, &offer)),
            expect,
            "{what}"
        );
    }
}

#[test]
fn ipv6_phones_use_cisco_sub_options_1_then_2() {
    let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let b: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let c: Ipv6Addr = "2001:db8::3".parse().unwrap();
    let both = encode_option17(&[a, b, c], Some("tftp6.example"));
    assert_eq!(
        show(&phone_servers_v6(&Local::default(), Some(&both))),
        "V6Addresses: 2001:db8::1, 2001:db8::2"
    );
    let name_only = encode_option17(&[], Some("tftp6.example"));
    assert_eq!(
        show(&phone_servers_v6(&Local::default(), Some(&name_only))),
        "V6Name: tftp6.example"
    );
    // An unknown sub-option is skipped.
    let mut with_unknown = encode_option17(&[a], None);
    with_unknown.extend_from_slice(&[0, 99, 0, 2, 7, 7]);
    assert_eq!(decode_option17(&with_unknown).unwrap().addresses, [a]);
    let (none, problems) = phone_servers_v6(&Local::default(), Some(&[0, 0, 0, 8]));
    assert!(none.is_none());
    assert_eq!(problems, [DhcpError::Option17Enterprise(8)]);
}

#[test]
fn malformed_values_are_rejected_with_the_exact_reason() {
    assert_eq!(decode_option150(&[]), Err(DhcpError::Empty(150)));
    assert_eq!(
        decode_option150(&[1, 2, 3, 4, 5]),
        Err(DhcpError::Option150Length(5))
    );
    assert_eq!(
        decode_option150(&[10, 0, 0, 1, 0, 0, 0, 0]),
        Err(DhcpError::Option150Address(2, Ipv4Addr::UNSPECIFIED))
    );
    assert_eq!(
        decode_option150(&[255; 4]),
        Err(DhcpError::Option150Address(1, Ipv4Addr::BROADCAST))
    );
    assert_eq!(decode_option66(b""), Err(DhcpError::Empty(66)));
    assert_eq!(decode_option66(b"\0\0"), Err(DhcpError::Empty(66)));
    assert_eq!(decode_option66(b"tf\0tp"), Err(DhcpError::Option66Nul));
    assert_eq!(
        decode_option66(b"bad name!"),
        Err(DhcpError::Option66Name("bad name!".into()))
    );
    assert_eq!(
        decode_option66(b"-x.example"),
        Err(DhcpError::Option66Name("-x.example".into()))
    );
    assert_eq!(decode_option17(&[0, 0]), Err(DhcpError::Option17Short(2)));
    assert_eq!(
        decode_option17(&[0, 0, 0, 9, 0, 1, 0, 16, 1]),
        Err(DhcpError::Option17Truncated(4))
    );
    assert_eq!(
        decode_option17(&[0, 0, 0, 9, 0, 1, 0, 3, 1, 2, 3]),
        Err(DhcpError::SubOption1Length(3))
    );
    assert_eq!(
        decode_option17(&[0, 0, 0, 9, 0, 2, 0, 2, b'a', b' ']),
        Err(DhcpError::SubOption2Name("a ".into()))
    );
}

#[test]
fn malformed_replies_are_rejected_and_overload_is_followed() {
    assert_eq!(Offer::parse(&[0; 100]), Err(DhcpError::ReplyShort(100)));
    let mut request = reply(NONE, "", &[]);
    request[0] = 1;
    assert_eq!(Offer::parse(&request), Err(DhcpError::NotAReply(1)));
    let mut no_cookie = reply(NONE, "", &[]);
    no_cookie[236] = 0;
    assert_eq!(Offer::parse(&no_cookie), Err(DhcpError::NoCookie));
    let mut truncated = reply(NONE, "", &[]);
    truncated.pop();
    truncated.extend_from_slice(&[150, 8, 10, 0]);
    assert_eq!(
        Offer::parse(&truncated),
        Err(DhcpError::OptionTruncated(150, 243))
    );

    // Option 52 = 2: the sname field carries options (here option 66), not a host name.
    let mut overloaded = reply(NONE, "", &[(52, vec![2])]);
    let in_sname = [
        66u8, 12, b'o', b'v', b'e', b'r', b'.', b'e', b'x', b'a', b'm', b'p', b'l', b'e', 255,
    ];
    overloaded[44..44 + in_sname.len()].copy_from_slice(&in_sname);
    let offer = Offer::parse(&overloaded).unwrap();
    assert_eq!(offer.sname, None);
    assert_eq!(
        show(&phone_servers(&Local::default(), &offer)),
        "Option66: over.example"
    );
}

#[test]
fn no_input_makes_a_decoder_panic() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for round in 0..20_000usize {
        let len = round % 400;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect();
        let _ = decode_option150(&data);
        let _ = decode_option66(&data);
        let _ = decode_option17(&data);
        let mut packet = reply(NONE, "", &[]);
        packet.truncate(240);
        packet.extend_from_slice(&data);
        if let Ok(offer) = Offer::parse(&packet) {
            let _ = phone_servers(&Local::default(), &offer);
            let _ = gateway_servers(&Local::default(), None, &offer);
        }
    }
}
