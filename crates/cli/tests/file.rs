//! `phoneboot file` against a running server: changes are served at once, a transfer in flight
//! keeps its version, hostile names are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use support::*;

fn file_cmd(root: &std::path::Path, args: &[&str], stdin: Option<&[u8]>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_phoneboot"))
        .arg("file")
        .args(["--root", root.to_str().unwrap()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tftp_get(server: &Server, name: &str) -> Option<Vec<u8>> {
    let raw = Raw::new(false);
    let (mut d, mut tid) = raw.exchange(server.v4, &rrq(&[name.as_bytes(), b"octet"]))?;
    let mut data = Vec::new();
    loop {
        if d[1] != 3 {
            return None;
        }
        data.extend_from_slice(&d[4..]);
        raw.send(tid, &[0, 4, d[2], d[3]]);
        if d.len() < 516 {
            return Some(data);
        }
        (d, tid) = raw.recv()?;
    }
}

#[test]
fn put_list_get_rm_are_served_by_a_running_server_at_once() {
    let root = temp_root();
    let server = Server::start(root.path(), &[]);
    let src = temp_root();
    let ring = src.path().join("Ring01.raw");
    std::fs::write(&ring, pseudo_random(5000, 1)).unwrap();

    let (ok, _, err) = file_cmd(
        root.path(),
        &["put", ring.to_str().unwrap(), "Rings/Ring01.raw"],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(
        tftp_get(&server, "rings/ring01.raw").unwrap(),
        pseudo_random(5000, 1)
    );

    let (ok, _, err) = file_cmd(
        root.path(),
        &["put", "-", "RingList.xml"],
        Some(b"<CiscoIPPhoneRingList/>"),
    );
    assert!(ok, "{err}");
    assert_eq!(
        tftp_get(&server, "RingList.xml").unwrap(),
        b"<CiscoIPPhoneRingList/>"
    );

    let (ok, listing, _) = file_cmd(root.path(), &["list"], None);
    assert!(ok);
    assert!(
        listing.contains("Rings/Ring01.raw") && listing.contains("5000"),
        "{listing}"
    );
    assert!(listing.contains("RingList.xml"), "{listing}");

    let (ok, out, _) = file_cmd(root.path(), &["get", "ringlist.xml"], None);
    assert!(ok);
    assert_eq!(out, "<CiscoIPPhoneRingList/>");

    let (ok, _, err) = file_cmd(root.path(), &["rm", "RINGLIST.XML"], None);
    assert!(ok, "{err}");
    let (d, _) = Raw::new(false)
        .exchange(server.v4, &rrq(&[b"RingList.xml", b"octet"]))
        .unwrap();
    assert_eq!(as_error(&d).unwrap().0, 1);
}

#[test]
fn a_transfer_in_flight_finishes_with_the_version_it_started_with() {
    let root = temp_root();
    std::fs::write(root.path().join("load.bin"), vec![b'a'; 1500]).unwrap();
    let server = Server::start(root.path(), &[]);
    let raw = Raw::new(false);
    let (d, tid) = raw
        .exchange(server.v4, &rrq(&[b"load.bin", b"octet"]))
        .unwrap();
    let mut data = d[4..].to_vec();

    let (ok, _, err) = file_cmd(root.path(), &["put", "-", "load.bin"], Some(&[b'b'; 1500]));
    assert!(ok, "{err}");

    // 1500 bytes: blocks 1 and 2 full, block 3 short and last.
    for block in 1u8..=2 {
        raw.send(tid, &[0, 4, 0, block]);
        let (d, _) = raw.recv().unwrap();
        data.extend_from_slice(&d[4..]);
    }
    raw.send(tid, &[0, 4, 0, 3]);
    assert_eq!(data, vec![b'a'; 1500], "the old version, whole");
    assert_eq!(
        tftp_get(&server, "load.bin").unwrap(),
        vec![b'b'; 1500],
        "new requests get the new one"
    );
}

#[test]
fn hostile_names_and_locations_are_refused_with_a_reason() {
    let root = temp_root();
    let outside = temp_root();
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
    for (args, needle) in [
        (vec!["put", "-", "../evil"], "'..'"),
        (vec!["put", "-", "escape/evil"], "is a symlink"),
        (vec!["put", "-", "a\u{1}b"], "control character"),
        (vec!["put", "-", ".phoneboot-partial-x"], "reserved prefix"),
        (
            vec!["put", "-", "x", "--location", "3"],
            "there is no location 3",
        ),
        (vec!["rm", "missing.bin"], "no such file"),
        (vec!["get", "missing.bin"], "no such file"),
    ] {
        let (ok, _, err) = file_cmd(root.path(), &args, Some(b"x"));
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written outside"
    );
}

/// 20 transfers of a 10 MiB load run while it is replaced: each gets all of the old version or
/// all of the new one, never a mix.
#[test]
fn replacing_a_file_under_20_running_transfers_never_mixes_versions() {
    let root = temp_root();
    let old = pseudo_random(10 << 20, 1);
    let new = pseudo_random(10 << 20, 2);
    std::fs::write(root.path().join("load.bin"), &old).unwrap();
    let server = Server::start(root.path(), &[]);
    let out = temp_root();
    let addr = server.v4.to_string();
    let gets: Vec<(std::path::PathBuf, std::process::Child)> = (0..20)
        .map(|i| {
            let dest = out.path().join(format!("got{i}"));
            // Lock-step at 512 bytes: 20 480 round trips, long enough to overlap the put.
            let child = Command::new(env!("CARGO_BIN_EXE_phoneboot"))
                .args(["get", &addr, "load.bin", "-o", dest.to_str().unwrap()])
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            (dest, child)
        })
        .collect();
    // Replace the file once every transfer has begun (each holds the version it began with).
    assert_eq!(server.counter_reaches("Requests", 20), 20);
    let (ok, _, err) = file_cmd(root.path(), &["put", "-", "load.bin"], Some(&new));
    assert!(ok, "{err}");
    let (old_sum, new_sum) = (sha256(&old), sha256(&new));
    let mut got_old = 0;
    for (dest, mut child) in gets {
        assert!(child.wait().unwrap().success());
        let sum = sha256(&std::fs::read(&dest).unwrap());
        assert!(
            sum == old_sum || sum == new_sum,
            "{} got a mix of versions",
            dest.display()
        );
        got_old += usize::from(sum == old_sum);
    }
    assert!(
        got_old > 0,
        "no transfer overlapped the replacement; the test proved nothing"
    );
    let after = Command::new(env!("CARGO_BIN_EXE_phoneboot"))
        .args([
            "get",
            &addr,
            "load.bin",
            "-o",
            "-",
            "--blksize",
            "1428",
            "--windowsize",
            "16",
        ])
        .output()
        .unwrap();
    assert_eq!(
        sha256(&after.stdout),
        new_sum,
        "new requests get the new version"
    );
}
