//! `phoneboot serve` end to end: admission, counters, files, shutdown, configuration errors.
//! (Which address and port answers is `ports.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

#[test]
fn busy_reply_can_be_a_silent_drop() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = Server::start(
        root.path(),
        &[
            "--max-serving-count",
            "1",
            "--busy-reply",
            "drop",
            "--queue-length",
            "0",
        ],
    );
    let _held = hold_slot(server.v4, b"size1536.bin");
    let second = Raw::new(false);
    assert!(
        second
            .exchange(server.v4, &rrq(&[b"size513.bin", b"octet"]))
            .is_none()
    );
    assert_eq!(server.counters()["RequestsOverflow"], 1);
}

#[test]
fn busy_reply_is_error_0_with_the_configured_text() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = Server::start(
        root.path(),
        &[
            "--max-serving-count",
            "1",
            "--busy-message",
            "Busy: retry in 30 s",
            "--queue-length",
            "0",
        ],
    );
    let _held = hold_slot(server.v4, b"size1536.bin");
    let (d, from) = Raw::new(false)
        .exchange(server.v4, &rrq(&[b"size513.bin", b"octet"]))
        .unwrap();
    assert_eq!(as_error(&d), Some((0, "Busy: retry in 30 s".into())));
    assert_eq!(
        from, server.v4,
        "the busy answer comes from the request port"
    );
}

/// A scripted sequence, then every counter's exact value, in /metrics and `phoneboot counters`.
#[test]
fn counters_count_exactly_what_happened() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = Server::start(
        root.path(),
        &["--max-serving-count", "1", "--queue-length", "0"],
    );
    let file = rrq(&[b"size1536.bin", b"octet"]);

    // 1: a complete transfer, 4 blocks (the last one empty).
    let c = Raw::new(false);
    let (_, tid) = c.exchange(server.v4, &file).unwrap();
    for block in 1..=4u8 {
        c.send(tid, &[0, 4, 0, block]);
        if block < 4 {
            assert!(c.recv().is_some());
        }
    }
    // The server frees the slot when it has read the last ACK, which the client does not see:
    // wait for it, or the held transfer below would find the slot still taken.
    assert_eq!(server.counter_reaches("RequestsProcessed", 1), 1);
    // 2: not found.
    assert_eq!(
        as_error(
            &Raw::new(false)
                .exchange(server.v4, &rrq(&[b"nope", b"octet"]))
                .unwrap()
                .0
        )
        .unwrap()
        .0,
        1
    );
    // 3: a transfer held open (answered once, then silent), so that 4 overflows.
    let (holder, held_tid) = hold_slot(server.v4, b"size1536.bin");
    // 4: overflow.
    assert_eq!(
        as_error(&Raw::new(false).exchange(server.v4, &file).unwrap().0)
            .unwrap()
            .0,
        0
    );
    // 5: denied.
    assert_eq!(
        as_error(
            &Raw::new(false)
                .exchange(server.v4, &rrq(&[b"../x", b"octet"]))
                .unwrap()
                .0
        )
        .unwrap()
        .0,
        2
    );
    // 3 ends: the client aborts it.
    holder.send(held_tid, b"\0\x05\0\x00bye\0");
    assert_eq!(server.counter_reaches("RequestsAborted", 1), 1);
    // 6 and 7: over HTTP, found (from the cache) and not found.
    assert_eq!(
        http_get(server.http.unwrap(), "/SEP001122AABBCC.cnf.xml"),
        "<device>\n</device>\n"
    );
    assert_eq!(http_get(server.http.unwrap(), "/nope"), "File not found\n");
    std::thread::sleep(Duration::from_millis(100));

    let c = server.counters();
    let expect = [
        ("Requests", 5),
        ("RequestsProcessed", 1),
        ("RequestsNotFound", 1),
        ("RequestsOverflow", 1),
        ("RequestsAborted", 1),
        ("RequestsInProgress", 0),
        ("RequestsDenied", 1),
        ("RequestsOptionProbe", 0),
        // 4 of the first transfer, 2 of the held one (answered once, then silent).
        ("SegmentsSent", 6),
        ("SegmentsAcknowledged", 5),
        // The first transfer read the file from disk (4 segments); the held one hit the cache.
        ("QueueFull", 1),
        ("SegmentsFromDisk", 4),
        ("MaxServingCount", 1),
        ("HttpRequests", 2),
        ("HttpRequestsProcessed", 1),
        ("HttpRequestsNotFound", 1),
        ("HttpRequestsOverflow", 0),
        ("HttpRequestsAborted", 0),
        ("HttpConnectRequests", 0),
        ("HttpServedFromDisk", 1),
    ];
    for (name, value) in expect {
        assert_eq!(c[name], value, "{name} in {c:?}");
    }
    let identity = c["RequestsProcessed"]
        + c["RequestsNotFound"]
        + c["RequestsOverflow"]
        + c["RequestsAborted"]
        + c["RequestsInProgress"]
        + c["RequestsDenied"]
        + c["RequestsOptionProbe"];
    assert_eq!(c["Requests"], identity);

    let metrics = http_get(server.admin.unwrap(), "/metrics");
    assert!(
        metrics.contains("\nphoneboot_tftp_requests_total 5\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\nphoneboot_tftp_segments_sent_total 6\n"));
    assert!(metrics.contains("\nphoneboot_http_requests_total 2\n"));
    assert!(metrics.contains("\nphoneboot_http_requests_not_found_total 1\n"));
    assert!(metrics.contains("# TYPE phoneboot_tftp_requests_in_progress gauge"));

    let admin = server.admin.unwrap().to_string();
    let (ok, table, err) = phoneboot(&["counters", "--admin", &admin]);
    assert!(ok, "{err}");
    assert!(table.starts_with("Cisco TFTP"), "{table}");
    // Every counter of the table shows the value the admin listener has.
    for (name, value) in &c {
        let row = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} missing from the table:\n{table}"));
        if name != "HeartBeat" {
            assert_eq!(
                row.split_whitespace().last(),
                Some(value.to_string().as_str()),
                "{name}"
            );
        }
    }
}

