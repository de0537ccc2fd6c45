//! Hostile and malformed input against a real server (spec peers.md §5.2): each case asserts the
//! exact reply, or silence, and that the server still serves a good request afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::net::SocketAddr;

use support::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// An ERROR with this code.
    Error(u16),
    /// DATA block 1 straight away (no OACK) with this payload length.
    Data(usize),
    /// An OACK whose text contains this.
    Oack(&'static str),
    /// Nothing at all.
    Silence,
}

fn observe(server: SocketAddr, datagram: &[u8]) -> (Expect, Vec<u8>) {
    // A fresh client port per case (Raw keeps every port it used reserved).
    let raw = Raw::new(server.is_ipv6());
    match raw.exchange(server, datagram) {
        None => (Expect::Silence, vec![]),
        Some((d, _)) => {
            let kind = match d.get(..2) {
                Some([0, 5]) => Expect::Error(as_error(&d).map_or(999, |e| e.0)),
                Some([0, 3]) if d.get(2..4) == Some(&[0, 1]) => Expect::Data(d.len() - 4),
                Some([0, 6]) => Expect::Oack(""),
                _ => panic!("unexpected reply {d:?}"),
            };
            (kind, d)
        }
    }
}

fn assert_still_serves(server: SocketAddr) {
    let (kind, _) = observe(server, &rrq(&[b"size1.bin", b"octet"]));
    assert_eq!(
        kind,
        Expect::Data(1),
        "the server must keep serving after bad input"
    );
}

fn check(server: SocketAddr, cases: &[(&str, Vec<u8>, Expect)]) {
    for (what, datagram, expect) in cases {
        let (got, raw) = observe(server, datagram);
        match expect {
            Expect::Oack(needle) => {
                assert!(
                    matches!(got, Expect::Oack(_)),
                    "{what}: got {got:?} {raw:?}"
                );
                let text = String::from_utf8_lossy(&raw).to_lowercase();
                assert!(
                    text.contains(needle),
                    "{what}: OACK {text:?} lacks {needle:?}"
                );
            }
            _ => assert_eq!(got, *expect, "{what}: reply {raw:?}"),
        }
        assert_still_serves(server);
    }
}

fn start() -> (tempfile::TempDir, tempfile::TempDir, Server) {
    start_with(&[])
}

fn start_with(args: &[&str]) -> (tempfile::TempDir, tempfile::TempDir, Server) {
    let root = temp_root();
    write_fixtures(root.path(), false);
    let outside = temp_root();
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("leak")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
    std::fs::write(root.path().join("notes.txt"), b"a\nb\n").unwrap();
    let server = Server::start(root.path(), args);
    (root, outside, server)
}

#[test]
fn malformed_requests_get_error_4_and_an_error_gets_nothing() {
    let (_r, _o, server) = start();
    let long = vec![b'a'; 70];
    let cases = vec![
        ("empty datagram", vec![], Expect::Error(4)),
        ("1 byte", vec![0], Expect::Error(4)),
        ("2 bytes", vec![0, 1], Expect::Error(4)),
        ("3 bytes", vec![0, 1, b'a'], Expect::Error(4)),
        (
            "unknown opcode",
            vec![0, 9, b'a', 0, b'o', 0],
            Expect::Error(4),
        ),
        ("opcode 0", vec![0, 0, b'a', 0], Expect::Error(4)),
        (
            "missing final NUL",
            b"\0\x01size1.bin\0octet".to_vec(),
            Expect::Error(4),
        ),
        (
            "no NUL at all",
            b"\0\x01size1.bin".to_vec(),
            Expect::Error(4),
        ),
        ("empty filename", rrq(&[b"", b"octet"]), Expect::Error(4)),
        ("empty mode", rrq(&[b"size1.bin", b""]), Expect::Error(4)),
        (
            "unknown mode",
            rrq(&[b"size1.bin", b"binary"]),
            Expect::Error(4),
        ),
        ("mail mode", rrq(&[b"size1.bin", b"MAIL"]), Expect::Error(4)),
        (
            "NUL inside the name",
            rrq(&[b"size1\0.bin", b"octet"]),
            Expect::Error(4),
        ),
        (
            "option without value",
            rrq(&[b"size1.bin", b"octet", b"blksize"]),
            Expect::Error(4),
        ),
        (
            "duplicate option",
            rrq(&[
                b"size1.bin",
                b"octet",
                b"blksize",
                b"512",
                b"BLKSIZE",
                b"1024",
            ]),
            Expect::Error(4),
        ),
        (
            "trailing garbage",
            [rrq(&[b"size1.bin", b"octet"]), long].concat(),
            Expect::Error(4),
        ),
        (
            "ACK to the request port",
            vec![0, 4, 0, 1],
            Expect::Error(5),
        ),
        (
            "DATA to the request port",
            vec![0, 3, 0, 1, 9],
            Expect::Error(5),
        ),
        (
            "OACK to the request port",
            b"\0\x06blksize\x00512\0".to_vec(),
            Expect::Error(5),
        ),
        (
            "ERROR to the request port",
            b"\0\x05\0\x01x\0".to_vec(),
            Expect::Silence,
        ),
        (
            "3-byte ERROR (CVE-2019-11365)",
            vec![0, 5, 0],
            Expect::Silence,
        ),
        (
            "WRQ (read-only server)",
            vec![0, 2, b'x', 0, b'o', b'c', b't', b'e', b't', 0],
            Expect::Error(2),
        ),
    ];
    check(server.v4, &cases);
}

