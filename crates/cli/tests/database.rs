//! The device database end to end: `init --example`, the object verbs, a running server that
//! serves what the database implies and follows its changes, converters and model files.
//! (CSV import and export: import.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::cluster::{Cluster, curl_tftp, fails, ok, wait_for};
use support::{Server, phoneboot, require, temp_root};

#[test]
fn init_example_then_curl_gets_exactly_what_render_prints() {
    if !require("curl") {
        return;
    }
    let cluster = Cluster::example();
    let db = &cluster.db;
    let server = cluster.serve(&[]);
    for name in [
        "SEP001122334401.cnf.xml",
        "SEP001122334402.cnf.xml",
        "SIP001122334403.cnf",
        "XMLDefault.cnf.xml",
        "DRStandard.xml",
        "SKStandard.xml",
        "BOBSOFTPHONE.cnf.xml",
    ] {
        let rendered = ok(db, &["render", name]);
        let got = curl_tftp(&server, name).unwrap_or_else(|| panic!("{name} not served"));
        assert_eq!(String::from_utf8(got).unwrap(), rendered, "{name}");
    }
    // Any case, as phones and CUCM's Windows heritage differ.
    assert!(curl_tftp(&server, "sep001122334401.CNF.XML").is_some());
    assert_eq!(server.counter_reaches("SEPFoundCount", 3), 3);
    assert_eq!(server.counter_reaches("SIPFoundCount", 1), 1);
    // Over HTTP (6970) too, byte for byte.
    let http = support::http_get(server.http.unwrap(), "/SEP001122334401.cnf.xml");
    assert_eq!(http, ok(db, &["render", "SEP001122334401.cnf.xml"]));
    assert_eq!(
        server.counter_reaches("BuildCount", 1),
        1,
        "one full build at start"
    );
    let counters = server.counters();
    assert!(counters["BuildDeviceCount"] >= 7, "{counters:?}");
    assert_eq!(
        counters["BuildDialruleCount"], 2,
        "DRStandard.xml and Standard.xml"
    );
}

#[test]
fn a_phone_added_while_serving_becomes_fetchable_and_a_removed_one_is_not_found() {
    if !require("curl") {
        return;
    }
    let cluster = Cluster::example();
    let db = &cluster.db;
    let server = cluster.serve(&[]);
    assert!(curl_tftp(&server, "SEP00AABBCCDD99.cnf.xml").is_none());
    ok(
        db,
        &[
            "device",
            "add",
            "00:aa:bb:cc:dd:99",
            "model=8851",
            "pool=Default",
            "lines=[{dn=\"4711\", display_name=\"Carol & Co <sales>\"}]",
        ],
    );
    let mut served = None;
    wait_for("the new phone's file", || {
        served = curl_tftp(&server, "SEP00AABBCCDD99.cnf.xml");
        served.is_some()
    });
    let text = String::from_utf8(served.unwrap()).unwrap();
    assert!(
        text.contains("<displayName>Carol &amp; Co &lt;sales&gt;</displayName>"),
        "{text}"
    );
    assert_eq!(text, ok(db, &["render", "SEP00AABBCCDD99.cnf.xml"]));
    // A change is served too, with a new versionStamp.
    ok(
        db,
        &[
            "device",
            "set",
            "SEP00AABBCCDD99",
            "lines.0.display_name=Carol",
        ],
    );
    wait_for("the changed file", || {
        curl_tftp(&server, "SEP00AABBCCDD99.cnf.xml").is_some_and(|b| {
            String::from_utf8_lossy(&b).contains("<displayName>Carol</displayName>")
        })
    });
    ok(db, &["device", "remove", "00aa.bbcc.dd99"]);
    wait_for("the removal", || {
        curl_tftp(&server, "SEP00AABBCCDD99.cnf.xml").is_none()
    });
    let counters = server.counters();
    assert!(counters["DeviceChangeNotifications"] >= 3, "{counters:?}");
    assert!(counters["ChangeNotifications"] >= 3);
    assert!(counters["SEPNotFoundCount"] >= 2);
}