#[test]
fn cache_at_startup_serves_the_first_request_from_memory() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &["--cache-at-startup"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log_text().contains("at startup") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server.log_text().contains("cached 10 files"),
        "{}",
        server.log_text()
    );
    let raw = Raw::new(false);
    let (d, tid) = raw
        .exchange(server.v4, &rrq(&[b"size513.bin", b"octet"]))
        .unwrap();
    assert_eq!(&d[..4], &[0, 3, 0, 1]);
    raw.send(tid, &[0, 4, 0, 1]);
    raw.recv().unwrap();
    raw.send(tid, &[0, 4, 0, 2]);
    assert_eq!(server.counter_reaches("RequestsProcessed", 1), 1);
    assert_eq!(
        server.counters()["SegmentsFromDisk"],
        0,
        "the first transfer hit the cache"
    );
}

#[test]
fn heartbeat_ticks_while_alive() {
    let root = temp_root();
    let server = Server::start(root.path(), &[]);
    let first = server.counters()["HeartBeat"];
    std::thread::sleep(Duration::from_millis(2100));
    assert!(server.counters()["HeartBeat"] >= first + 2);
}

#[test]
fn sigterm_stops_the_server_within_the_grace_period() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    // A short grace, so that the test shows what happens after it without waiting 5 s.
    let config = root.path().join("grace.toml");
    std::fs::write(&config, "[tftp]\nshutdown_grace_ms = 300\n").unwrap();
    let mut server = Server::start(root.path(), &["--config", config.to_str().unwrap()]);
    // A stalled transfer: the client never ACKs.
    let stalled = Raw::new(false);
    assert!(
        stalled
            .exchange(server.v4, &rrq(&[b"random-1MiB.bin", b"octet"]))
            .is_some()
    );
    // The stalled transfer would retry for tens of seconds; the grace ends it.
    let status = server
        .terminate(Duration::from_secs(15))
        .expect("exit when the grace is over");
    assert!(status.success(), "{status}");
    // The stalled client was told why.
    let mut told = false;
    while let Some((d, _)) = stalled.recv() {
        told |= as_error(&d).is_some_and(|e| e.1.contains("shutting down"));
    }
    assert!(told, "the client of a stopped transfer gets an ERROR");
    assert!(server.log_text().contains("stopped"));
}