#[test]
fn invalid_option_values_are_ignored_never_fatal() {
    let (_r, _o, server) = start();
    let mut cases = Vec::new();
    for (name, value) in [
        ("blksize", "0"),
        ("blksize", "7"),
        ("blksize", "-1"),
        ("blksize", "+512"),
        ("blksize", " 512"),
        ("blksize", "abc"),
        ("blksize", "65465"),
        ("blksize", "99999999999999999999999999"),
        ("timeout", "0"),
        ("timeout", "256"),
        ("windowsize", "0"),
        ("windowsize", "65536"),
        ("tsize", "x"),
        ("utimeout", "10000"),
        ("blksize2", "1024"),
        ("multicast", ""),
        ("rollover", "7"),
        ("x-vendor-extension", "1"),
    ] {
        let d = rrq(&[b"size1.bin", b"octet", name.as_bytes(), value.as_bytes()]);
        cases.push((format!("{name}={value}"), d, Expect::Data(1)));
    }
    // Hundreds of unknown options (an OACK echoing them would overflow): only blksize survives.
    let mut many: Vec<Vec<u8>> = vec![b"size513.bin".to_vec(), b"octet".to_vec()];
    for i in 0..300 {
        many.push(format!("x-opt-{i}").into_bytes());
        many.push(b"1".to_vec());
    }
    many.push(b"blksize".to_vec());
    many.push(b"1024".to_vec());
    let parts: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    let (kind, oack) = observe(server.v4, &rrq(&parts));
    assert!(matches!(kind, Expect::Oack(_)), "{kind:?}");
    assert_eq!(
        oack, b"\0\x06blksize\x001024\0",
        "the OACK holds only what was granted"
    );
    let named: Vec<(&str, Vec<u8>, Expect)> = cases
        .iter()
        .map(|(w, d, e)| (w.as_str(), d.clone(), *e))
        .collect();
    check(server.v4, &named);
    // Known options in any case are granted; tsize works in netascii (exact converted size).
    check(
        server.v4,
        &[
            (
                "mixed-case names",
                rrq(&[b"size513.bin", b"OCTET", b"BlkSize", b"1024"]),
                Expect::Oack("blksize\u{0}1024"),
            ),
            (
                "tsize in netascii",
                rrq(&[b"notes.txt", b"netascii", b"tsize", b"0"]),
                Expect::Oack("tsize\u{0}6"),
            ),
            (
                "a long request (600 bytes)",
                rrq(&[b"size1.bin", b"octet", b"x-pad", &[b'p'; 570]]),
                Expect::Data(1),
            ),
        ],
    );
}