#[test]
fn extension_mobility_login_and_logout_change_the_served_lines() {
    let cluster = Cluster::example();
    let db = &cluster.db;
    let own = ok(db, &["render", "SEP001122334401.cnf.xml"]);
    assert!(own.contains("<name>1001</name>"));
    ok(db, &["device", "login", "SEP001122334401", "alice"]);
    let logged_in = ok(db, &["render", "SEP001122334401.cnf.xml"]);
    assert!(logged_in.contains("<name>2001</name>") && !logged_in.contains("<name>1001</name>"));
    ok(db, &["device", "logout", "SEP001122334401"]);
    assert_eq!(ok(db, &["render", "SEP001122334401.cnf.xml"]), own);
}

#[test]
fn the_cli_says_what_is_wrong_and_changes_nothing() {
    let cluster = Cluster::example();
    let db = &cluster.db;
    let before = ok(db, &["device", "list"]);
    let add = |mac: &'static str, model: &'static str, pool: &'static str| {
        vec!["device", "add", mac, model, pool]
    };
    for (args, reason) in [
        (
            add("001122AABBCC", "model=9999", "pool=Default"),
            "\"9999\" is not in the model catalogue",
        ),
        (
            add("001122AABBCC", "model=8841", "pool=Nowhere"),
            "\"Nowhere\" does not exist",
        ),
        (
            [
                add("not-a-mac", "model=8841", "pool=Default"),
                vec!["mac=zz"],
            ]
            .concat(),
            "not a MAC address",
        ),
        (
            add("001122334401", "model=8841", "pool=Default"),
            "exists already",
        ),
        (vec!["pool", "remove", "Default"], "is used by device"),
        (
            vec![
                "device",
                "set",
                "SEP001122334401",
                "lines.0.auth_password=0123456789012345678901234567890123",
            ],
            "lines[0].auth_password: 34 bytes; at most 31",
        ),
        // A 7960 SIP file cannot carry a quote.
        (
            vec![
                "device",
                "set",
                "SEP001122334403",
                "lines.0.display_name=say \"hi\"",
            ],
            "SIP001122334403.cnf",
        ),
        (
            vec!["group", "set", "G1", "members=[\"cm1\",\"cm2\",\"cm1\"]"],
            "listed twice",
        ),
        (vec!["device", "show", "SEP0000DEADBEEF"], "does not exist"),
    ] {
        let err = fails(db, &args);
        assert!(err.contains(reason), "{args:?}: {err}");
    }
    assert_eq!(ok(db, &["device", "list"]), before);
}

#[test]
fn init_example_says_what_to_try_next_naming_the_database_only_when_not_the_default() {
    let dir = temp_root();
    let out = Command::new(env!("CARGO_BIN_EXE_phoneboot"))
        .args(["init", "--example"])
        .current_dir(dir.path())
        .env_remove("PHONEBOOT_DATABASE")
        .env_remove("PHONEBOOT_CONFIG")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(dir.path().join("phoneboot.db").is_file());
    for hint in [
        "try: phoneboot device list\n",
        "phoneboot render SEP001122334401.cnf.xml\n",
        "phoneboot serve\n",
    ] {
        assert!(said.contains(hint), "{hint:?} in {said}");
    }
    let other = dir.path().join("other.db");
    let (success, said, _) =
        phoneboot(&["init", "--example", "--database", other.to_str().unwrap()]);
    assert!(success);
    assert!(
        said.contains(&format!("phoneboot serve --database {}", other.display())),
        "{said}"
    );
}

#[test]
fn a_configured_converter_turns_the_text_profile_into_what_the_phone_reads() {
    if !require("curl") {
        return;
    }
    let cluster = Cluster::example();
    let (dir, db) = (&cluster.dir, &cluster.db);
    let text = ok(db, &["render", "gk001122334404"]);
    assert!(text.starts_with("#txt\n"), "{text}");
    // Stands in for a cfgfmt wrapper: text on stdin, "binary" on stdout.
    let config = dir.path().join("phoneboot.toml");
    std::fs::write(
        &config,
        "[database]\nprofile_converter = [\"tr\", \"a-z\", \"A-Z\"]\n",
    )
    .unwrap();
    let server = cluster.serve(&["--config", config.to_str().unwrap()]);
    let got = curl_tftp(&server, "gk001122334404").expect("converted profile served");
    assert_eq!(String::from_utf8(got).unwrap(), text.to_uppercase());
    assert_eq!(server.counter_reaches("GKFoundCount", 1), 1);
    drop(server);
    // A converter that fails: the phone is told to try later, the log says why.
    std::fs::write(&config, "[database]\nprofile_converter = [\"false\"]\n").unwrap();
    let server = cluster.serve(&["--config", config.to_str().unwrap()]);
    assert!(curl_tftp(&server, "gk001122334404").is_none());
    wait_for("the converter's failure in the log", || {
        server.log_text().contains("profile converter")
    });
}

