//! Nothing lost, nothing pretended: a database is made only on purpose, a copy of it after a
//! command is whole, a backup taken while an import runs is whole or empty, an import and its
//! dry run report the same problems at the right lines, build --check names what phones will
//! miss, Extension Mobility keeps CUCM's rules, and a broken phone is replaced in place.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};

use support::cluster::{Cluster, fails, ok};
use support::{phoneboot, temp_root};

#[test]
fn a_mistyped_database_is_refused_by_every_command_and_nothing_is_created() {
    let dir = temp_root();
    let typo = dir.path().join("phonebot.db");
    let csv = dir.path().join("phones.csv");
    std::fs::write(&csv, "mac,model,pool\n001122334455,8841,Default\n").unwrap();
    let out = dir.path().join("out");
    let backup = dir.path().join("backup.db");
    let typo_s = typo.to_str().unwrap();
    for command in [
        &["device", "list"][..],
        &["device", "show", "SEP001122334455"],
        &[
            "device",
            "add",
            "0011.2233.4455",
            "model=8841",
            "pool=Default",
        ],
        &["device", "login", "SEP001122334455", "alice"],
        &["callmanager", "list"],
        &["params", "show"],
        &["render", "XMLDefault.cnf.xml"],
        &["build", "--check"],
        &["build", "--out", out.to_str().unwrap()],
        &["export"],
        &["import", csv.to_str().unwrap(), "--dry-run"],
        &["db", "check"],
        &["db", "backup", backup.to_str().unwrap()],
    ] {
        let err = fails(&typo, command);
        assert!(
            err.contains(&format!("the device database {typo_s} does not exist"))
                && err.contains("phoneboot init"),
            "{command:?}: {err}"
        );
    }
    let (ok, _, err) = phoneboot(&[
        "storm",
        "--server",
        "127.0.0.1:9",
        "--from-database",
        typo_s,
    ]);
    assert!(!ok && err.contains("does not exist"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("phonebot") || n == "out" || n == "backup.db")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // `init` makes it, on purpose.
    assert!(ok_init(&typo).contains("created the device database"));
}

fn ok_init(db: &std::path::Path) -> String {
    ok(db, &["init"])
}

#[test]
fn after_a_cli_write_the_main_file_alone_is_the_whole_database() {
    let cluster = Cluster::example();
    ok(
        &cluster.db,
        &[
            "device",
            "add",
            "0011.2233.7777",
            "model=8841",
            "pool=Default",
        ],
    );
    let wal = cluster.db.with_extension("db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the log was checkpointed into the main file"
    );
    // `cp phoneboot.db backup/`, nothing else.
    let elsewhere = temp_root();
    let copy = elsewhere.path().join("copy.db");
    std::fs::copy(&cluster.db, &copy).unwrap();
    let list = ok(&copy, &["device", "list"]);
    assert!(list.contains("SEP001122337777"), "{list}");
    assert_eq!(list.lines().count(), 8);
}

#[test]
fn a_backup_taken_while_an_import_runs_is_sound_and_holds_all_of_it_or_none() {
    let cluster = Cluster::example();
    let mut csv = String::from("mac,model,pool,line1_dn\n");
    for i in 0..5_000u32 {
        csv.push_str(&format!("0000CC{i:06X},8841,Default,{}\n", 100_000 + i));
    }
    let path = cluster.dir.path().join("big.csv");
    std::fs::write(&path, csv).unwrap();
    let mut import = Command::new(env!("CARGO_BIN_EXE_phoneboot"))
        .args(["import", path.to_str().unwrap(), "--database"])
        .arg(&cluster.db)
        .env_remove("PHONEBOOT_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut backups = Vec::new();
    loop {
        let done = import.try_wait().unwrap().is_some();
        let to = cluster
            .dir
            .path()
            .join(format!("backup-{}.db", backups.len()));
        ok(&cluster.db, &["db", "backup", to.to_str().unwrap()]);
        backups.push(to);
        if done {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(import.wait().unwrap().success());
    for backup in &backups {
        assert!(ok(backup, &["db", "check"]).contains("sound"));
        let devices = ok(backup, &["device", "list"]).lines().count();
        assert!(
            devices == 7 || devices == 5_007,
            "{}: a half-written import ({devices} devices)",
            backup.display()
        );
    }
    assert_eq!(
        ok(backups.last().unwrap(), &["device", "list"])
            .lines()
            .count(),
        5_007
    );
}

#[test]
fn an_import_and_its_dry_run_report_every_bad_row_at_its_line_in_lf_and_crlf() {
    let cluster = Cluster::example();
    let rows = [
        "mac,model,pool,description,line1_dn",
        // A description spanning two lines: the next row starts on line 4.
        "000000003001,8841,Default,\"two\nlines\",3001",
        "0000000030zz,8841,Default,bad mac,3002",
        "000000003003,8841,Nowhere,no such pool,3003",
        "000000003004,8841,Default,fine,3004",
        "000000003001,7941,Default,same device again,3005",
        "000000003006,X-1234,Default,no such model,30x6",
    ];
    for eol in ["\n", "\r\n"] {
        let text = rows.join(eol).replace('\n', eol).replace("\r\r", "\r") + eol;
        let file = cluster.dir.path().join("bad.csv");
        std::fs::write(&file, text).unwrap();
        let dry = fails(
            &cluster.db,
            &["import", file.to_str().unwrap(), "--dry-run"],
        );
        let real = fails(&cluster.db, &["import", file.to_str().unwrap()]);
        let problems = |out: &str| -> Vec<String> {
            out.lines()
                .filter(|l| l.starts_with("line "))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            problems(&dry),
            problems(&real),
            "{eol:?}: the dry run said\n{dry}"
        );
        let found = problems(&real);
        for place in [
            // A quoted cell over two lines: refused, and the lines after it still count.
            "line 2, column description: contains the control character U+",
            "line 4, column mac:",
            "line 5, column pool: pool \"Nowhere\" does not exist",
            "line 7, column name: device \"SEP000000003001\" is also on line 2",
            "line 8, column model:",
            "line 8, column line1_dn:",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(place)),
                "{eol:?}: no {place:?} in {found:#?}"
            );
        }
        assert!(real.contains("nothing was imported"));
    }
    assert_eq!(ok(&cluster.db, &["device", "list"]).lines().count(), 7);
}

#[test]
fn build_check_warns_of_what_phones_will_miss() {
    let cluster = Cluster::empty();
    let db = &cluster.db;
    ok(db, &["callmanager", "add", "cm1", "host=192.0.2.11"]);
    ok(db, &["group", "add", "G1", "members=[\"cm1\"]"]);
    ok(db, &["datetime", "add", "CET"]);
    ok(
        db,
        &["pool", "add", "Default", "cm_group=G1", "date_time=CET"],
    );
    ok(
        db,
        &[
            "device",
            "add",
            "0011.2233.4455",
            "model=8841",
            "pool=Default",
            "lines=[{dn=\"1001\"}]",
        ],
    );
    let root = cluster.root.to_str().unwrap();
    let config = cluster.dir.path().join("phoneboot.toml");
    std::fs::write(&config, format!("root = {root:?}\n")).unwrap();
    let (success, out, err) = phoneboot(&[
        "build",
        "--check",
        "--database",
        db.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(success, "warnings are not failures: {err}");
    assert!(out.contains("0 failed, 3 warning(s)"), "{out}");
    assert!(
        err.contains("warning: XMLDefault.cnf.xml has no call managers"),
        "no auto-registration group: {err}"
    );
    assert!(err.contains(".loads is in no root"), "{err}");
    assert!(err.contains("RingList.xml is in no root"), "{err}");
    std::fs::write(cluster.root.join("RingList.xml"), "<CiscoIPPhoneRingList/>").unwrap();
    ok(db, &["group", "set", "G1", "tftp_default=true"]);
    let (_, out, _) = phoneboot(&[
        "build",
        "--check",
        "--database",
        db.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(
        out.contains("0 failed, 1 warning(s)"),
        "only the load is left: {out}"
    );
}

#[test]
fn extension_mobility_keeps_cucms_login_rules() {
    let cluster = Cluster::example();
    let db = &cluster.db;
    // bob has no profile.
    let err = fails(db, &["device", "login", "SEP001122334402", "bob"]);
    assert!(
        err.contains("em_user: user \"bob\" has no Extension Mobility profile"),
        "{err}"
    );
    ok(db, &["device", "login", "SEP001122334402", "alice"]);
    // Multiple Login Behavior: not allowed by default.
    let err = fails(db, &["device", "login", "SEP001122334403", "alice"]);
    assert!(
        err.contains("logged in on SEP001122334402 already"),
        "{err}"
    );
    assert!(!ok(db, &["device", "show", "SEP001122334403"]).contains("em_user"));
    // Auto Logout: the second login logs the user out of the first phone.
    ok(db, &["params", "set", "em_multiple_login=auto-logout"]);
    ok(db, &["device", "login", "SEP001122334403", "alice"]);
    assert!(!ok(db, &["device", "show", "SEP001122334402"]).contains("em_user"));
    assert!(ok(db, &["device", "show", "SEP001122334403"]).contains("em_user = \"alice\""));
    // A logout of a phone nobody is logged into changes nothing, and says so.
    let before = ok(db, &["device", "show", "SEP001122334402"]);
    let said = ok(db, &["device", "logout", "SEP001122334402"]);
    assert!(
        said.contains("nobody is logged in on SEP001122334402; nothing changed"),
        "{said}"
    );
    assert_eq!(ok(db, &["device", "show", "SEP001122334402"]), before);
    let said = ok(db, &["device", "logout", "SEP001122334403"]);
    assert!(
        said.starts_with("logged alice out of SEP001122334403"),
        "{said}"
    );
}

#[test]
fn a_broken_phone_is_replaced_in_place_with_every_line_and_setting() {
    let cluster = Cluster::example();
    let db = &cluster.db;
    let before = ok(db, &["render", "SEP001122334401.cnf.xml"]);
    let said = ok(
        db,
        &["device", "replace", "SEP001122334401", "0011.2233.AAAA"],
    );
    assert!(
        said.contains(
            "replaced device SEP001122334401 by SEP00112233AAAA: every line and setting kept"
        ),
        "{said}"
    );
    let after = ok(db, &["render", "SEP00112233AAAA.cnf.xml"]);
    let settings = |xml: &str| -> Vec<String> {
        xml.lines()
            .filter(|l| {
                [
                    "<name>",
                    "<displayName>",
                    "<pcPort>",
                    "<dialTemplate>",
                    "<authName>",
                ]
                .iter()
                .any(|t| l.contains(t))
            })
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(settings(&after), settings(&before));
    let err = fails(db, &["render", "SEP001122334401.cnf.xml"]);
    assert!(err.contains("not a file this database builds"), "{err}");
    // `set mac=` does the same.
    ok(
        db,
        &["device", "set", "SEP00112233AAAA", "mac=00:11:22:33:BB:BB"],
    );
    assert!(ok(db, &["device", "list"]).contains("SEP00112233BBBB"));
    // A MAC another device holds is refused, naming it.
    let err = fails(
        db,
        &["device", "replace", "SEP00112233BBBB", "001122334402"],
    );
    assert!(
        err.contains("mac: 001122334402 already belongs to device \"SEP001122334402\""),
        "{err}"
    );
}
