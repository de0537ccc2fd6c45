//! `phoneboot emulate` against real servers on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use support::cluster::Cluster;
use support::*;

fn emulate(args: &[&str]) -> (bool, String, String) {
    phoneboot(&[&["emulate"], args].concat())
}

fn phone_files(root: &std::path::Path) {
    std::fs::write(
        root.join("SEP001122AABBCC.cnf.xml"),
        "<device>\n<loadInformation>SIP78xx.14-2-1</loadInformation>\n<dialTemplate>DRdefault.xml</dialTemplate>\n</device>\n",
    )
    .unwrap();
    std::fs::write(root.join("SIP78xx.14-2-1.loads"), b"load").unwrap();
    std::fs::write(root.join("DRdefault.xml"), b"<DIALTEMPLATE/>").unwrap();
}

#[test]
fn a_phone_boots_failing_over_from_a_silent_server() {
    let root = temp_root();
    phone_files(root.path());
    let server = Server::start(root.path(), &[]);
    let port = server.v4.port().to_string();
    // The 8845 asks HTTP first: on the server's own HTTP port, so that whatever else listens
    // on this machine's 6970 stays out of the test.
    let http_port = server.http.unwrap().port().to_string();
    let (ok, trace, err) = emulate(&[
        "--mac",
        "00:11:22:aa:bb:cc",
        "--model",
        "CP-8845",
        "--option150",
        "127.0.0.9,127.0.0.1",
        "--port",
        &port,
        "--http-port",
        &http_port,
        "--running-load",
        "SIP78xx.12-0-1",
        "--timeout-ms",
        "150",
        "--retries",
        "1",
    ]);
    assert!(ok, "{trace}{err}");
    for line in [
        "DHCP: the servers come from Option150",
        "no answer from 127.0.0.9",
        "failing over to 127.0.0.1",
        "SEP001122AABBCC.cnf.xml from 127.0.0.1: got",
        "config names load SIP78xx.14-2-1",
        "SIP78xx.14-2-1.loads from 127.0.0.1: got 4 bytes",
        "DRdefault.xml from 127.0.0.1: got",
        "boot complete",
    ] {
        assert!(trace.contains(line), "missing {line:?}:\n{trace}");
    }
    // The server saw the phone's misses (CTL/ITL) and its files.
    assert_eq!(server.counter_reaches("SEPFoundCount", 1), 1);
}

#[test]
fn a_busy_server_is_asked_again_and_the_second_one_never() {
    let root = temp_root();
    phone_files(root.path());
    let busy = Server::start(
        root.path(),
        &["--max-serving-count", "1", "--queue-length", "0"],
    );
    // A stalled transfer holds the only slot: the configuration request gets "try later".
    std::fs::write(root.path().join("hold.bin"), vec![0u8; 2000]).unwrap();
    let _held = hold_slot(busy.v4, b"hold.bin");
    let port = busy.v4.port().to_string();
    let (ok, trace, err) = emulate(&[
        "--mac",
        "001122AABBCC",
        "--alternate-tftp",
        "127.0.0.1",
        "--alternate-tftp",
        "127.0.0.2",
        "--port",
        &port,
        "--busy-wait-ms",
        "50",
        "--busy-retries",
        "6",
        "--timeout-ms",
        "150",
        "--retries",
        "1",
    ]);
    assert!(!ok, "{trace}");
    assert!(err.contains("the server stayed busy for 7 tries"), "{err}");
    assert!(
        trace.contains("is busy; waiting 50ms and asking it again"),
        "{trace}"
    );
    assert!(
        !trace.contains("failing over") && !trace.contains("127.0.0.2:"),
        "{trace}"
    );
    assert!(
        !trace.contains("from 127.0.0.2"),
        "the second server is never asked:\n{trace}"
    );
    assert_eq!(busy.counter_reaches("RequestsOverflow", 7), 7);
}

#[test]
fn a_bad_mac_is_refused_with_the_reason() {
    let (ok, _, err) = emulate(&["--mac", "00:11:22", "--option150", "127.0.0.1"]);
    assert!(!ok);
    assert!(err.contains("is not a MAC address"), "{err}");
}

