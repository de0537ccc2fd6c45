//! Where answers come from: the address the request was sent to (multi-homed hosts, dual
//! stack), a port per transfer by default, the request port itself in single-port mode, and
//! a client's next request from the same port.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::net::{IpAddr, SocketAddr};

use support::*;

fn wildcard_server(listen: &str, root: &std::path::Path) -> Server {
    Server::start_with(&[
        "serve".into(),
        "--root".into(),
        root.display().to_string(),
        "--tftp-listen".into(),
        listen.into(),
        "--admin-listen".into(),
        "off".into(),
        "--http-listen".into(),
        "off".into(),
    ])
}

/// A multi-homed host: the answer must come from the address the request was sent to, or
/// embedded clients reject it. 127.0.0.2 and .3 are other addresses of the loopback interface.
#[test]
fn replies_come_from_the_address_the_request_was_sent_to() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let server = wildcard_server(listen, root.path());
        let port = server.v4.port();
        for local in ["127.0.0.2", "127.0.0.3"] {
            let to = SocketAddr::new(local.parse().unwrap(), port);
            let raw = Raw::new(false);
            let (d, from) = raw
                .exchange(to, &rrq(&[b"size513.bin", b"octet"]))
                .expect("DATA 1");
            assert_eq!(&d[..4], &[0, 3, 0, 1]);
            assert_eq!(from.ip(), to.ip(), "{listen}: DATA from the wrong address");
            let raw = Raw::new(false);
            let (d, from) = raw
                .exchange(to, &rrq(&[b"missing", b"octet"]))
                .expect("ERROR 1");
            assert_eq!(as_error(&d).unwrap().0, 1);
            assert_eq!(from.ip(), to.ip(), "{listen}: ERROR from the wrong address");
        }
    }
}

#[test]
fn dual_stack_socket_serves_ipv4_and_ipv6() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = wildcard_server("[::]:0", root.path());
    let port = server.v4.port();
    for (v6, to) in [(false, "127.0.0.1"), (true, "::1")] {
        let raw = Raw::new(v6);
        let to = SocketAddr::new(to.parse::<IpAddr>().unwrap(), port);
        let (d, _) = raw.exchange(to, &rrq(&[b"size1.bin", b"octet"])).unwrap();
        assert_eq!(&d[..4], &[0, 3, 0, 1], "{to}");
    }
}

/// Embedded clients often ask for their next file from the same port, and a busy client's
/// ephemeral ports are reused within milliseconds. Once a transfer has heard from its client,
/// a request from that port is new, not a retransmission, and is served at once.
#[test]
fn a_new_request_from_the_same_port_after_an_answer_is_served_at_once() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &[]);
    let raw = Raw::new(false);
    for round in 0..5 {
        let (d, tid) = raw
            .exchange(server.v4, &rrq(&[b"size513.bin", b"octet"]))
            .unwrap_or_else(|| panic!("round {round}: no answer to the new request"));
        assert_eq!(&d[..4], &[0, 3, 0, 1]);
        raw.send(tid, &[0, 4, 0, 1]);
        let (d, _) = raw.recv().unwrap();
        assert_eq!(&d[..4], &[0, 3, 0, 2]);
        // The final ACK, and at once the next request from the same port.
        raw.send(tid, &[0, 4, 0, 2]);
    }
    assert_eq!(server.counter_reaches("RequestsProcessed", 5), 5);
    let c = server.counters();
    assert_eq!(
        (c["RequestsProcessed"], c["RequestsDuplicate"]),
        (5, 0),
        "{c:?}"
    );
}

#[test]
fn single_port_mode_answers_every_transfer_from_the_request_port() {
    let root = temp_root();
    let fixtures = write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &["--single-port"]);
    // Every DATA of a lock-step transfer comes from the port the request went to, and the
    // client's ACKs go there too (all a firewall passing only that port lets through).
    let raw = Raw::new(false);
    let (mut d, mut from) = raw
        .exchange(server.v4, &rrq(&[b"size1536.bin", b"octet"]))
        .unwrap();
    let mut data = Vec::new();
    let mut blocks = Vec::new();
    loop {
        assert_eq!(from, server.v4, "DATA from the request port");
        blocks.push(u16::from_be_bytes([d[2], d[3]]));
        data.extend_from_slice(&d[4..]);
        if blocks.len() == 2 {
            // A late copy of the request, once the transfer has heard from its client (DATA 2
            // came): on the shared port it must not start a second transfer to the same
            // address and port.
            raw.send(server.v4, &rrq(&[b"size1536.bin", b"octet"]));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        raw.send(server.v4, &[0, 4, d[2], d[3]]);
        if d.len() < 516 {
            break;
        }
        (d, from) = raw.recv().unwrap();
    }
    assert_eq!(blocks, [1, 2, 3, 4], "one transfer, each block once");
    let want = fixtures
        .iter()
        .find(|f| f.request == "size1536.bin")
        .unwrap();
    assert_eq!(data, want.content);
    assert_eq!(server.counter_reaches("RequestsProcessed", 1), 1);
    assert!(raw.recv().is_none(), "nothing more: no second transfer");
    assert_eq!(server.counters()["RequestsDuplicate"], 1);

    // Many at once, lock-step and windowed, with options and a streamed file: each gets its
    // own bytes although they all share one server port.
    let addr = server.v4.to_string();
    let big = (1 << 20) + 1000;
    for (file, size, extra) in [
        ("size1536.bin", 1536, vec![]),
        (
            "random-1MiB.bin",
            1 << 20,
            vec!["--blksize", "1428", "--windowsize", "16"],
        ),
        (
            "firmware/load-streamed.sbn",
            big,
            vec!["--blksize", "1428", "--tsize"],
        ),
    ] {
        let size = size.to_string();
        let mut args = vec![
            "load",
            &addr,
            file,
            "-n",
            "200",
            "-c",
            "50",
            "--machine",
            "--expect-size",
            &size,
        ];
        args.extend(extra);
        let (ok, out, err) = phoneboot(&args);
        assert!(ok && out.contains("failed=0"), "{file}: {out} {err}");
    }
    // A stray ACK from a client with no transfer is dropped, not answered with an ERROR from
    // the port a transfer of that client would use.
    let stray = Raw::new(false);
    stray.send(server.v4, &[0, 4, 0, 7]);
    assert!(stray.recv().is_none(), "no answer to a stray ACK");
}
