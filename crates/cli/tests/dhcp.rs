//! `phoneboot dhcp`: configuration a DHCP server accepts, and a decoder that explains or rejects.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::process::Command;

use support::*;

fn run(args: &[&str]) -> (bool, String, String) {
    phoneboot(&[&["dhcp"], args].concat())
}

#[test]
fn config_for_addresses_uses_option_150_in_every_server_syntax() {
    let (ok, text, err) = run(&["config", "10.0.0.5", "10.0.0.6"]);
    assert!(ok, "{err}");
    for line in [
        "option tftp-servers code 150 = array of ip-address;",
        "option tftp-servers 10.0.0.5, 10.0.0.6;",
        "\"code\": 150",
        "dhcp-option=150,10.0.0.5,10.0.0.6",
        " option 150 ip 10.0.0.5 10.0.0.6",
        "Do not also send option 66",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("WARNING"));
    let (_, three, _) = run(&["config", "10.0.0.5", "10.0.0.6", "10.0.0.7"]);
    assert!(three.contains("WARNING: 3 addresses given; phones ignore all but the first two"));
}

#[test]
fn config_for_a_name_uses_option_66_and_refuses_mixing() {
    let (ok, text, _) = run(&["config", "tftp.example.com"]);
    assert!(ok);
    assert!(text.contains("option tftp-server-name \"tftp.example.com\";"));
    assert!(text.contains("dhcp-option=66,\"tftp.example.com\""));
    assert!(text.contains(" option 66 ascii tftp.example.com"));
    let (ok, _, err) = run(&["config", "10.0.0.5", "tftp.example.com"]);
    assert!(!ok && err.contains("not both"), "{err}");
    let (ok, _, err) = run(&["config", "a.example", "b.example"]);
    assert!(!ok && err.contains("carries one name"), "{err}");
    let (ok, _, err) = run(&["config", "not a name!"]);
    assert!(
        !ok && err.contains("neither an IPv4 address nor a host name"),
        "{err}"
    );
}

#[test]
fn ipv6_config_gives_a_value_the_decoder_reads_back() {
    let (ok, text, err) = run(&[
        "config",
        "--v6",
        "2001:db8::5",
        "--v6",
        "2001:db8::6",
        "--v6-name",
        "tftp6.example",
    ]);
    assert!(ok, "{err}");
    assert!(text.contains("option vsio.cisco code 9 = encapsulate cisco;"));
    assert!(text.contains("option cisco.tftp-servers 2001:db8::5, 2001:db8::6;"));
    assert!(text.contains("\"space\": \"vendor-9\""));
    let hex = text
        .lines()
        .find_map(|l| l.split("takes one: ").nth(1))
        .unwrap()
        .trim()
        .to_owned();
    let (ok, decoded, err) = run(&["decode", "17", &hex]);
    assert!(ok, "{err}");
    assert!(
        decoded.contains("sub-option 1, TFTP server addresses: 2001:db8::5, 2001:db8::6"),
        "{decoded}"
    );
    assert!(
        decoded.contains("sub-option 2, TFTP server name: tftp6.example"),
        "{decoded}"
    );
}

#[test]
fn decode_explains_good_values_and_rejects_bad_ones_with_the_reason() {
    for (args, expect) in [
        (
            vec!["decode", "150", "0a000005", "0a:00:00:06"],
            "option 150: 2 TFTP server address(es): 10.0.0.5, 10.0.0.6",
        ),
        (
            vec!["decode", "150", "0x0a0000050a0000060a000007"],
            "phones use only the first two",
        ),
        (
            vec!["decode", "66", "7466747000"],
            "option 66: TFTP server by host name tftp",
        ),
        (
            vec!["decode", "66", "31302e302e302e35"],
            "option 66: TFTP server at the dotted address 10.0.0.5",
        ),
    ] {
        let (ok, out, err) = run(&args);
        assert!(ok, "{args:?}: {err}");
        assert!(out.contains(expect), "{args:?}: {out}");
    }
    for (args, reason) in [
        (
            vec!["decode", "150", "0a0000"],
            "option 150 is 3 bytes long, not a multiple of 4",
        ),
        (vec!["decode", "150", "00000000"], "address #1 is 0.0.0.0"),
        (vec!["decode", "150", "0a0"], "odd number"),
        (vec!["decode", "150", "zz"], "\"zz\" is not a hex byte"),
        (vec!["decode", "66", "61006200"], "NUL byte inside the name"),
        (
            vec!["decode", "17", "00000008"],
            "enterprise number 8, not Cisco's (9)",
        ),
        (vec!["decode", "17", "000000090001"], "truncated"),
        (
            vec!["decode", "3", "0a000001"],
            "not one that names TFTP servers",
        ),
    ] {
        let (ok, _, err) = run(&args);
        assert!(!ok, "{args:?} was accepted");
        assert!(err.contains(reason), "{args:?}: {err}");
    }
}

#[test]
fn dnsmasq_accepts_the_generated_lines() {
    if !require("dnsmasq") {
        return;
    }
    let (_, text, _) = run(&["config", "10.0.0.5", "10.0.0.6"]);
    let conf = temp_root();
    let path = conf.path().join("dnsmasq.conf");
    let lines: String = text
        .lines()
        .filter(|l| l.starts_with("dhcp-option="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!lines.is_empty());
    std::fs::write(&path, lines).unwrap();
    let out = Command::new("dnsmasq")
        .args(["--test", &format!("--conf-file={}", path.display())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dnsmasq: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