#[test]
fn paths_are_confined_to_the_root() {
    let (_r, _o, server) = start();
    let deep = "d/".repeat(40) + "f";
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "../ traversal",
            rrq(&[b"../etc/passwd", b"octet"]),
            Expect::Error(2),
        ),
        (
            "/../ traversal",
            rrq(&[b"/../etc/passwd", b"octet"]),
            Expect::Error(2),
        ),
        (
            "backslash traversal",
            rrq(&[b"..\\..\\etc\\passwd", b"octet"]),
            Expect::Error(2),
        ),
        (
            "symlink to a file outside",
            rrq(&[b"leak", b"octet"]),
            Expect::Error(2),
        ),
        (
            "symlink to a folder outside",
            rrq(&[b"escape/secret", b"octet"]),
            Expect::Error(2),
        ),
        (
            "control character",
            rrq(&[b"size1\x01.bin", b"octet"]),
            Expect::Error(2),
        ),
        (
            "not UTF-8",
            rrq(&[b"size1\xff.bin", b"octet"]),
            Expect::Error(2),
        ),
        (
            "very deep path",
            rrq(&[deep.as_bytes(), b"octet"]),
            Expect::Error(2),
        ),
        (
            "name over 1024 bytes",
            rrq(&[&[b'a'; 1100], b"octet"]),
            Expect::Error(2),
        ),
        (
            "name of 65000 bytes",
            rrq(&[&[b'a'; 65_000], b"octet"]),
            Expect::Error(2),
        ),
        (
            "name of 512 bytes",
            rrq(&[&[b'a'; 512], b"octet"]),
            Expect::Error(1),
        ),
        (
            "percent-encoded dots are literal",
            rrq(&[b"%2e%2e/size1.bin", b"octet"]),
            Expect::Error(1),
        ),
        (
            "trailing dot",
            rrq(&[b"size1.bin.", b"octet"]),
            Expect::Error(1),
        ),
        (
            "trailing space",
            rrq(&[b"size1.bin ", b"octet"]),
            Expect::Error(1),
        ),
        (
            "Windows reserved name",
            rrq(&[b"CON", b"octet"]),
            Expect::Error(1),
        ),
        (
            "a directory",
            rrq(&[b"Desktops", b"octet"]),
            Expect::Error(2),
        ),
        ("the root itself", rrq(&[b"/", b"octet"]), Expect::Error(1)),
        (
            "leading slash means the root",
            rrq(&[b"/size1.bin", b"octet"]),
            Expect::Data(1),
        ),
        (
            "backslashes count as slashes",
            rrq(&[b"\\Desktops\\320x212x12\\Fixture.png", b"octet"]),
            Expect::Data(512),
        ),
        (
            "case differs",
            rrq(&[b"SIZE1.BIN", b"octet"]),
            Expect::Data(1),
        ),
    ];
    check(server.v4, &cases);
    let log = server.log_text();
    assert!(
        !log.contains("secret\""),
        "nothing of the outside file may be served"
    );
}

/// Drives one transfer by hand: returns the raw client and the transfer's address after DATA 1.
fn open_transfer(server: SocketAddr, file: &[u8]) -> (Raw, SocketAddr) {
    let raw = Raw::new(false);
    let (d, from) = raw
        .exchange(server, &rrq(&[file, b"octet"]))
        .expect("DATA 1");
    assert_eq!(&d[..4], &[0, 3, 0, 1]);
    assert_ne!(
        from, server,
        "the transfer must run on its own port (its TID)"
    );
    (raw, from)
}