#[test]
fn a_file_changed_on_disk_is_served_new_without_restart() {
    let root = temp_root();
    std::fs::write(root.path().join("RingList.xml"), b"<old/>").unwrap();
    let server = Server::start(root.path(), &[]);
    let get = || {
        let (d, _) = Raw::new(false)
            .exchange(server.v4, &rrq(&[b"ringlist.xml", b"octet"]))
            .unwrap();
        d[4..].to_vec()
    };
    assert_eq!(get(), b"<old/>");
    std::fs::write(root.path().join("RingList.tmp"), b"<new version/>").unwrap();
    std::fs::rename(
        root.path().join("RingList.tmp"),
        root.path().join("RingList.xml"),
    )
    .unwrap();
    assert_eq!(get(), b"<new version/>");
    std::fs::remove_file(root.path().join("RingList.xml")).unwrap();
    let (d, _) = Raw::new(false)
        .exchange(server.v4, &rrq(&[b"ringlist.xml", b"octet"]))
        .unwrap();
    assert_eq!(as_error(&d).unwrap().0, 1);
}

#[test]
fn alternate_roots_are_searched_in_order_after_the_root() {
    let root = temp_root();
    let alt1 = temp_root();
    let alt2 = temp_root();
    std::fs::write(alt1.path().join("load.bin"), b"alt1").unwrap();
    std::fs::write(alt2.path().join("load.bin"), b"alt2").unwrap();
    std::fs::write(alt2.path().join("only2.bin"), b"only2").unwrap();
    let a1 = alt1.path().display().to_string();
    let a2 = alt2.path().display().to_string();
    let server = Server::start(
        root.path(),
        &["--alternate-root", &a1, "--alternate-root", &a2],
    );
    let get = |name: &[u8]| {
        Raw::new(false)
            .exchange(server.v4, &rrq(&[name, b"octet"]))
            .unwrap()
            .0[4..]
            .to_vec()
    };
    assert_eq!(get(b"load.bin"), b"alt1");
    assert_eq!(get(b"only2.bin"), b"only2");
}

