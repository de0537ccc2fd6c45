//! Transfers across a link whose MTU is smaller than a block: the datagrams must be IP
//! fragmented, as TFTP has always relied on. Two things refuse what they would otherwise
//! fragment — a socket with UDP segmentation on (windowed sends) and a socket that forbids
//! fragmentation (the request port, set up by quinn-udp, which single-port transfers send
//! from) — so both are crossed here, on IPv4 and IPv6, with a veth pair at MTU 1280 between two
//! network namespaces and blksize 1428.
//!
//! Needs root (network namespaces). In CI a machine that cannot create them fails the test,
//! saying so; elsewhere it is skipped with a message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::netns::{Link, in_ns, ip};
use support::{pseudo_random, require, temp_root};

const BIN: &str = env!("CARGO_BIN_EXE_phoneboot");

#[test]
fn windowed_and_single_port_transfers_cross_a_link_with_a_smaller_mtu_than_a_block() {
    if !require("ip") {
        return;
    }
    let Some(link) = Link::for_test('m', "MTU test") else {
        return;
    };
    ip(&[
        "-n",
        &link.server_ns,
        "link",
        "set",
        &link.server_if,
        "mtu",
        "1280",
    ])
    .unwrap();
    ip(&[
        "-n",
        &link.phone_ns,
        "link",
        "set",
        &link.phone_if,
        "mtu",
        "1280",
    ])
    .unwrap();
    let root = temp_root();
    let content = pseudo_random(300_000, 12);
    std::fs::write(root.path().join("load.bin"), &content).unwrap();
    let root_arg = root.path().to_str().unwrap();
    let start = |listen: &str, extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--root",
            root_arg,
            "--database",
            "off",
            "--tftp-listen",
            listen,
            "--http-listen",
            "off",
            "--admin-listen",
            "off",
        ];
        args.extend_from_slice(extra);
        let mut server = in_ns(&link.server_ns, BIN, &args, &[]);
        server.wait_for("phoneboot serve", "TFTP listening");
        server
    };
    let _own = start("10.77.0.1:6969,[2001:db8:77::1]:6969", &[]);
    let _single = start("10.77.0.1:6970,[2001:db8:77::1]:6970", &["--single-port"]);
    let size = content.len().to_string();
    for server in [
        "10.77.0.1:6969",
        "[2001:db8:77::1]:6969",
        "10.77.0.1:6970",
        "[2001:db8:77::1]:6970",
    ] {
        for window in ["1", "16"] {
            let out = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &link.phone_ns,
                    BIN,
                    "load",
                    server,
                    "load.bin",
                ])
                .args(["-n", "4", "-c", "2", "--machine", "--expect-size", &size])
                .args([
                    "--blksize",
                    "1428",
                    "--windowsize",
                    window,
                    "--timeout-ms",
                    "500",
                ])
                .env_remove("RUST_LOG")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("failed=0"),
                "{server} windowsize {window}: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