#[test]
fn the_cli_reads_the_servers_config_file_and_shows_what_the_phone_gets() {
    let cluster = Cluster::example();
    let dir = cluster.dir.path();
    let config = dir.join("phoneboot.toml");
    let write_config = |converter: &str| {
        std::fs::write(
            &config,
            format!(
                "[database]\npath = {:?}\nprofile_converter = {converter}\n",
                cluster.db.display().to_string()
            ),
        )
        .unwrap();
    };
    write_config(r#"["tr", "a-z", "A-Z"]"#);
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--config", config.to_str().unwrap()]);
        phoneboot(&all)
    };
    // No --database: the config file's [database] path is the one used.
    let (success, listed, err) = cli(&["device", "list"]);
    assert!(success, "{err}");
    assert!(listed.contains("SEP001122334404"), "{listed}");

    // render prints what the phone gets: the converter's output; --text the text it was given.
    let (success, text, err) = cli(&["render", "gk001122334404", "--text"]);
    assert!(success && text.starts_with("#txt\n"), "{text}{err}");
    let (success, binary, err) = cli(&["render", "gk001122334404"]);
    assert!(success, "{err}");
    assert_eq!(binary, text.to_uppercase());
    // A file that is no profile is never given to the converter.
    let (_, xml, _) = cli(&["render", "SEP001122334401.cnf.xml"]);
    assert!(xml.contains("<device"), "{xml}");

    // build --out writes the converted profile, and everything else as rendered.
    let out = dir.join("built");
    let (success, said, err) = cli(&["build", "--out", out.to_str().unwrap()]);
    assert!(success && said.contains("0 failed"), "{said}{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("gk001122334404")).unwrap(),
        binary
    );
    assert_eq!(
        std::fs::read_to_string(out.join("SEP001122334401.cnf.xml")).unwrap(),
        xml
    );

    // A converter that fails: render says which and why; build --check names the file.
    write_config(r#"["sh", "-c", "echo cfgfmt: bad input >&2; exit 3"]"#);
    let (success, _, err) = cli(&["render", "gk001122334404"]);
    assert!(!success);
    assert!(
        err.contains("gk001122334404: the profile converter \"sh\" failed")
            && err.contains("cfgfmt: bad input"),
        "{err}"
    );
    let (success, said, err) = cli(&["build", "--check"]);
    assert!(!success);
    assert!(
        err.contains("not built: gk001122334404: the profile converter"),
        "{err}"
    );
    // The refused profile counts as failed, not as built (14 files, one of them refused).
    assert!(
        said.starts_with("built 13 files") && said.contains("1 failed"),
        "{said}"
    );

    // A runaway converter is stopped at 1 MiB, not read into memory to its end.
    write_config(r#"["yes"]"#);
    let (success, _, err) = cli(&["render", "gk001122334404"]);
    assert!(!success);
    assert!(err.contains("wrote more than 1048576 bytes"), "{err}");

    // A config file that turns the database off, or does not parse, is explained.
    std::fs::write(&config, "[database]\npath = \"off\"\n").unwrap();
    let (success, _, err) = cli(&["device", "list"]);
    assert!(
        !success && err.contains("turns the device database off"),
        "{err}"
    );
    std::fs::write(&config, "[database]\npaht = \"x.db\"\n").unwrap();
    let (success, _, err) = cli(&["device", "list"]);
    assert!(!success && err.contains("paht"), "{err}");
}

#[test]
fn with_the_database_off_only_disk_files_are_served() {
    if !require("curl") {
        return;
    }
    let dir = temp_root();
    let root = dir.path().join("tftp");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("SEP001122334401.cnf.xml"), "<device/>\n").unwrap();
    let server = Server::start(&root, &["--database", "off"]);
    assert_eq!(
        curl_tftp(&server, "SEP001122334401.cnf.xml").unwrap(),
        b"<device/>\n"
    );
    assert!(curl_tftp(&server, "XMLDefault.cnf.xml").is_none());
    assert!(!server.log_text().contains("device database open"));
    assert!(!dir.path().join("phoneboot.db").exists());
}

#[test]
fn a_file_on_disk_is_served_when_the_database_builds_none_of_that_name() {
    if !require("curl") {
        return;
    }
    let cluster = Cluster::example();
    let (db, root) = (&cluster.db, &cluster.root);
    // The database has no phone 0011223344FF: the operator's hand-written file is served.
    std::fs::write(
        root.join("SEP0011223344FF.cnf.xml"),
        "<device>custom</device>\n",
    )
    .unwrap();
    // The database has phone ...01: its built file shadows a stale copy on disk.
    std::fs::write(
        root.join("SEP001122334401.cnf.xml"),
        "<device>stale</device>\n",
    )
    .unwrap();
    let server = cluster.serve(&[]);
    assert_eq!(
        curl_tftp(&server, "SEP0011223344FF.cnf.xml").unwrap(),
        b"<device>custom</device>\n"
    );
    let built = curl_tftp(&server, "SEP001122334401.cnf.xml").unwrap();
    assert_eq!(
        String::from_utf8(built).unwrap(),
        ok(db, &["render", "SEP001122334401.cnf.xml"])
    );
}

#[test]
fn the_databases_maximum_serving_count_applies_unless_the_server_sets_one() {
    let cluster = Cluster::empty();
    let db = &cluster.db;
    let said = ok(db, &["params", "set", "max_serving_count=7"]);
    assert!(
        said.starts_with("changed the parameters (version "),
        "{said}"
    );
    let err = fails(db, &["params", "set", "max_serving_count=0"]);
    assert!(err.contains("max_serving_count"), "{err}");
    let server = cluster.serve(&[]);
    assert_eq!(server.counters()["MaxServingCount"], 7);
    assert!(
        server
            .log_text()
            .contains("Maximum Serving Count 7 (from the device database's parameters)")
    );
    // Changed while running: taken in without a restart.
    ok(db, &["params", "set", "max_serving_count=3"]);
    assert_eq!(server.counter_reaches("MaxServingCount", 3), 3);
    drop(server);
    // A value the server is given wins, at start and after a change.
    let server = cluster.serve(&["--max-serving-count", "9"]);
    assert_eq!(server.counters()["MaxServingCount"], 9);
    ok(db, &["params", "set", "max_serving_count=4"]);
    wait_for("the change to be taken in", || {
        server.counters()["ChangeNotifications"] >= 1
    });
    assert_eq!(server.counters()["MaxServingCount"], 9);
}

#[test]
fn build_writes_every_file_as_render_prints_it_and_check_names_what_cannot_be_built() {
    let cluster = Cluster::example();
    let db = &cluster.db;
    let out = cluster.dir.path().join("built");
    let said = ok(db, &["build", "--out", out.to_str().unwrap()]);
    assert!(said.contains("built 14 files"), "{said}");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 14, "{names:?}");
    for name in names
        .iter()
        .filter(|n| !n.ends_with(".cnf") || n.starts_with("SIP"))
    {
        let on_disk = std::fs::read_to_string(out.join(name)).unwrap();
        assert_eq!(on_disk, ok(db, &["render", name]), "{name}");
    }
    assert!(ok(db, &["build", "--check"]).contains("0 failed"));
    // The 7935's legacy .cnf holds an IPv4 address; a call manager known by name cannot go
    // into it. The write is accepted (the format is unverified), the build says so.
    ok(db, &["callmanager", "set", "cm1", "host=cm1.example.com"]);
    let err = fails(db, &["build", "--check"]);
    assert!(
        err.contains("not built: SEP001122334407.cnf") && err.contains("IPv4"),
        "{err}"
    );
    assert!(err.contains("1 files cannot be built"), "{err}");
}

