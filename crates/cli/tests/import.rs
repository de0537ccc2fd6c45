//! CSV import and export end to end: a good file committed whole, spreadsheet dialects, bad
//! rows that commit nothing, 10,000 rows, dry runs and updates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Instant;

use support::cluster::{Cluster, fails, ok};
use support::temp_root;

const HEADER: &str =
    "mac,model,pool,description,line1_dn,line1_display_name,line2_dn,speed1_number,speed1_label";

#[test]
fn csv_import_commits_a_good_file_whole() {
    let cluster = Cluster::example();
    let (dir, db) = (&cluster.dir, &cluster.db);
    let csv = dir.path().join("phones.csv");
    std::fs::write(
        &csv,
        format!(
            "{HEADER}\n\
             00:00:00:00:10:01,8841,Default,\"Desk, 1st floor\",3001,\"Zoë \"\"Z\"\" <z>\",3002,3999,Help\n\
             0000.0000.1002,7941,Default,Lobby,3003,Lobby,,,\n\
             000000001003,7960,Default,,3004,,,,\n"
        ),
    )
    .unwrap();
    let out = ok(db, &["import", csv.to_str().unwrap()]);
    assert!(out.contains("imported 3 devices"), "{out}");
    let show = ok(db, &["device", "show", "SEP000000001001"]);
    assert!(
        show.contains("Zoë \\\"Z\\\" <z>") || show.contains("Zoë \"Z\" <z>"),
        "{show}"
    );
    let xml = ok(db, &["render", "SEP000000001001.cnf.xml"]);
    assert!(
        xml.contains("<displayName>Zoë \"Z\" &lt;z&gt;</displayName>"),
        "{xml}"
    );
    assert!(xml.contains("<speedDialNumber>3999</speedDialNumber>"));
    // Export gives the same devices back in the import's format.
    let exported = dir.path().join("out.csv");
    ok(db, &["export", "--out", exported.to_str().unwrap()]);
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(text.starts_with("name,mac,model,protocol,pool"), "{text}");
    assert!(
        text.contains("SEP000000001002,000000001002,7941,SCCP,Default,Lobby"),
        "{text}"
    );
    let again = temp_root();
    let db2 = again.path().join("copy.db");
    ok(&db2, &["init", "--example"]);
    for name in [
        "SEP001122334401",
        "SEP001122334402",
        "SEP001122334403",
        "SEP001122334404",
        "BOBSOFTPHONE",
        "TABALICE",
        "SEP001122334407",
    ] {
        ok(&db2, &["device", "remove", name]);
    }
    ok(&db2, &["import", exported.to_str().unwrap()]);
    assert_eq!(ok(&db2, &["device", "list"]), ok(db, &["device", "list"]));
}

#[test]
fn spreadsheet_exports_import_with_semicolons_tabs_a_bom_and_crlf() {
    let cluster = Cluster::example();
    let (dir, db) = (&cluster.dir, &cluster.db);
    for (i, (separator, bom, eol)) in [
        (";", true, "\r\n"), // Excel "CSV UTF-8" in a semicolon locale
        ("\t", false, "\n"),
        (",", true, "\r\n"),
    ]
    .into_iter()
    .enumerate()
    {
        let csv = dir.path().join(format!("phones{i}.csv"));
        let mut text = String::from(if bom { "\u{feff}" } else { "" });
        text += &format!(
            "mac{separator}model{separator}pool{separator}description{separator}line1_dn{eol}"
        );
        text += &format!(
            "00000000200{i}{separator}8841{separator}Default{separator}\"Desk; 2, floor\"{separator}400{i}{eol}"
        );
        std::fs::write(&csv, text).unwrap();
        let out = ok(db, &["import", csv.to_str().unwrap()]);
        assert!(
            out.contains("imported 1 device from"),
            "{separator:?}: {out}"
        );
        let show = ok(db, &["device", "show", &format!("SEP00000000200{i}")]);
        assert!(show.contains("Desk; 2, floor"), "{separator:?}: {show}");
    }
}

