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
    // Has the phone taken it: the API says so for the phone that just fetched its file.
    let fetched = format!("http://{admin}/api/v1/fetched?state=current");
    // Recorded when the transfer ends (the server has the last ACK a moment after curl).
    wait_for("the fetch to be recorded", || {
        let (status, body) = curl(&["-H", &auth, &fetched]);
        status == 200 && body.contains("SEP001122334499")
    });
    let (status, body) = curl(&[
        "-H",
        &auth,
        &format!("http://{admin}/api/v1/fetched?state=old"),
    ]);
    assert_eq!(status, 400, "{body}");
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

#[test]
fn the_admin_listener_speaks_tls_with_a_configured_certificate_and_its_cookies_are_secure() {
    if !(require("curl") && require("openssl")) {
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
            "viewer",
            "--password-stdin",
        ],
        "a long enough password\n",
    );
    assert!(added, "{err}");
    let dir = cluster.dir.path();
    let (cert, key) = (dir.join("admin.crt"), dir.join("admin.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // A key that is not the certificate's: refused at start, saying so.
    let other = dir.join("other.key");
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-out",
        ])
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success());
    let [flag, path] = db_args(db);
    let refused = Command::new(env!("CARGO_BIN_EXE_phoneboot"))
        .args([
            "serve",
            &flag,
            &path,
            "--tftp-listen",
            "127.0.0.1:0",
            "--http-listen",
            "off",
        ])
        .args([
            "--https-listen",
            "off",
            "--https-mutual-listen",
            "off",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--admin-tls-cert")
        .arg(&cert)
        .arg("--admin-tls-key")
        .arg(&other)
        .arg("--root")
        .arg(&cluster.root)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("admin listener's TLS") && said.contains("does not go with"),
        "{said}"
    );

    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let server = cluster.serve(&["--admin-tls-cert", &cert_s, "--admin-tls-key", &key_s]);
    let admin = server.admin.unwrap();
    let url = format!("https://{admin}/api/v1/session");
    let out = Command::new("curl")
        .args([
            "-s",
            "-i",
            "--cacert",
            &cert_s,
            "-H",
            "Content-Type: application/json",
        ])
        .args([
            "-d",
            r#"{"name":"alice","password":"a long enough password"}"#,
            &url,
        ])
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let cookie = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // Plain HTTP to the same port gets no answer of ours.
    let (status, _) = curl(&[&format!("http://{admin}/api/v1/openapi.json")]);
    assert_ne!(status, 200);
}