#[test]
fn an_operators_model_file_adds_a_model_the_cli_can_use() {
    let cluster = Cluster::example();
    let db = &cluster.db;
    let (success, builtin, _) = phoneboot(&["models", "--toml"]);
    assert!(success && builtin.contains("name = \"8841\""));
    let models = cluster.dir.path().join("models.toml");
    std::fs::write(
        &models,
        "[[model]]\nname = \"9871\"\nproduct = \"Cisco Desk Phone 9871\"\ncode = 37000\n\
         protocols = [\"SIP\"]\nloads = { SIP = \"sip9800.3-2-1\" }\nbuttons = 10\nhttp = true\n",
    )
    .unwrap();
    let m = models.to_str().unwrap();
    let err = fails(
        db,
        &[
            "device",
            "add",
            "0011.2233.7777",
            "model=9871",
            "pool=Default",
        ],
    );
    assert!(err.contains("not in the model catalogue"), "{err}");
    ok(
        db,
        &[
            "device",
            "add",
            "0011.2233.7777",
            "model=9871",
            "pool=Default",
            "--models",
            m,
        ],
    );
    let (success, list, _) = phoneboot(&["models", "--models", m]);
    assert!(success && list.contains("Cisco Desk Phone 9871"), "{list}");
    let xml = ok(db, &["render", "SEP001122337777.cnf.xml", "--models", m]);
    assert!(
        xml.contains("<loadInformation>sip9800.3-2-1</loadInformation>"),
        "{xml}"
    );
    // The emulator and the storm know the model too: a 9871 asks HTTP first.
    let (_, trace, _) = phoneboot(&[
        "emulate",
        "--model",
        "9871",
        "--models",
        m,
        "--mac",
        "0011.2233.7777",
        "--alternate-tftp",
        "127.0.0.1",
        "--port",
        "9",
        "--http-port",
        "9",
        "--timeout-ms",
        "50",
        "--retries",
        "0",
    ]);
    assert!(trace.contains("asks HTTP on port 9 first"), "{trace}");
    let storm = |models: &[&str]| {
        let db = db.to_str().unwrap();
        let mut args = vec![
            "storm",
            "--from-database",
            db,
            "--server",
            "127.0.0.1:9",
            "--machine",
            "--timeout-ms",
            "50",
            "--retries",
            "0",
        ];
        args.extend_from_slice(models);
        phoneboot(&args)
    };
    // Without the file the 9871 is left out, and the storm says so.
    let (_, out, err) = storm(&[]);
    assert!(out.lines().any(|l| l == "phones 7"), "{out}");
    assert!(
        err.contains("1 devices of models the catalogue lacks (--models FILE adds them)"),
        "{err}"
    );
    let (_, out, _) = storm(&["--models", m]);
    assert!(out.lines().any(|l| l == "phones 8"), "{out}");

    let bad = cluster.dir.path().join("bad.toml");
    std::fs::write(&bad, "[[model]]\nname = \"x\"\nbogus = 1\n").unwrap();
    let err = fails(db, &["models", "--models", bad.to_str().unwrap()]);
    assert!(err.contains("bad.toml") && err.contains("bogus"), "{err}");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let cluster = Cluster::example();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' models --database '{}' | head -1",
            env!("CARGO_BIN_EXE_phoneboot"),
            cluster.db.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_change_that_touches_every_device_runs_a_full_build_and_each_kind_is_counted() {
    let cluster = Cluster::example();
    let db = &cluster.db;
    let server = cluster.serve(&[]);
    assert_eq!(server.counter_reaches("BuildCount", 1), 1);
    ok(db, &["pool", "set", "Default", "connection_monitor=60"]);
    assert_eq!(
        server.counter_reaches("BuildCount", 2),
        2,
        "a pool change rebuilds"
    );
    ok(db, &["dialplan", "set", "Standard", "rules.0.timeout=3"]);
    ok(
        db,
        &["softkeys", "set", "Standard", "sets.0.keys=[\"Redial\"]"],
    );
    assert_eq!(server.counter_reaches("SoftkeyChangeNotifications", 1), 1);
    let c = server.counters();
    assert_eq!(c["DialruleChangeNotifications"], 1, "{c:?}");
    assert_eq!(c["ChangeNotifications"], 3, "{c:?}");
    assert_eq!(
        c["BuildCount"], 2,
        "plan and softkey changes touch only their files"
    );
}