#[test]
fn transfer_state_survives_hostile_packets() {
    // A slow retransmission timer, so that every silence below means "no reaction".
    let (_r, _o, server) = start_with(&["--timeout-ms", "5000", "--max-timeout-ms", "5000"]);
    // size1536.bin: blocks 1, 2, 3 full, block 4 empty.
    let (raw, tid) = open_transfer(server.v4, b"size1536.bin");

    // The client retransmits its request before it saw our answer: no second transfer.
    raw.send(server.v4, &rrq(&[b"size1536.bin", b"octet"]));
    assert!(
        raw.recv().is_none(),
        "a duplicate RRQ started a second transfer"
    );

    // An ACK for a future block: ignored.
    raw.send(tid, &[0, 4, 0, 9]);
    assert!(raw.recv().is_none(), "a future ACK must change nothing");
    // A 3-byte ERROR and garbage from the client: ignored, the transfer lives on.
    raw.send(tid, &[0, 5, 0]);
    raw.send(tid, &[0, 4]);
    assert!(raw.recv().is_none());

    // A stranger (another port) gets ERROR 5 and does not disturb the transfer.
    let stranger = Raw::new(false);
    let (d, _) = stranger
        .exchange(tid, &[0, 4, 0, 1])
        .expect("ERROR 5 to the stranger");
    assert_eq!(as_error(&d).unwrap().0, 5);

    raw.send(tid, &[0, 4, 0, 1]);
    let (d, _) = raw.recv().expect("DATA 2");
    assert_eq!(&d[..4], &[0, 3, 0, 2]);
    // A duplicate ACK 1 must not cause a resend of DATA 2 (Sorcerer's Apprentice).
    raw.send(tid, &[0, 4, 0, 1]);
    assert!(raw.recv().is_none(), "duplicate ACK triggered a resend");

    raw.send(tid, &[0, 4, 0, 2]);
    assert_eq!(&raw.recv().unwrap().0[..4], &[0, 3, 0, 3]);
    raw.send(tid, &[0, 4, 0, 3]);
    let (d, _) = raw.recv().unwrap();
    assert_eq!(
        d,
        [0, 3, 0, 4],
        "a multiple of 512 ends with an empty block"
    );
    raw.send(tid, &[0, 4, 0, 4]);
    // An ACK after the final one reaches a closed transfer: nothing comes back.
    raw.send(tid, &[0, 4, 0, 4]);
    assert!(raw.recv().is_none());

    // The client aborting mid-transfer with an ERROR ends it quietly.
    let (raw2, tid2) = open_transfer(server.v4, b"size1536.bin");
    raw2.send(tid2, b"\0\x05\0\x00user abort\0");
    assert!(raw2.recv().is_none(), "never answer an ERROR");

    // A firmware tsize probe: OACK, then ERROR 8.
    let probe = Raw::new(false);
    let (d, tid3) = probe
        .exchange(server.v4, &rrq(&[b"size513.bin", b"octet", b"tsize", b"0"]))
        .unwrap();
    assert_eq!(&d[..2], &[0, 6]);
    probe.send(tid3, b"\0\x05\0\x08tsize probe\0");
    assert!(probe.recv().is_none());

    // The server counts an ending when it has read the client's last word, which the
    // client cannot see: wait for the counters instead of guessing a delay.
    assert_eq!(server.counter_reaches("RequestsOptionProbe", 1), 1);
    assert_eq!(server.counter_reaches("RequestsAborted", 1), 1);
    assert_eq!(server.counter_reaches("RequestsProcessed", 1), 1);
    let c = server.counters();
    assert_eq!(c["RequestsProcessed"], 1, "{c:?}");
    assert_eq!(c["RequestsAborted"], 1, "{c:?}");
    assert_eq!(c["RequestsOptionProbe"], 1, "{c:?}");
    assert_eq!(c["RequestsDuplicate"], 1, "{c:?}");
    assert_eq!(c["ForeignDatagrams"], 1, "{c:?}");
    assert_still_serves(server.v4);
}

#[test]
fn a_request_flood_from_one_host_is_bounded_and_service_continues() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    // Without a queue, as CUCM: 300 requests from 300 ports, none acknowledged, get 20
    // transfers and 280 busy answers. (With the default queue every one of them gets its
    // DATA 1: the flood test of the storm shows it.)
    let server = Server::start(
        root.path(),
        &["--max-serving-count", "20", "--queue-length", "0"],
    );
    let sockets: Vec<Raw> = (0..300).map(|_| Raw::new(false)).collect();
    for s in &sockets {
        s.send(server.v4, &rrq(&[b"size513.bin", b"octet"]));
    }
    let mut data = 0;
    let mut busy = 0;
    for s in &sockets {
        match s.recv() {
            Some((d, _)) if d[..2] == [0, 3] => data += 1,
            Some((d, _)) if as_error(&d).is_some_and(|e| e.0 == 0) => busy += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((data, busy), (20, 280));
    // A missing file and an empty file are still answered while every slot is taken.
    let (kind, _) = observe(server.v4, &rrq(&[b"CTLSEP001122334455.tlv", b"octet"]));
    assert_eq!(kind, Expect::Error(1));
    let (kind, _) = observe(server.v4, &rrq(&[b"size0.bin", b"octet"]));
    assert_eq!(kind, Expect::Data(0));
}
