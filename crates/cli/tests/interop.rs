//! Interoperability with real third-party TFTP clients (curl, tftp-hpa, atftp, busybox) against
//! a real `phoneboot serve` on loopback, IPv4 and IPv6. Every download is compared by SHA-256.
//! `.ci/run` installs the clients; in CI a missing client fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

/// Runs a client command with a deadline; returns whether it exited 0, and its output.
fn run(program: &str, args: &[String], limit: Duration) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (status.success(), text);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (false, format!("{program} {args:?} timed out"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[allow(clippy::needless_pass_by_value)] // called with the temporary result of `run`
fn check_download(tool: &str, label: &str, fixture: &Fixture, out: &Path, result: (bool, String)) {
    assert!(result.0, "{tool} {label} {}: {}", fixture.request, result.1);
    let got = std::fs::read(out).unwrap_or_default();
    assert_eq!(
        sha256(&got),
        sha256(&fixture.content),
        "{tool} {label} {}: {} bytes, expected {}",
        fixture.request,
        got.len(),
        fixture.content.len()
    );
    let _ = std::fs::remove_file(out);
}

fn addrs(server: &Server) -> Vec<(&'static str, SocketAddr)> {
    let mut v = vec![("v4", server.v4)];
    if let Some(v6) = server.v6 {
        v.push(("v6", v6));
    }
    v
}

fn host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => a.ip().to_string(),
    }
}

const LIMIT: Duration = Duration::from_secs(60);

/// atftp's arguments to get `name` from `addr` into `out`, after its `options`.
fn atftp_get(addr: SocketAddr, options: &[&str], name: &str, out: &str) -> Vec<String> {
    let port = addr.port().to_string();
    let tail = ["-g", "-r", name, "-l", out, &host(addr), &port];
    options
        .iter()
        .chain(tail.iter())
        .map(|s| (*s).to_owned())
        .collect()
}

/// tftp-hpa's arguments to get `name` from `addr` in `mode` into `out`.
fn hpa_get(addr: SocketAddr, mode: &str, name: &str, out: &str) -> Vec<String> {
    [
        "-m",
        mode,
        &host(addr),
        &addr.port().to_string(),
        "-c",
        "get",
        name,
        out,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[test]
fn curl_downloads_every_fixture_with_each_option_set() {
    if !require("curl") {
        return;
    }
    let root = temp_root();
    let fixtures = write_fixtures(root.path(), false);
    // A loopback benchmark-style limit, so that curl's 65464 request is granted as asked.
    let server = Server::start(root.path(), &["--max-blksize", "65464"]);
    let out_dir = temp_root();
    let option_sets: [(&str, &[&str]); 4] = [
        ("default", &[]),
        ("blksize 1428", &["--tftp-blksize", "1428"]),
        ("blksize 65464", &["--tftp-blksize", "65464"]),
        ("no options", &["--tftp-no-options"]),
    ];
    for (family, addr) in addrs(&server) {
        for (label, extra) in option_sets {
            for f in &fixtures {
                let out = out_path(out_dir.path(), &f.request);
                let url = match addr {
                    SocketAddr::V4(a) => format!("tftp://{a}/{}", f.request),
                    SocketAddr::V6(a) => format!("tftp://[{}]:{}/{}", a.ip(), a.port(), f.request),
                };
                let mut args: Vec<String> =
                    vec!["-sS".into(), "-o".into(), out.display().to_string()];
                args.extend(extra.iter().map(|s| s.to_string()));
                args.push(url);
                let label = format!("{family} {label}");
                check_download("curl", &label, f, &out, run("curl", &args, LIMIT));
            }
        }
    }
}

#[test]
fn curl_reports_a_missing_file_as_tftp_not_found() {
    if !require("curl") {
        return;
    }
    let root = temp_root();
    let server = Server::start(root.path(), &[]);
    let status = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            &format!("tftp://{}/CTLSEP001122334455.tlv", server.v4),
        ])
        .status()
        .unwrap();
    // curl's exit code 68: "TFTP: File not found".
    assert_eq!(status.code(), Some(68));
}

#[test]
fn tftp_hpa_downloads_every_fixture_in_octet_and_text_in_netascii() {
    if !require("tftp") {
        return;
    }
    let root = temp_root();
    let fixtures = write_fixtures(root.path(), false);
    let text = b"line one\nline two\r\nbare cr\r tail\n".repeat(100);
    std::fs::write(root.path().join("notes.txt"), &text).unwrap();
    let server = Server::start(root.path(), &[]);
    let out_dir = temp_root();
    for (family, addr) in addrs(&server) {
        for f in &fixtures {
            let out = out_path(out_dir.path(), &f.request);
            let args = hpa_get(addr, "octet", &f.request, &out.display().to_string());
            let result = run("tftp", &args, LIMIT);
            // tftp-hpa exits 0 even on errors; the error text is what tells.
            assert!(
                !result.1.contains("Error"),
                "tftp-hpa {family} {}: {}",
                f.request,
                result.1
            );
            check_download("tftp-hpa", family, f, &out, result);
        }
        let out = out_dir.path().join("notes.txt");
        let args = hpa_get(addr, "netascii", "notes.txt", &out.display().to_string());
        let fixture = Fixture {
            request: "notes.txt".into(),
            content: text.clone(),
        };
        check_download(
            "tftp-hpa netascii",
            family,
            &fixture,
            &out,
            run("tftp", &args, LIMIT),
        );
    }
}