#[test]
fn gateways_take_their_server_from_ciscocm1_and_fetch_their_own_files() {
    let root = temp_root();
    std::fs::write(
        root.path().join("SKIGW1FCAC3DE10.cnf.xml"),
        "<device>\n  <product>VG224</product>\n  <port>AN1FCAC3DE10400</port>\n  <port>AN1FCAC3DE10401</port>\n</device>\n",
    )
    .unwrap();
    for port in ["AN1FCAC3DE10400", "AN1FCAC3DE10401"] {
        std::fs::write(root.path().join(format!("{port}.cnf.xml")), "<device/>\n").unwrap();
    }
    std::fs::write(root.path().join("vg320.example.com.cnf.xml"), "<device/>\n").unwrap();
    let server = Server::start(root.path(), &[]);
    let port = server.v4.port().to_string();
    // SCCP gateway: CiscoCM1 wins over option 150 (the gateway rules).
    let (ok, trace, err) = emulate(&[
        "--gateway",
        "sccp",
        "--mac",
        "001f.cac3.de10",
        "--cisco-cm1",
        "127.0.0.1",
        "--option150",
        "127.0.0.9",
        "--port",
        &port,
    ]);
    assert!(ok, "{trace}{err}");
    for line in [
        "DHCP: the servers come from CiscoCm1",
        "SKIGW1FCAC3DE10.cnf.xml from 127.0.0.1: got",
        "AN1FCAC3DE10400.cnf.xml from 127.0.0.1: got",
        "AN1FCAC3DE10401.cnf.xml from 127.0.0.1: got",
        "boot complete",
    ] {
        assert!(trace.contains(line), "missing {line:?}:\n{trace}");
    }
    // MGCP gateway: its domain names its file.
    let (ok, trace, err) = emulate(&[
        "--gateway",
        "mgcp",
        "--domain",
        "vg320.example.com",
        "--mac",
        "001f.cac3.de10",
        "--option150",
        "127.0.0.1",
        "--cisco-cm1",
        "127.0.0.1",
        "--port",
        &port,
    ]);
    assert!(ok, "{trace}{err}");
    assert!(
        trace.contains("vg320.example.com.cnf.xml from 127.0.0.1: got"),
        "{trace}"
    );
}

#[test]
fn each_model_asks_for_the_files_the_catalogue_gives_it() {
    let cluster = Cluster::example();
    let server = cluster.serve(&[]);
    let port = server.v4.port().to_string();
    for (mac, model, extra, files) in [
        // A non-XML load: the legacy file, no trust lists.
        (
            "0011.2233.4407",
            "7935",
            &[][..],
            &["SEP001122334407.cnf from"][..],
        ),
        // Named by its device name.
        (
            "0011.2233.4405",
            "IPCommunicator",
            &["--name", "BOBSOFTPHONE"][..],
            &["BOBSOFTPHONE.cnf.xml from"][..],
        ),
        // The configuration, then the text profile.
        (
            "0011.2233.4404",
            "7912",
            &[][..],
            &["SEP001122334404.cnf.xml from", "gk001122334404 from"][..],
        ),
        (
            "0011.2233.4403",
            "7960",
            &["--sip"][..],
            &["SIPDefault.cnf from", "SIP001122334403.cnf from"][..],
        ),
    ] {
        // Phones back after a power cut: they run the loads their files name.
        let mut args = vec![
            "--mac",
            mac,
            "--model",
            model,
            "--alternate-tftp",
            "127.0.0.1",
            "--port",
            &port,
            "--running-load",
            "configured",
        ];
        args.extend_from_slice(extra);
        let (ok, trace, err) = emulate(&args);
        assert!(ok, "{model}: {trace}{err}");
        for file in files {
            assert!(
                trace.contains(&format!("{file} 127.0.0.1: got")),
                "{model} did not get {file:?}:\n{trace}"
            );
        }
        assert_eq!(
            trace.contains("CTLFile.tlv"),
            model == "IPCommunicator",
            "only XML loads ask for trust lists:\n{trace}"
        );
    }
    // A gateway's port has no configuration file of its own to boot from.
    let (ok, _, err) = emulate(&["--mac", "0011.2233.4499", "--model", "VG224"]);
    assert!(!ok);
    assert!(err.contains("asks for no configuration file"), "{err}");
}

