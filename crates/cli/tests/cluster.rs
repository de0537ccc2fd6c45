//! A cluster: `phoneboot serve` nodes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 share one real
//! PostgreSQL (started by the test with initdb in a temporary directory). What one writes,
//! every node serves; files stored in the database are the same bytes, ETag and
//! Last-Modified everywhere; and the faults a cluster exists for — the database gone during a
//! storm, a node killed during one, a node started while the database is down — cost no boot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use phoneboot_testkit::Postgres;
use support::cluster::{curl_tftp, ok, wait_for};
use support::{Server, phoneboot, temp_root};

/// A node on `ip`, with its own root and state directory under `dir`; `port` for TFTP when
/// the test needs every node on one port (a phone has one TFTP port for all its servers).
fn node(dir: &Path, ip: &str, url: &str, port: u16) -> Server {
    let root = dir.join(format!("root-{ip}"));
    std::fs::create_dir_all(&root).unwrap();
    let args: Vec<String> = [
        "serve",
        "--root",
        root.to_str().unwrap(),
        "--tftp-listen",
        &format!("{ip}:{port}"),
        "--http-listen",
        &format!("{ip}:0"),
        "--admin-listen",
        &format!("{ip}:0"),
        "--database",
        url,
        "--state-dir",
        dir.join(format!("state-{ip}")).to_str().unwrap(),
        "--node-name",
        &format!("tftp-{ip}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Server::start_with(&args)
}

/// A UDP port free on every address given.
fn common_port(ips: &[&str]) -> u16 {
    loop {
        let first = std::net::UdpSocket::bind((ips[0], 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        if ips[1..]
            .iter()
            .all(|ip| std::net::UdpSocket::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
}

/// Status line, headers (lower-case names) and body of an HTTP GET, by curl.
fn http(server: &Server, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let head = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-D"])
        .arg(head.path())
        .arg(format!("http://{}{path}", server.http.unwrap()))
        .output()
        .unwrap();
    let head = std::fs::read_to_string(head.path()).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, out.stdout)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn db(url: &str) -> &Path {
    Path::new(url)
}

#[test]
fn three_nodes_on_one_postgresql_serve_every_change_and_every_stored_file_alike() {
    let dir = temp_root();
    let url = Postgres::shared().create_database();
    ok(db(&url), &["init", "--example"]);
    let nodes: Vec<Server> = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        .iter()
        .map(|ip| node(dir.path(), ip, &url, 0))
        .collect();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);

    // A device added with the CLI is served by every node, over TFTP and HTTP.
    ok(
        db(&url),
        &[
            "device",
            "add",
            "00AABBCC0101",
            "model=8841",
            "pool=Default",
        ],
    );
    let file = "SEP00AABBCC0101.cnf.xml";
    let rendered = ok(db(&url), &["render", file]);
    for node in [a, b, c] {
        wait_for("the new phone's file on every node", || {
            curl_tftp(node, file).is_some_and(|got| got == rendered.as_bytes())
        });
        let (status, _, body) = http(node, &format!("/{file}"));
        assert_eq!((status, body), (200, rendered.clone().into_bytes()));
    }

    // A file stored in the database is the same bytes, ETag and Last-Modified everywhere.
    let ring: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let upload = dir.path().join("chime.raw");
    std::fs::write(&upload, &ring).unwrap();
    ok(
        db(&url),
        &[
            "file",
            "put",
            "--cluster",
            upload.to_str().unwrap(),
            "Ringtones/Chime.raw",
        ],
    );
    let mut seen = Vec::new();
    for node in [a, b, c] {
        wait_for("the stored file on every node", || {
            http(node, "/ringtones/chime.raw").0 == 200
        });
        let (_, headers, body) = http(node, "/Ringtones/Chime.raw");
        assert!(body == ring, "the stored file's bytes on {}", node.v4);
        assert_eq!(curl_tftp(node, "Ringtones/Chime.raw").unwrap(), ring);
        seen.push((
            header(&headers, "etag").to_owned(),
            header(&headers, "last-modified").to_owned(),
        ));
    }
    assert!(seen[0].0.len() > 60, "an ETag: {seen:?}");
    assert!(
        seen.iter().all(|s| *s == seen[0]),
        "one ETag and Last-Modified on every node: {seen:?}"
    );
    // Every node's counters side by side, as each reported them.
    let table = ok(db(&url), &["counters", "--cluster"]);
    for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        assert!(table.contains(&format!("tftp-{ip}")), "{table}");
    }
    assert!(
        table.contains("3 node(s)") && table.contains("ChangeNotifications"),
        "{table}"
    );
    let listed = ok(db(&url), &["file", "list", "--cluster"]);
    assert!(
        listed.contains("300000") && listed.contains("Ringtones/Chime.raw"),
        "{listed}"
    );

    // A device removed is "not found" everywhere; so is a stored file removed.
    ok(db(&url), &["device", "remove", "SEP00AABBCC0101"]);
    ok(
        db(&url),
        &["file", "rm", "--cluster", "ringtones/chime.raw"],
    );
    for node in [a, b, c] {
        wait_for("the removed phone gone from every node", || {
            curl_tftp(node, file).is_none()
        });
        wait_for("the removed file gone from every node", || {
            http(node, "/Ringtones/Chime.raw").0 == 404
        });
        let counters = node.counters();
        assert_eq!(counters["DatabaseDegraded"], 0);
        assert!(counters["DeviceChangeNotifications"] >= 2, "{counters:?}");
    }

    // A node taken out of the cluster is forgotten; one never seen is refused.
    drop(nodes);
    ok(
        db(&url),
        &["counters", "--cluster", "--forget", "tftp-127.0.0.3"],
    );
    let table = ok(db(&url), &["counters", "--cluster"]);
    assert!(
        table.contains("2 node(s)") && !table.contains("tftp-127.0.0.3"),
        "{table}"
    );
    let (forgot, _, err) = phoneboot(&[
        "counters",
        "--cluster",
        "--forget",
        "nobody",
        "--database",
        &url,
    ]);
    assert!(!forgot && err.contains("no node named \"nobody\""), "{err}");
}

/// `n` phones of the example cluster, imported in one CSV.
fn phones(dir: &Path, url: &str, n: u32) {
    let mut csv = String::from("mac,model,pool,line1_dn\n");
    for i in 0..n {
        csv.push_str(&format!("00EE{i:08X},7965,Default,{}\n", 600_000 + i));
    }
    let path = dir.join("phones.csv");
    std::fs::write(&path, csv).unwrap();
    ok(db(url), &["import", path.to_str().unwrap()]);
}

/// A storm of the database's phones against every node (each phone has them all, as option
/// 150 gives them), run in the background.
fn storm(url: &str, nodes: &[&Server], phones: u32, extra: &[&str]) -> std::process::Child {
    let mut args: Vec<String> = vec!["storm".into()];
    for node in nodes {
        args.extend(["--server".into(), node.v4.to_string()]);
    }
    args.extend(
        [
            "--from-database",
            url,
            "--phones",
            &phones.to_string(),
            "--concurrency",
            "200",
            "--http",
            "never",
            "--running-load",
            "configured",
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_phoneboot"))
        .args(&args)
        .env_remove("PHONEBOOT_CONFIG")
        .env_remove("PHONEBOOT_DATABASE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn value(out: &str, key: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

fn finished(storm: std::process::Child) -> String {
    let out = storm.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn postgresql_stopped_during_a_storm_costs_no_boot_and_later_writes_reach_every_node() {
    let dir = temp_root();
    let mut pg = Postgres::start();
    let url = pg.create_database();
    ok(db(&url), &["init", "--example"]);
    phones(dir.path(), &url, 2000);
    let ips = ["127.0.0.1", "127.0.0.2"];
    let port = common_port(&ips);
    let (a, b) = (
        node(dir.path(), ips[0], &url, port),
        node(dir.path(), ips[1], &url, port),
    );
    // 2 s of boots: the database goes away once the storm is under way.
    let running = storm(&url, &[&a, &b], 2000, &["--rate", "1000"]);
    a.counter_at_least("RequestsProcessed", 200);
    pg.stop();
    let out = finished(running);
    assert_eq!(value(&out, "booted"), 2000, "{out}");
    assert_eq!(value(&out, "failed"), 0, "{out}");
    for node in [&a, &b] {
        node.counter_at_least("DatabaseDegraded", 1);
        let health = support::http_get(node.admin.unwrap(), "/healthz");
        assert!(health.starts_with("degraded\n"), "{health}");
    }
    // A write refused while the database is down changes nothing and says why.
    let (refused, _, err) = phoneboot(&[
        "device",
        "add",
        "00AABBCC0202",
        "model=8841",
        "pool=Default",
        "--database",
        &url,
    ]);
    assert!(!refused, "a write without a database");
    assert!(err.contains(&format!("127.0.0.1:{}", pg.port())), "{err}");
    pg.restart();
    ok(
        db(&url),
        &[
            "device",
            "add",
            "00AABBCC0202",
            "model=8841",
            "pool=Default",
        ],
    );
    for node in [&a, &b] {
        wait_for("a write after the restart on every node", || {
            curl_tftp(node, "SEP00AABBCC0202.cnf.xml").is_some()
        });
        node.counter_at_least("DatabaseOutages", 1);
        // Cleared right after the catch-up that served the write.
        assert_eq!(node.counter_reaches("DatabaseDegraded", 0), 0);
    }
}

#[test]
fn a_node_killed_during_a_storm_costs_no_boot_when_phones_know_both() {
    let dir = temp_root();
    let url = Postgres::shared().create_database();
    ok(db(&url), &["init", "--example"]);
    phones(dir.path(), &url, 2000);
    let ips = ["127.0.0.1", "127.0.0.2"];
    let port = common_port(&ips);
    let (mut a, b) = (
        node(dir.path(), ips[0], &url, port),
        node(dir.path(), ips[1], &url, port),
    );
    // Phones give a silent server up sooner than the default 5 x 1 s, to keep the test short.
    let running = storm(
        &url,
        &[&a, &b],
        2000,
        &["--rate", "1000", "--timeout-ms", "200", "--retries", "5"],
    );
    a.counter_at_least("RequestsProcessed", 200);
    let status = Command::new("kill")
        .args(["-KILL", &a.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = a.terminate(Duration::from_secs(5));
    let out = finished(running);
    assert_eq!(value(&out, "booted"), 2000, "{out}");
    assert_eq!(value(&out, "failed"), 0, "{out}");
    assert!(
        value(&out, "fail-overs") > 0,
        "some phones asked the second node: {out}"
    );
    assert!(b.counters()["RequestsProcessed"] > 0);
}

#[test]
fn a_node_started_while_postgresql_is_down_serves_its_last_state_until_the_database_is_back() {
    let dir = temp_root();
    let mut pg = Postgres::start();
    let url = pg.create_database();
    ok(db(&url), &["init", "--example"]);
    ok(
        db(&url),
        &[
            "device",
            "add",
            "00AABBCC0303",
            "model=8841",
            "pool=Default",
        ],
    );
    let file = "SEP00AABBCC0303.cnf.xml";
    let rendered = ok(db(&url), &["render", file]);
    let head: i64 = ok(db(&url), &["db", "check"])
        .rsplit("version ")
        .next()
        .and_then(|v| v.trim().trim_end_matches(')').parse().ok())
        .unwrap();
    let first = node(dir.path(), "127.0.0.1", &url, 0);
    wait_for("the phone's file", || {
        curl_tftp(&first, file).is_some_and(|got| got == rendered.as_bytes())
    });
    // The node writes its copy in the background.
    let version = dir.path().join("state-127.0.0.1/replica.version");
    wait_for("the node's copy of the database", || {
        std::fs::read_to_string(&version)
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            == Some(head)
    });
    drop(first);
    pg.stop();

    let again = node(dir.path(), "127.0.0.1", &url, 0);
    assert_eq!(
        curl_tftp(&again, file).as_deref(),
        Some(rendered.as_bytes()),
        "the last state is served"
    );
    let health = support::http_get(again.admin.unwrap(), "/healthz");
    assert!(health.starts_with("degraded\n"), "{health}");
    assert_eq!(again.counters()["DatabaseDegraded"], 1);
    assert!(
        again.log_text().contains("DEGRADED"),
        "the log says so loudly: {}",
        again.log_text()
    );

    pg.restart();
    ok(
        db(&url),
        &[
            "device",
            "add",
            "00AABBCC0404",
            "model=7965",
            "pool=Default",
        ],
    );
    // The node reaches the database (backoff up to 30 s) and serves what it holds now.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while curl_tftp(&again, "SEP00AABBCC0404.cnf.xml").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never took the database in: {}",
            again.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(again.counter_reaches("DatabaseDegraded", 0), 0);
    let health = support::http_get(again.admin.unwrap(), "/healthz");
    assert!(health.starts_with("ok\n"), "{health}");
    assert!(
        health.contains("postgres://") && !health.contains("replica.db"),
        "the node follows the database now, not its copy: {health}"
    );
}

#[test]
fn a_postgresql_backup_restores_every_object_and_stored_file_and_db_copy_moves_a_database() {
    let dir = temp_root();
    let pg = Postgres::shared();
    let url = pg.create_database();
    ok(db(&url), &["init", "--example"]);
    ok(
        db(&url),
        &[
            "device",
            "add",
            "00AABBCC0505",
            "model=8841",
            "pool=Default",
        ],
    );
    let ring = dir.path().join("ring.raw");
    std::fs::write(&ring, vec![9u8; 2_500_000]).unwrap();
    ok(
        db(&url),
        &[
            "file",
            "put",
            "--cluster",
            ring.to_str().unwrap(),
            "Ringtones/Big.raw",
        ],
    );
    let devices = ok(db(&url), &["device", "list"]);
    let files = ok(db(&url), &["file", "list", "--cluster"]);

    // The backup of a PostgreSQL database is a SQLite file, sound, holding all of it.
    let backup = dir.path().join("backup.db");
    ok(db(&url), &["db", "backup", backup.to_str().unwrap()]);
    assert!(ok(&backup, &["db", "check"]).contains("sound"));
    assert_eq!(ok(&backup, &["device", "list"]), devices);
    assert_eq!(ok(&backup, &["file", "list", "--cluster"]), files);

    // Restored over later changes: the objects and the stored files, with their times.
    ok(db(&url), &["device", "remove", "SEP00AABBCC0505"]);
    ok(db(&url), &["file", "rm", "--cluster", "Ringtones/Big.raw"]);
    ok(db(&url), &["db", "restore", backup.to_str().unwrap()]);
    assert_eq!(ok(db(&url), &["device", "list"]), devices);
    assert_eq!(ok(db(&url), &["file", "list", "--cluster"]), files);

    // Into an empty database of the other backend and back, verified object by object.
    let moved = dir.path().join("moved.db");
    let said = ok(db(&url), &["db", "copy", &url, moved.to_str().unwrap()]);
    assert!(said.contains("verified object by object"), "{said}");
    assert_eq!(ok(&moved, &["file", "list", "--cluster"]), files);
    let fresh = pg.create_database();
    ok(&moved, &["db", "copy", moved.to_str().unwrap(), &fresh]);
    assert_eq!(ok(db(&fresh), &["device", "list"]), devices);
    assert_eq!(ok(db(&fresh), &["file", "list", "--cluster"]), files);
    // A copy never goes into a database that holds something.
    let (copied, _, err) = phoneboot(&["db", "copy", moved.to_str().unwrap(), &url]);
    assert!(!copied);
    assert!(
        err.contains("is not empty") && err.contains("db restore"),
        "{err}"
    );
}

#[test]
fn the_cluster_commands_say_what_is_wrong_and_change_nothing() {
    let dir = temp_root();
    let url = Postgres::shared().create_database();
    ok(db(&url), &["init"]);
    let upload = dir.path().join("x.raw");
    std::fs::write(&upload, b"x").unwrap();
    let up = upload.to_str().unwrap();
    let fails = |args: &[&str]| {
        let (success, out, err) = phoneboot(args);
        assert!(!success, "{args:?} should fail: {out}");
        err
    };
    let with_db = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--database", url.as_str()]);
        fails(&all)
    };
    for (args, said) in [
        (
            vec!["file", "put", "--cluster", up, "../x.raw"],
            "'..' component",
        ),
        (
            vec!["file", "put", "--cluster", up, "x.raw", "--location", "1"],
            "--location",
        ),
        (
            vec!["file", "get", "--cluster", "missing.raw"],
            "no such file",
        ),
        (
            vec!["file", "rm", "--cluster", "missing.raw"],
            "no such file",
        ),
        (vec!["counters", "--cluster"], "no node has reported"),
    ] {
        let err = with_db(&args);
        assert!(err.contains(said), "{args:?}: {err}");
    }
    assert_eq!(
        ok(db(&url), &["file", "list", "--cluster"]),
        "",
        "nothing stored"
    );

    let copy = dir.path().join("copy.db");
    let c = copy.to_str().unwrap();
    for (args, said) in [
        (
            vec!["db", "copy", &url, &url],
            "both the source and the target",
        ),
        (
            vec!["db", "copy", "mysql://h/d", c],
            "not a database location",
        ),
        (vec!["db", "copy", "missing.db", c], "does not exist"),
        (
            vec!["db", "copy", &url, "postgres://postgres@127.0.0.1:1/none"],
            "Connection refused",
        ),
    ] {
        let err = fails(&args);
        assert!(err.contains(said), "{args:?}: {err}");
    }
    assert!(!copy.exists(), "a failed copy leaves no file behind");
    // A password is never shown, even in a location that is refused.
    let err = fails(&["db", "copy", "postgress://pb:s3cret@h/d", c]);
    assert!(!err.contains("s3cret"), "{err}");
}
