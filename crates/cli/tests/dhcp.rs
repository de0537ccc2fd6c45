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
    // `config` is the default: `phoneboot dhcp SERVERS` prints the same.
    let (ok, short, err) = run(&["10.0.0.5", "10.0.0.6"]);
    assert!(ok, "{err}");
    assert_eq!(short, text);
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
    // A mistyped address is not taken for a host name.
    for typo in ["999.1.1.1", "10.0.0", "10.0.0.5.6"] {
        let (ok, _, err) = run(&[typo]);
        assert!(
            !ok && err.contains("is not an IPv4 address"),
            "{typo}: {err}"
        );
    }
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
fn decode_without_an_option_number_reads_a_whole_option_or_the_value_it_can_be() {
    for (hex, expect, how) in [
        // Whole options, as a capture shows them: code, length, value.
        (
            "96080a0000050a000006",
            "option 150: 2 TFTP server address(es): 10.0.0.5, 10.0.0.6",
            "whole option",
        ),
        (
            "42057466747000",
            "option 66: TFTP server by host name tftp",
            "whole option",
        ),
        (
            "0011001800000009000100102001:0db8:0077:0000:0000:0000:0000:0001",
            "sub-option 1, TFTP server addresses: 2001:db8:77::1",
            "whole option",
        ),
        // Bare values: the option they can be, and said so.
        (
            "0a0000050a000006",
            "10.0.0.5, 10.0.0.6",
            "bare option 150 value",
        ),
        (
            "966400010a000006",
            "150.100.0.1, 10.0.0.6",
            "bare option 150 value",
        ),
        ("7466747000", "host name tftp", "bare option 66 value"),
        (
            "000000090001001020010db8007700000000000000000001",
            "2001:db8:77::1",
            "bare option 17 value",
        ),
    ] {
        let (ok, out, err) = run(&["decode", hex]);
        assert!(ok, "{hex}: {err}");
        assert!(out.contains(expect) && out.contains(how), "{hex}: {out}");
    }
    for (args, reason) in [
        (
            vec!["decode", "960a0a000005"],
            "as a whole option 150 its length byte says 10 bytes follow and 4 do",
        ),
        (
            vec!["decode", "0011001c0000000900010010"],
            "whole DHCPv6 option 17 (its first two bytes), but its length says 28 bytes follow and 8 do",
        ),
        (
            vec!["decode", "0a00"],
            "2 bytes that are no option 150, 66 or 17",
        ),
        (
            vec!["decode", "96", "08", "0a000005"],
            "a whole option in hex is one word: 96080a000005",
        ),
        (vec!["decode", "0a0"], "odd number"),
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
    let (_, text, _) = run(&[
        "config",
        "10.0.0.5",
        "10.0.0.6",
        "--v6",
        "2001:db8::5",
        "--v6-name",
        "tftp.example.com",
    ]);
    assert!(text.contains("dhcp-option=option6:17,00:00:00:09:00:01:00:10:20:01"));
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

/// Runs a DHCP server's own configuration check on `config`.
fn server_accepts(program: &str, args: &[&str], file_name: &str, config: &str) {
    let dir = temp_root();
    let path = dir.path().join(file_name);
    std::fs::write(&path, config).unwrap();
    let out = Command::new(program)
        .args(args)
        .arg(&path)
        .env("KEA_LOCKFILE_DIR", "none")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} refused:\n{config}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Kea reports some mistakes as warnings and still exits 0.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        !said.contains("WARN"),
        "{program} warned:\n{config}\n{said}"
    );
}

#[test]
fn isc_dhcpd_and_kea_accept_every_generated_configuration() {
    if !require("dhcpd") || !require("kea-dhcp4") || !require("kea-dhcp6") {
        return;
    }
    let kea4 = |inside: &str| {
        format!(
            "{{ \"Dhcp4\": {{ \"interfaces-config\": {{ \"interfaces\": [] }},\n{inside},\n\
             \"subnet4\": [ {{ \"id\": 1, \"subnet\": \"10.0.0.0/24\" }} ] }} }}"
        )
    };
    let subnet4 = "subnet 10.0.0.0 netmask 255.255.255.0 { }\n";

    // Option 150, then option 66. Kea's option 66 line is one entry of "option-data".
    let whole = |kea: &str| kea.to_owned();
    let entry = |kea: &str| format!("\"option-data\": [ {kea} ]");
    for (servers, kea_lines) in [
        (
            &["10.0.0.5", "10.0.0.6"][..],
            &whole as &dyn Fn(&str) -> String,
        ),
        (&["tftp.example.com"][..], &entry),
    ] {
        let (_, printed, _) = run(&[&["config"], servers].concat());
        let dhcpd = section(&printed, "## ISC dhcpd");
        server_accepts(
            "dhcpd",
            &["-4", "-t", "-cf"],
            "dhcpd.conf",
            &format!("{dhcpd}\n{subnet4}"),
        );
        let kea = kea_lines(&section(&printed, "## ISC Kea"));
        server_accepts("kea-dhcp4", &["-t"], "kea.json", &kea4(&kea));
    }

    // DHCPv6 option 17 with Cisco's sub-options.
    let (_, printed, _) = run(&[
        "config",
        "--v6",
        "2001:db8::5",
        "--v6",
        "2001:db8::6",
        "--v6-name",
        "tftp.example.com",
    ]);
    let dhcpd6 = section(&printed, "## ISC dhcpd (dhcpd6.conf)");
    server_accepts(
        "dhcpd",
        &["-6", "-t", "-cf"],
        "dhcpd6.conf",
        &format!("{dhcpd6}\nsubnet6 2001:db8::/64 {{ }}\n"),
    );
    let kea6 = section(&printed, "## ISC Kea (kea-dhcp6.conf");
    server_accepts(
        "kea-dhcp6",
        &["-t"],
        "kea6.json",
        &format!(
            "{{ \"Dhcp6\": {{ \"interfaces-config\": {{ \"interfaces\": [] }},\n{kea6},\n\
             \"subnet6\": [ {{ \"id\": 1, \"subnet\": \"2001:db8::/64\" }} ] }} }}"
        ),
    );
}