#[test]
fn a_bad_row_names_its_line_and_column_and_nothing_of_the_file_is_committed() {
    let cluster = Cluster::example();
    let (dir, db) = (&cluster.dir, &cluster.db);
    let before = ok(db, &["device", "list"]);
    let cases: [(&str, &str, &str); 6] = [
        (
            "000000002001,8841,Default,a,3001,,,,\n000000002002,8841,Default,b,30x2,,,,\n",
            "line 3, column line1_dn",
            "directory number",
        ),
        (
            "000000002001,8841,Default,a,3001,,,,\nzz,8841,Default,b,3002,,,,\n",
            "line 3, column mac",
            "not a MAC address",
        ),
        (
            "000000002001,8841,Default,a,3001,,,,\n000000002002,8841,Nowhere,b,3002,,,,\n",
            "line 3, column pool",
            "does not exist",
        ),
        (
            "000000002001,8841,Default,a,3001,,,,\n000000002001,7941,Default,b,3002,,,,\n",
            "line 3, column name",
            "also on line 2",
        ),
        (
            "000000002001,8841,Default,a,3001,,,,\n001122334401,7941,Default,b,3002,,,,\n",
            "line 3",
            "exists",
        ),
        (
            "000000002001,8841,Default,a,,,3002,,\n",
            "line 2, column line1_dn",
            "later line",
        ),
    ];
    for (rows, place, reason) in cases {
        let csv = dir.path().join("bad.csv");
        std::fs::write(&csv, format!("{HEADER}\n{rows}")).unwrap();
        let err = fails(db, &["import", csv.to_str().unwrap()]);
        assert!(err.contains(place) && err.contains(reason), "{rows}: {err}");
        assert!(err.contains("nothing was imported"), "{err}");
        assert_eq!(ok(db, &["device", "list"]), before, "{rows}");
    }
    let csv = dir.path().join("header.csv");
    std::fs::write(&csv, "mac,model,pool,colour\n").unwrap();
    let err = fails(db, &["import", csv.to_str().unwrap()]);
    assert!(err.contains("line 1, column 4 (\"colour\")"), "{err}");
}

#[test]
fn ten_thousand_rows_import_in_one_transaction() {
    let cluster = Cluster::example();
    let (dir, db) = (&cluster.dir, &cluster.db);
    let mut csv = String::from("mac,model,pool,line1_dn,line1_display_name\n");
    for i in 0..10_000u32 {
        csv.push_str(&format!(
            "0000AA{i:06X},8841,Default,{},User {i}\n",
            100_000 + i
        ));
    }
    let path = dir.path().join("big.csv");
    std::fs::write(&path, csv).unwrap();
    let started = Instant::now();
    let out = ok(db, &["import", path.to_str().unwrap()]);
    eprintln!("10,000-row import took {:?}", started.elapsed());
    assert!(out.contains("imported 10000 devices"), "{out}");
    let list = ok(db, &["device", "list"]);
    assert_eq!(list.lines().count(), 10_007);
    let xml = ok(db, &["render", "SEP0000AA00270F.cnf.xml"]);
    assert!(
        xml.contains("<displayName>User 9999</displayName>"),
        "{xml}"
    );
}

#[test]
fn import_dry_run_writes_nothing_and_update_replaces_existing_devices() {
    let cluster = Cluster::example();
    let db = &cluster.db;
    let csv = cluster.dir.path().join("update.csv");
    std::fs::write(
        &csv,
        "mac,model,pool,description\n001122334402,7941,Default,Moved desk\n",
    )
    .unwrap();
    let err = fails(db, &["import", csv.to_str().unwrap()]);
    assert!(
        err.contains("line 2, column name") && err.contains("--update"),
        "{err}"
    );
    let before = ok(db, &["device", "show", "SEP001122334402"]);
    let said = ok(
        db,
        &["import", csv.to_str().unwrap(), "--update", "--dry-run"],
    );
    assert!(said.contains("dry run"), "{said}");
    assert_eq!(ok(db, &["device", "show", "SEP001122334402"]), before);
    ok(db, &["import", csv.to_str().unwrap(), "--update"]);
    assert!(ok(db, &["device", "show", "SEP001122334402"]).contains("Moved desk"));
}