#[test]
fn atftp_downloads_every_fixture_with_blksize_tsize_and_windowsize() {
    if !require("atftp") {
        return;
    }
    let root = temp_root();
    let fixtures = write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &[]);
    let out_dir = temp_root();
    let option_sets: [(&str, &[&str]); 3] = [
        ("plain", &[]),
        (
            "blksize 1428 tsize",
            &["--option", "blksize 1428", "--option", "tsize 0"],
        ),
        (
            "blksize 1428 tsize windowsize 16",
            &[
                "--option",
                "blksize 1428",
                "--option",
                "tsize 0",
                "--option",
                "windowsize 16",
            ],
        ),
    ];
    for (family, addr) in addrs(&server) {
        for (label, extra) in option_sets {
            for f in &fixtures {
                let out = out_path(out_dir.path(), &f.request);
                let args = atftp_get(addr, extra, &f.request, &out.display().to_string());
                let label = format!("{family} {label}");
                check_download("atftp", &label, f, &out, run("atftp", &args, LIMIT));
            }
        }
    }
}

#[test]
fn busybox_tftp_downloads_every_fixture() {
    if !require("busybox") {
        return;
    }
    let root = temp_root();
    let fixtures = write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &[]);
    let out_dir = temp_root();
    for (family, addr) in addrs(&server) {
        for blksize in [None, Some("1428")] {
            for f in &fixtures {
                let out = out_path(out_dir.path(), &f.request);
                let mut args: Vec<String> = vec!["tftp".into(), "-g".into()];
                if let Some(b) = blksize {
                    args.extend(["-b".into(), b.into()]);
                }
                args.extend([
                    "-r".into(),
                    f.request.clone(),
                    "-l".into(),
                    out.display().to_string(),
                    match addr {
                        SocketAddr::V4(a) => a.to_string(),
                        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
                    },
                ]);
                let label = format!("{family} blksize {blksize:?}");
                check_download("busybox", &label, f, &out, run("busybox", &args, LIMIT));
            }
        }
    }
}

/// 32 MiB at blksize 512 is more than 65535 blocks: the block number wraps to 0, as curl and
/// tftp-hpa expect.
#[test]
fn curl_and_tftp_hpa_download_a_file_past_block_65535() {
    let have_curl = require("curl");
    let have_hpa = require("tftp");
    let root = temp_root();
    let fixtures = write_fixtures(root.path(), true);
    let big = fixtures
        .iter()
        .find(|f| f.request == "rollover.bin")
        .unwrap();
    let server = Server::start(root.path(), &[]);
    let out_dir = temp_root();
    let out = out_dir.path().join("rollover.bin");
    if have_curl {
        let args = vec![
            "-sS".into(),
            "-o".into(),
            out.display().to_string(),
            format!("tftp://{}/rollover.bin", server.v4),
        ];
        check_download("curl", "rollover", big, &out, run("curl", &args, LIMIT));
    }
    if have_hpa {
        let args = vec![
            "-m".into(),
            "octet".into(),
            host(server.v4),
            server.v4.port().to_string(),
            "-c".into(),
            "get".into(),
            "rollover.bin".into(),
            out.display().to_string(),
        ];
        check_download("tftp-hpa", "rollover", big, &out, run("tftp", &args, LIMIT));
    }
}

#[test]
fn curl_tftp_hpa_and_atftp_download_every_fixture_from_a_single_port_server() {
    if !require("curl") || !require("tftp") || !require("atftp") {
        return;
    }
    let root = temp_root();
    let fixtures = write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &["--single-port"]);
    let out_dir = temp_root();
    for (family, addr) in addrs(&server) {
        for f in &fixtures {
            let out = out_path(out_dir.path(), &f.request);
            let url = match addr {
                SocketAddr::V4(a) => format!("tftp://{a}/{}", f.request),
                SocketAddr::V6(a) => format!("tftp://[{}]:{}/{}", a.ip(), a.port(), f.request),
            };
            let args: Vec<String> = ["-sS", "--tftp-blksize", "1428", "-o"]
                .iter()
                .map(|s| s.to_string())
                .chain([out.display().to_string(), url])
                .collect();
            let result = run("curl", &args, LIMIT);
            check_download("curl single-port", family, f, &out, result);

            let out = out_path(out_dir.path(), &format!("hpa-{}", f.request));
            let args = hpa_get(addr, "octet", &f.request, &out.display().to_string());
            let result = run("tftp", &args, LIMIT);
            assert!(
                !result.1.contains("Error"),
                "tftp-hpa {family}: {}",
                result.1
            );
            check_download("tftp-hpa single-port", family, f, &out, result);

            let out = out_path(out_dir.path(), &format!("atftp-{}", f.request));
            let options = ["--option", "blksize 1428", "--option", "windowsize 8"];
            let args = atftp_get(addr, &options, &f.request, &out.display().to_string());
            let result = run("atftp", &args, LIMIT);
            check_download("atftp single-port", family, f, &out, result);
        }
    }
}