#[test]
fn wrong_configuration_is_rejected_with_the_option_and_the_reason() {
    let (ok, _, err) = phoneboot(&[
        "serve",
        "--max-serving-count",
        "0",
        "--tftp-listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok);
    assert!(
        err.contains(
            "[tftp] max_serving_count (or --max-serving-count): 0 is not a whole number from 1 \
             to 100000"
        ),
        "{err}"
    );

    let (ok, _, err) = phoneboot(&["serve", "--tftp-listen", "localhost69"]);
    assert!(!ok);
    assert!(err.contains("[tftp] listen (or --tftp-listen): "), "{err}");

    let dir = temp_root();
    let cfg = dir.path().join("phoneboot.toml");
    std::fs::write(&cfg, "[tftp]\nmax_serving_cnt = 5\n").unwrap();
    let (ok, _, err) = phoneboot(&["serve", "--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("phoneboot.toml:2 [tftp] max_serving_cnt: is not a field here"),
        "the file, the line, the section and the key: {err}"
    );
    std::fs::write(&cfg, "root = \"/srv\"\n\n[tftp]\nretries = \"five\"\n").unwrap();
    let (ok, _, err) = phoneboot(&["serve", "--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("phoneboot.toml:4 [tftp] retries: \"five\" is not a whole number"),
        "no Rust type names: {err}"
    );
    assert!(!err.contains("u32"), "{err}");

    let (ok, _, err) = phoneboot(&[
        "serve",
        "--root",
        "/nonexistent/phoneboot",
        "--tftp-listen",
        "127.0.0.1:0",
        "--admin-listen",
        "off",
    ]);
    assert!(!ok);
    assert!(
        err.contains("/nonexistent/phoneboot") && err.contains("--root"),
        "{err}"
    );
}

#[test]
fn a_taken_port_is_explained_not_panicked_on() {
    let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let root = temp_root();
    let (ok, _, err) = phoneboot(&[
        "serve",
        "--root",
        root.path().to_str().unwrap(),
        "--tftp-listen",
        &addr,
        "--admin-listen",
        "off",
    ]);
    assert!(!ok);
    assert!(
        err.contains("cannot listen on") && err.contains("another process holds this port"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn port_69_without_privilege_names_the_fix() {
    let Some(mut command) = unprivileged_phoneboot() else {
        return;
    };
    let out = command
        .args([
            "serve",
            "--root",
            "/",
            "--tftp-listen",
            "127.0.0.1:69",
            "--admin-listen",
            "off",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("CAP_NET_BIND_SERVICE") && err.contains("0.0.0.0:6969"),
        "{err}"
    );
}

#[test]
fn help_explains_each_option_with_its_default() {
    let (ok, help, _) = phoneboot(&["serve", "--help"]);
    assert!(ok);
    // Compare with the line wrapping undone.
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "--tftp-listen",
        "[default: [::]:69",
        "--max-serving-count",
        "[default: 200]",
        "--busy-reply",
        "--root",
        "[default: ./tftp",
        "CAP_NET_BIND_SERVICE",
        "PHONEBOOT_MAX_SERVING_COUNT",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn get_command_downloads_with_our_own_client() {
    let root = temp_root();
    let fixtures = write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &[]);
    let out = temp_root();
    for f in &fixtures {
        let dest = out_path(out.path(), &f.request);
        let (ok, _, err) = phoneboot(&[
            "get",
            &server.v4.to_string(),
            &f.request,
            "-o",
            dest.to_str().unwrap(),
            "--blksize",
            "1428",
            "--windowsize",
            "8",
            "--tsize",
        ]);
        assert!(ok, "{}: {err}", f.request);
        assert_eq!(
            sha256(&std::fs::read(&dest).unwrap()),
            sha256(&f.content),
            "{}",
            f.request
        );
    }
    let (ok, _, err) = phoneboot(&[
        "get",
        &server.v4.to_string(),
        "missing.bin",
        "-o",
        "/dev/null",
    ]);
    assert!(!ok);
    assert!(err.contains("File not found"), "{err}");
}

/// A boot storm: 2000 requests arriving at once must all be answered, none lost in the kernel
/// (the request socket's buffer is sized for bursts) and every one counted.
#[test]
fn a_burst_of_2000_requests_is_answered_in_full() {
    let root = temp_root();
    let server = Server::start(root.path(), &[]);
    let sockets: Vec<Raw> = (0..200).map(|_| Raw::new(false)).collect();
    for s in &sockets {
        for i in 0..10 {
            s.send(
                server.v4,
                &rrq(&[format!("CTLSEP{i:012}.tlv").as_bytes(), b"octet"]),
            );
        }
    }
    for s in &sockets {
        s.socket.set_nonblocking(true).unwrap();
    }
    let mut answered = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 600];
    while answered < 2000 && Instant::now() < deadline {
        for s in &sockets {
            while let Ok((n, _)) = s.socket.recv_from(&mut buf) {
                assert_eq!(as_error(&buf[..n]).map(|e| e.0), Some(1));
                answered += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(answered, 2000);
    assert_eq!(server.counter_reaches("RequestsNotFound", 2000), 2000);
    let c = server.counters();
    assert_eq!(
        (c["Requests"], c["RequestsNotFound"]),
        (2000, 2000),
        "{c:?}"
    );
}

#[test]
fn environment_variables_configure_the_server() {
    let root = temp_root();
    let mut child = Command::new(env!("CARGO_BIN_EXE_phoneboot"))
        .args([
            "serve",
            "--tftp-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("PHONEBOOT_ROOT", root.path())
        .env("PHONEBOOT_HTTP_LISTEN", "off")
        .env("PHONEBOOT_MAX_SERVING_COUNT", "321")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut admin = None;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
        if let Some(rest) = line.split("admin HTTP on http://").nth(1) {
            admin = Some(
                rest.trim()
                    .trim_end_matches("/metrics")
                    .parse::<SocketAddr>()
                    .unwrap(),
            );
            break;
        }
    }
    let body = http_get(admin.expect("admin address"), "/counters");
    let _ = child.kill();
    let _ = child.wait();
    assert!(body.contains("MaxServingCount 321\n"), "{body}");
}

/// `phoneboot serve` as an ordinary user, with no address given: port 69 is not allowed, so
/// the default listener moves to 6969 with a warning that says why and what to do.
#[test]
fn an_ordinary_user_gets_a_working_server_on_6969_by_default() {
    let Some(mut command) = unprivileged_phoneboot() else {
        return;
    };
    // As the README has it: run in a folder of one's own (the database is created there).
    let home = temp_root();
    std::fs::set_permissions(
        home.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    command.current_dir(home.path());
    let args = [
        "serve",
        "--root",
        "/",
        "--admin-listen",
        "off",
        "--http-listen",
        "off",
    ];
    let mut child = command
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("PHONEBOOT_TFTP_LISTEN")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening on udp") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("TFTP listening on udp [::]:6969"), "{log}");
    assert!(
        log.contains("CAP_NET_BIND_SERVICE") && log.contains("Deployment"),
        "{log}"
    );
}

/// A nonsecure cluster's boot: every phone probes its own CTLSEP<MAC>.tlv. The misses are
/// counted one by one but logged once per name pattern, and the device-file counters tell SEP,
/// SIP, ld and gk files apart.
#[test]
fn missing_files_are_counted_each_but_logged_once_per_pattern() {
    let root = temp_root();
    std::fs::write(root.path().join("SEP0011223344AA.cnf.xml"), b"<device/>").unwrap();
    std::fs::write(root.path().join("gk0011223344aa"), b"gk").unwrap();
    let server = Server::start(root.path(), &[]);
    for i in 0..200u32 {
        let name = format!("CTLSEP{i:012X}.tlv");
        let (d, _) = Raw::new(false)
            .exchange(server.v4, &rrq(&[name.as_bytes(), b"octet"]))
            .unwrap();
        assert_eq!(as_error(&d).unwrap().0, 1);
    }
    for (name, found) in [
        ("sep0011223344aa.cnf.xml", true),
        ("SEP0011223344BB.cnf.xml", false),
        ("SIP0011223344AA.cnf", false),
        ("ld0011223344aa", false),
        ("GK0011223344AA", true),
    ] {
        let (d, _) = Raw::new(false)
            .exchange(server.v4, &rrq(&[name.as_bytes(), b"octet"]))
            .unwrap();
        assert_eq!(d[1] == 3, found, "{name}");
    }
    assert_eq!(server.counter_reaches("RequestsNotFound", 203), 203);
    let c = server.counters();
    for (counter, value) in [
        ("RequestsNotFound", 203),
        ("SEPFoundCount", 1),
        ("SEPNotFoundCount", 1),
        ("SIPNotFoundCount", 1),
        ("LDNotFoundCount", 1),
        ("GKFoundCount", 1),
    ] {
        assert_eq!(c[counter], value, "{counter} in {c:?}");
    }
    let log = server.log_text();
    let ctl_lines = log
        .lines()
        .filter(|l| l.contains("not found") && l.contains("CTLSEP"))
        .count();
    assert_eq!(
        ctl_lines, 1,
        "200 CTL probes must make one log line:\n{log}"
    );
}

/// `phoneboot` as an ordinary user: as root, dropped to nobody with no capabilities (setpriv);
/// as a user, itself. `None` (the test skips) only outside CI when setpriv is missing.
fn unprivileged_phoneboot() -> Option<Command> {
    let bin = env!("CARGO_BIN_EXE_phoneboot");
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if !is_root {
        return Some(Command::new(bin));
    }
    if !require("setpriv") {
        return None;
    }
    let mut command = Command::new("setpriv");
    command.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        bin,
    ]);
    Some(command)
}

#[test]
fn netascii_of_a_file_too_large_to_hold_is_refused_with_the_mode_to_ask_for() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &[]);
    let raw = Raw::new(false);
    let (d, _) = raw
        .exchange(
            server.v4,
            &rrq(&[b"firmware/load-streamed.sbn", b"netascii"]),
        )
        .unwrap();
    let (code, message) = as_error(&d).expect("an ERROR");
    assert_eq!(code, 0);
    assert!(message.contains("octet"), "{message}");
    // The same file in octet mode is served.
    let (d, _) = Raw::new(false)
        .exchange(server.v4, &rrq(&[b"firmware/load-streamed.sbn", b"octet"]))
        .unwrap();
    assert_eq!(&d[..4], &[0, 3, 0, 1]);
}