#[test]
fn an_ipv6_phone_takes_its_servers_from_dhcpv6_option_17() {
    let root = temp_root();
    phone_files(root.path());
    let server = Server::start(root.path(), &[]);
    let port = server.v6.expect("IPv6 loopback").port().to_string();
    // The value `phoneboot dhcp config --v6` tells the operator to send.
    let (ok, printed, err) = phoneboot(&["dhcp", "config", "--v6", "::1", "--v6", "::2"]);
    assert!(ok, "{err}");
    let hex = printed
        .lines()
        .find_map(|l| l.split_once("for any server that takes one: "))
        .map(|(_, hex)| hex.trim().to_owned())
        .expect("the raw option 17 value");
    let (ok, trace, err) = emulate(&[
        "--mac",
        "00:11:22:aa:bb:cc",
        "--option17",
        &hex,
        "--port",
        &port,
        "--running-load",
        "SIP78xx.14-2-1",
    ]);
    assert!(ok, "{trace}{err}");
    for line in [
        "DHCP: the servers come from V6Addresses",
        "TFTP servers: ::1, ::2",
        "SEP001122AABBCC.cnf.xml from ::1: got",
        "boot complete",
    ] {
        assert!(trace.contains(line), "missing {line:?}:\n{trace}");
    }

    // A phone set with an alternate TFTP server uses it instead.
    let (ok, trace, err) = emulate(&[
        "--mac",
        "00:11:22:aa:bb:cc",
        "--option17",
        &hex,
        "--alternate-tftp",
        "::1",
        "--port",
        &port,
        "--running-load",
        "SIP78xx.14-2-1",
    ]);
    assert!(
        ok && trace.contains("the servers come from Local"),
        "{trace}{err}"
    );

    // The same value in a captured DHCPv6 REPLY (UDP payload): type, xid, server id, option 17.
    let value: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut captured = vec![7, 1, 2, 3, 0, 2, 0, 4, 0, 3, 0, 1];
    captured.extend_from_slice(&[0, 17]);
    captured.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    captured.extend_from_slice(&value);
    let file = root.path().join("reply6.bin");
    std::fs::write(&file, &captured).unwrap();
    let (ok, trace, err) = emulate(&[
        "--mac",
        "00:11:22:aa:bb:cc",
        "--dhcp6-reply",
        file.to_str().unwrap(),
        "--port",
        &port,
        "--running-load",
        "SIP78xx.14-2-1",
    ]);
    assert!(ok, "{trace}{err}");
    assert!(
        trace.contains("the servers come from V6Addresses"),
        "{trace}"
    );
    std::fs::write(&file, &captured[..captured.len() - 1]).unwrap();
    let (ok, _, err) = emulate(&[
        "--mac",
        "00:11:22:aa:bb:cc",
        "--dhcp6-reply",
        file.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("is not a usable DHCPv6 reply") && err.contains("runs past the end"),
        "{err}"
    );

    // A malformed value is skipped as the phone would skip it, and said so.
    let (ok, trace, _) = emulate(&[
        "--mac",
        "00:11:22:aa:bb:cc",
        "--option17",
        "0000000900010003aabbcc",
    ]);
    assert!(!ok);
    assert!(
        trace.contains("ignored a malformed option") && trace.contains("no TFTP server named"),
        "{trace}"
    );
    // Hex that is not hex is a mistake on the command line.
    let (ok, _, err) = emulate(&["--mac", "00:11:22:aa:bb:cc", "--option17", "0x0g"]);
    assert!(!ok && err.contains("--option17"), "{err}");
}

#[test]
fn a_boot_that_is_not_provisioned_as_configured_says_so_and_fails() {
    let cluster = Cluster::example();
    let server = cluster.serve(&[]);
    let port = server.v4.port().to_string();
    let run = |mac: &str, model: &str| {
        emulate(&[
            "--mac",
            mac,
            "--model",
            model,
            "--alternate-tftp",
            "127.0.0.1",
            "--port",
            &port,
            "--http",
            "never",
        ])
    };
    // Not in the database: its own file is not found, it takes XMLDefault.cnf.xml.
    let (ok, trace, err) = run("0000.7700.0001", "7965");
    assert!(!ok, "{trace}");
    assert!(
        trace.contains("XMLDefault.cnf.xml from 127.0.0.1: got"),
        "{trace}"
    );
    assert!(
        err.contains("SEP000077000001.cnf.xml was not found, so it runs on the default"),
        "{err}"
    );
    // In the database, but the load its file names is in no root.
    let (ok, trace, err) = run("0011.2233.4401", "8841");
    assert!(!ok, "{trace}");
    assert!(
        trace.contains("SEP001122334401.cnf.xml from 127.0.0.1: got"),
        "{trace}"
    );
    assert!(
        err.contains("not provisioned as configured: sip88xx."),
        "{err}"
    );
    assert!(err.contains(".loads not found"), "{err}");
    // The load on disk: provisioned, and the exit status says so.
    let load = err
        .split("configured: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_owned();
    std::fs::write(cluster.root.join(&load), b"firmware").unwrap();
    let (ok, trace, err) = run("0011.2233.4401", "8841");
    assert!(ok, "{trace}{err}");
    assert!(
        trace.contains("provisioned: every file its configuration names"),
        "{trace}"
    );
}
