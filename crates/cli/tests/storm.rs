//! `phoneboot storm` end to end: emulated phones boot against a real `phoneboot serve`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use support::{Server, phoneboot, temp_root};

fn database(dir: &Path, phones: u32) -> std::path::PathBuf {
    let db = dir.join("storm.db");
    let run = |args: &[&str]| {
        let (ok, out, err) = phoneboot(args);
        assert!(ok, "{args:?}: {err}");
        out
    };
    let db_s = db.to_str().unwrap();
    run(&["init", "--example", "--database", db_s]);
    let mut csv = String::from("mac,model,pool,line1_dn\n");
    for i in 0..phones {
        let model = ["8841", "7965", "7941"][i as usize % 3];
        csv.push_str(&format!("00DD{i:08X},{model},Default,{}\n", 500_000 + i));
    }
    let path = dir.join("phones.csv");
    std::fs::write(&path, csv).unwrap();
    run(&["import", path.to_str().unwrap(), "--database", db_s]);
    db
}

fn value(out: &str, key: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

#[test]
fn phones_from_the_database_all_boot_and_the_report_has_both_plots() {
    let dir = temp_root();
    let db = database(dir.path(), 300);
    let root = dir.path().join("tftp");
    std::fs::create_dir(&root).unwrap();
    let server = Server::start(&root, &["--database", db.to_str().unwrap()]);
    let report = dir.path().join("storm.html");
    let (ok, out, err) = phoneboot(&[
        "storm",
        "--server",
        &server.v4.to_string(),
        "--http-port",
        &server.http.unwrap().port().to_string(),
        "--from-database",
        db.to_str().unwrap(),
        "--phones",
        "300",
        "--concurrency",
        "100",
        "--running-load",
        "configured",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(value(&out, "booted"), 300, "{out}");
    assert_eq!(value(&out, "failed"), 0);
    assert!(out.contains("boot time: p50 "), "{out}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "histogram and rate plot");
    assert!(html.contains("Boot time of the devices that booted"));
    assert!(html.contains("File requests answered per second"));
    assert!(html.contains("booted: 300"));
    assert!(
        html.contains("<th>concurrency</th><td>100</td>"),
        "the report says what ran"
    );
    assert!(html.contains("<th>phoneboot</th>"));
    // 8841s asked HTTP first, the others TFTP.
    let counters = server.counters();
    assert!(counters["HttpRequestsProcessed"] >= 100, "{counters:?}");
    assert!(counters["SEPFoundCount"] >= 298, "{counters:?}");
    // Each device asks for the file its model does: the example's IP Communicator its device
    // name, its 7935 (a non-XML load) the legacy SEP<MAC>.cnf.
    let log = server.log_text();
    assert!(log.contains("file=BOBSOFTPHONE.cnf.xml"), "{log}");
    assert!(log.contains("file=SEP001122334407.cnf "), "{log}");
}

#[test]
fn a_busy_server_is_waited_for_and_every_phone_still_boots() {
    let dir = temp_root();
    let db = database(dir.path(), 60);
    let root = dir.path().join("tftp");
    std::fs::create_dir(&root).unwrap();
    let server = Server::start(
        &root,
        &[
            "--database",
            db.to_str().unwrap(),
            "--max-serving-count",
            "2",
            // No queue: every request beyond the count is answered busy at once, as CUCM.
            "--queue-length",
            "0",
        ],
    );
    let (ok, out, err) = phoneboot(&[
        "storm",
        "--server",
        &server.v4.to_string(),
        "--http",
        "never",
        "--phones",
        "60",
        "--from-database",
        db.to_str().unwrap(),
        "--concurrency",
        "60",
        "--busy-wait-ms",
        "50",
        "--running-load",
        "configured",
        "--machine",
    ]);
    assert!(ok, "{out}\n{err}");
    let get = |k: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(get("booted"), 60, "{out}");
    assert!(
        get("busy") > 0,
        "a serving count of 2 must turn some away: {out}"
    );
    assert!(server.counters()["RequestsOverflow"] > 0);
}

#[test]
fn a_silent_first_server_makes_phones_fail_over_to_the_second() {
    let dir = temp_root();
    let db = database(dir.path(), 20);
    let root = dir.path().join("tftp");
    std::fs::create_dir(&root).unwrap();
    let server = Server::start(&root, &["--database", db.to_str().unwrap()]);
    // Nothing listens on 127.0.0.9 at that port: the first server never answers.
    let silent = format!("127.0.0.9:{}", server.v4.port());
    let (ok, out, err) = phoneboot(&[
        "storm",
        "--server",
        &silent,
        "--server",
        &server.v4.to_string(),
        "--http",
        "never",
        "--phones",
        "20",
        "--from-database",
        db.to_str().unwrap(),
        "--timeout-ms",
        "100",
        "--retries",
        "1",
        "--running-load",
        "configured",
    ]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(value(&out, "booted"), 20, "{out}");
    assert_eq!(value(&out, "fail-overs"), 20, "{out}");
    // Each phone timed out on the silent server before moving on (1 try + 1 retry).
    assert!(value(&out, "retransmissions") >= 20, "{out}");
}

#[test]
fn the_in_process_responder_measures_the_tools_own_ceiling() {
    let (ok, out, err) = phoneboot(&[
        "storm",
        "--responder",
        "--phones",
        "500",
        "--model",
        "8841,7941",
    ]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(value(&out, "booted"), 500, "{out}");
    assert_eq!(value(&out, "failed"), 0);
}

#[test]
fn failed_boots_are_counted_by_reason_and_make_the_command_fail() {
    // A server port with nothing behind it: every phone gives up.
    let (ok, out, err) = phoneboot(&[
        "storm",
        "--server",
        "127.0.0.9:9",
        "--phones",
        "5",
        "--timeout-ms",
        "50",
        "--retries",
        "1",
        "--http",
        "never",
    ]);
    assert!(!ok);
    assert_eq!(value(&out, "failed"), 5, "{out}");
    assert!(out.contains("5 no server answered"), "{out}");
    assert!(err.contains("5 of 5 devices did not boot"), "{err}");
}

#[test]
fn phones_on_the_default_configuration_or_missing_files_are_not_counted_booted() {
    let dir = temp_root();
    let db = database(dir.path(), 30);
    let root = dir.path().join("tftp");
    std::fs::create_dir(&root).unwrap();
    let server = Server::start(&root, &["--database", db.to_str().unwrap()]);
    // Phones the database does not know: each gets "not found" for its own file and falls
    // back to XMLDefault.cnf.xml.
    let (ok, out, err) = phoneboot(&[
        "storm",
        "--server",
        &server.v4.to_string(),
        "--http",
        "never",
        "--phones",
        "20",
        "--mac-start",
        "0000.7700.0000",
        "--model",
        "7965",
        "--running-load",
        "configured",
    ]);
    assert!(!ok, "{out}");
    assert_eq!(value(&out, "booted"), 0, "{out}");
    assert_eq!(value(&out, "default config only"), 20, "{out}");
    assert!(
        out.contains("20 SEP<MAC>.cnf.xml (the device's own configuration)"),
        "{out}"
    );
    assert!(
        err.contains("20 of 20 devices are not provisioned"),
        "{err}"
    );
    // Phones of the database whose load is in no root: booted, but missing it.
    let (ok, out, _) = phoneboot(&[
        "storm",
        "--server",
        &server.v4.to_string(),
        "--http",
        "never",
        "--from-database",
        db.to_str().unwrap(),
        "--phones",
        "30",
        "--machine",
    ]);
    assert!(!ok, "{out}");
    let get = |k: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(get("missing_files") + get("booted"), 30, "{out}");
    assert!(get("missing_files") >= 27, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("not_found ")
            && l.ends_with(".loads")
            && l.contains("sip88xx.")),
        "the 8841s' load: {out}"
    );
    // With the loads on disk, the same phones are provisioned.
    for line in out.lines().filter_map(|l| l.strip_prefix("not_found ")) {
        let name = line.split_once(' ').unwrap().1;
        if name.ends_with(".loads") {
            std::fs::write(root.join(name), b"load").unwrap();
        }
    }
    let (ok, out, err) = phoneboot(&[
        "storm",
        "--server",
        &server.v4.to_string(),
        "--http",
        "never",
        "--from-database",
        db.to_str().unwrap(),
        "--phones",
        "30",
    ]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(value(&out, "booted"), 30, "{out}");
}

/// Open file descriptors of a process.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn a_flood_of_half_open_junk_and_oversized_requests_costs_the_phones_nothing() {
    let dir = temp_root();
    let db = database(dir.path(), 2000);
    let root = dir.path().join("tftp");
    std::fs::create_dir(&root).unwrap();
    // phoneboot's defaults: Maximum Serving Count 200, the queue, the grace.
    let server = Server::start(
        &root,
        &["--database", db.to_str().unwrap(), "--http-listen", "off"],
    );
    let pid = server.pid();
    let target = server.v4.to_string();
    let flood = {
        let target = target.clone();
        std::thread::spawn(move || {
            phoneboot(&[
                "flood",
                "--server",
                &target,
                "--half-open",
                "2000",
                // Files the server has: each half-open request takes a serving slot.
                "--name",
                "XMLDefault.cnf.xml",
                "--name",
                "SEP00DD00000001.cnf.xml",
                "--junk",
                "2000",
                "--truncated",
                "500",
                "--oversized",
                "500",
                "--stray",
                "500",
                "--over-ms",
                "3000",
                // The phones' address, ports outside the ones the system gives the phones.
                "--first-port",
                "20000",
            ])
        })
    };
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = std::sync::Arc::clone(&sampling);
        std::thread::spawn(move || {
            let mut most = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(fds(pid));
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            most
        })
    };
    let (ok, out, err) = phoneboot(&[
        "storm",
        "--server",
        &target,
        "--http",
        "never",
        "--from-database",
        db.to_str().unwrap(),
        "--phones",
        "2000",
        "--concurrency",
        "500",
        "--running-load",
        "configured",
    ]);
    let (flood_ok, flood_out, flood_err) = flood.join().unwrap();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let most_fds = sampler.join().unwrap();
    assert!(flood_ok, "{flood_out}{flood_err}");
    assert!(ok, "{out}\n{err}");
    assert_eq!(value(&out, "booted"), 2000, "{out}");
    assert_eq!(value(&out, "failed"), 0, "{out}");
    assert_eq!(
        value(&out, "busy answers"),
        0,
        "no phone was refused: {out}"
    );
    assert_eq!(value(&flood_out, "half-open"), 2000);
    let counters = server.counters();
    assert_eq!(counters["RequestsOverflow"], 0, "{counters:?}");
    assert!(
        counters["SlotsYielded"] > 0,
        "half-open requests gave their slots up"
    );
    assert!(counters["MalformedDatagrams"] >= 1000, "{counters:?}");
    // Half-open transfers end (their bounded retries, or the pool's reaping)...
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    while server.counters()["TransfersUnanswered"] > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "half-open transfers never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(server.counter_reaches("RequestsInProgress", 0), 0);
    // ...and what they held stayed bounded: sockets within the serving count and the
    // unanswered pool (200 + 512) plus the server's own, memory within a small budget.
    assert!(most_fds <= 200 + 512 + 64, "{most_fds} descriptors");
    let hwm = vm_hwm_kib(pid);
    assert!(hwm < 256 * 1024, "peak RSS {hwm} KiB");
    eprintln!("flood: most fds {most_fds}, VmHWM {hwm} KiB, {counters:?}");
}

#[test]
fn flood_and_impair_say_what_is_wrong_and_start_nothing() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let cases: [(&[&str], &str); 6] = [
        (
            &["impair", "--server", "127.0.0.1:69", "--loss", "1.5"],
            "--loss 1.5: a share from 0 to 1",
        ),
        (
            &["impair", "--server", "127.0.0.1:69", "--duplicate=-0.1"],
            "--duplicate -0.1: a share from 0 to 1",
        ),
        (
            &["impair", "--server", "nowhere.invalid"],
            "--server nowhere.invalid",
        ),
        (
            &["impair", "--server", "127.0.0.1:69", "--listen", &taken],
            &format!("--listen {taken}"),
        ),
        (
            &["flood", "--server", "nowhere.invalid"],
            "--server nowhere.invalid",
        ),
        (
            &["flood", "--server", "127.0.0.1:69", "--half-open", "many"],
            "--half-open",
        ),
    ];
    for (args, says) in cases {
        let (ok, out, err) = phoneboot(args);
        assert!(!ok, "{args:?} should fail: {out}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!out.contains("listening on"), "{args:?} started: {out}");
    }
}
