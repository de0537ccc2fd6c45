//! `phoneboot admin` and the admin API on a running server: an account made with the CLI
//! gets a token, the token adds a phone through the API, a phone fetches the file that
//! results over TFTP, and the audit log names who did what from where. Bad input to the CLI
//! is refused with the field named and nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use support::cluster::{Cluster, curl_tftp, db_args, ok, wait_for};
use support::require;

/// Runs phoneboot with `stdin` on its standard input: (success, stdout, stderr).
fn with_stdin(db: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let [flag, path] = db_args(db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_phoneboot"))
        .args(args)
        .args([flag, path])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

#[test]
fn an_account_made_with_the_cli_adds_a_phone_through_the_api_and_the_audit_log_says_so() {
    if !require("curl") {
        return;
    }
    let cluster = Cluster::example();
    let db = &cluster.db;
    let (added, _, err) = with_stdin(
        db,
        &[
            "admin",
            "user",
            "add",
            "alice",
            "--role",
            "operator",
            "--password-stdin",
        ],
        "a long enough password\n",
    );
    assert!(added, "{err}");
    assert_eq!(
        ok(db, &["admin", "user", "list"]).trim(),
        "alice                    operator"
    );
    let token = ok(
        db,
        &["admin", "token", "add", "--user", "alice", "--label", "ci"],
    );
    let token = token.trim();
    assert!(token.starts_with("pbt_"), "{token}");
    let listed = ok(db, &["admin", "token", "list", "--user", "alice"]);
    assert!(
        listed.contains(" ci") && !listed.contains(&token[4..]),
        "{listed}"
    );

    let server = cluster.serve(&[]);
    let admin = server.admin.unwrap();
    let auth = format!("Authorization: Bearer {token}");
    let phone = r#"{"name":"00:11:22:33:44:99","model":"8841","pool":"Default",
        "lines":[{"dn":"4001","label":"Alice"},{"dn":"4002","label":"Desk"}]}"#;
    let url = format!("http://{admin}/api/v1/devices");
    let (status, body) = curl(&[
        "-H",
        &auth,
        "-H",
        "Content-Type: application/json",
        "-d",
        phone,
        &url,
    ]);
    assert_eq!(status, 201, "{body}");
    let (status, body) = curl(&["-d", phone, "-H", "Content-Type: application/json", &url]);
    assert_eq!(status, 401, "{body}");

    wait_for("the phone's file to be served", || {
        curl_tftp(&server, "SEP001122334499.cnf.xml")
            .is_some_and(|f| String::from_utf8_lossy(&f).contains("4002"))
    });
    let log = ok(db, &["admin", "audit", "--kind", "device"]);
    let first = log.lines().next().unwrap();
    assert!(
        first.contains("SEP001122334499") && first.contains("by alice (127.0.0.1)"),
        "{log}"
    );
    let accounts = ok(db, &["admin", "audit", "--kind", "account"]);
    assert!(
        accounts.contains("token") && accounts.contains("by cli "),
        "{accounts}"
    );
}

#[test]
fn bad_accounts_and_tokens_are_refused_with_the_field_named_and_nothing_written() {
    let cluster = Cluster::empty();
    let db = &cluster.db;
    for (args, stdin, says) in [
        (
            vec![
                "admin",
                "user",
                "add",
                "bob",
                "--role",
                "owner",
                "--password-stdin",
            ],
            "a long enough password\n",
            "role",
        ),
        (
            vec![
                "admin",
                "user",
                "add",
                "bob",
                "--role",
                "viewer",
                "--password-stdin",
            ],
            "short\n",
            "password",
        ),
        (
            vec![
                "admin",
                "user",
                "add",
                "b b",
                "--role",
                "viewer",
                "--password-stdin",
            ],
            "a long enough password\n",
            "name",
        ),
        (
            vec!["admin", "user", "add", "bob", "--role", "viewer"],
            "",
            "--password-stdin",
        ),
        (
            vec!["admin", "token", "add", "--user", "nobody", "--label", "x"],
            "",
            "no account",
        ),
        (vec!["admin", "user", "remove", "nobody"], "", "no account"),
    ] {
        let (success, _, err) = with_stdin(db, &args, stdin);
        assert!(!success, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert!(ok(db, &["admin", "user", "list"]).trim().is_empty());
}
