//! The HTTP file service against a real server, with curl as the client: the same bytes as
//! TFTP, validators, errors, busy answers, hostile requests, counters.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use support::*;

/// Runs curl; returns (status code, headers, body).
fn curl(args: &[&str]) -> (u16, String, Vec<u8>) {
    let dir = temp_root();
    let headers = dir.path().join("h");
    let body = dir.path().join("b");
    let out = Command::new("curl")
        .args([
            "-s",
            "--path-as-is",
            "-D",
            headers.to_str().unwrap(),
            "-o",
            body.to_str().unwrap(),
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headers = std::fs::read_to_string(&headers).unwrap_or_default();
    let code = headers
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, headers, std::fs::read(&body).unwrap_or_default())
}

/// A header's value; names compare case-insensitively, values are kept as sent.
fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn url(server: &Server, path: &str) -> String {
    format!("http://{}/{path}", server.http.unwrap())
}

#[test]
fn http_and_tftp_serve_identical_bytes_for_every_fixture() {
    if !require("curl") {
        return;
    }
    let root = temp_root();
    let fixtures = write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &[]);
    let out = temp_root();
    for f in &fixtures {
        let (code, headers, body) = curl(&[&url(&server, &f.request)]);
        assert_eq!(code, 200, "{}", f.request);
        assert_eq!(
            header(&headers, "content-length"),
            Some(f.content.len().to_string().as_str())
        );
        let tftp_out = out.path().join("t");
        let status = Command::new("curl")
            .args([
                "-s",
                "-o",
                tftp_out.to_str().unwrap(),
                &format!("tftp://{}/{}", server.v4, f.request),
            ])
            .status()
            .unwrap();
        assert!(status.success());
        let via_tftp = std::fs::read(&tftp_out).unwrap_or_default();
        assert_eq!(
            sha256(&body),
            sha256(&via_tftp),
            "{}: HTTP and TFTP differ",
            f.request
        );
        assert_eq!(sha256(&body), sha256(&f.content), "{}", f.request);
    }
}

#[test]
fn head_gives_the_headers_without_the_body() {
    if !require("curl") {
        return;
    }
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &[]);
    let (code, headers, _) = curl(&["-I", &url(&server, "random-1MiB.bin")]);
    assert_eq!(code, 200);
    assert_eq!(header(&headers, "content-length"), Some("1048576"));
    assert!(header(&headers, "etag").is_some() && header(&headers, "last-modified").is_some());
    // On the wire: the headers, then nothing.
    let mut s = TcpStream::connect(server.http.unwrap()).unwrap();
    s.write_all(b"HEAD /random-1MiB.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.ends_with("\r\n\r\n"),
        "HEAD sent a body: {} bytes",
        out.len()
    );
}

#[test]
fn validators_give_304_until_the_file_changes() {
    if !require("curl") {
        return;
    }
    let root = temp_root();
    std::fs::write(root.path().join("SEP001122334455.cnf.xml"), b"<v1/>").unwrap();
    let server = Server::start(root.path(), &[]);
    let u = url(&server, "SEP001122334455.cnf.xml");
    let (_, headers, _) = curl(&[&u]);
    let etag = header(&headers, "etag").unwrap().to_string();
    let modified = header(&headers, "last-modified").unwrap().to_string();

    let (code, _, body) = curl(&["-H", &format!("If-None-Match: {etag}"), &u]);
    assert_eq!((code, body.len()), (304, 0));
    let (code, _, _) = curl(&["-H", &format!("If-None-Match: \"other\", {etag}"), &u]);
    assert_eq!(code, 304, "a list containing the tag matches");
    let (code, _, _) = curl(&["-H", "If-None-Match: *", &u]);
    assert_eq!(code, 304, "* matches any version");
    let (code, _, _) = curl(&["-H", "If-None-Match: \"other\"", &u]);
    assert_eq!(code, 200);
    let (code, _, _) = curl(&["-H", &format!("If-Modified-Since: {modified}"), &u]);
    assert_eq!(code, 304);
    let (code, _, _) = curl(&["-H", "If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT", &u]);
    assert_eq!(code, 200);
    let (code, _, _) = curl(&["-H", "If-Modified-Since: not a date", &u]);
    assert_eq!(code, 200, "an invalid date is ignored");

    // Replaced on disk: the old validator no longer matches.
    std::fs::write(root.path().join("new"), b"<version two/>").unwrap();
    std::fs::rename(
        root.path().join("new"),
        root.path().join("SEP001122334455.cnf.xml"),
    )
    .unwrap();
    let (code, headers, body) = curl(&["-H", &format!("If-None-Match: {etag}"), &u]);
    assert_eq!(code, 200);
    assert_eq!(body, b"<version two/>");
    assert_ne!(header(&headers, "etag").unwrap(), etag);
}

#[test]
fn missing_and_refused_names_get_404_and_403() {
    if !require("curl") {
        return;
    }
    let root = temp_root();
    write_fixtures(root.path(), false);
    let outside = temp_root();
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("leak")).unwrap();
    let server = Server::start(root.path(), &[]);
    for (path, want) in [
        ("CTLSEP001122334455.tlv", 404),
        ("", 404),
        ("../etc/passwd", 403),
        ("%2e%2e/etc/passwd", 403),
        ("a/..%2f..%2fetc/passwd", 403),
        ("size1%00.bin", 403),
        ("size1%01.bin", 403),
        ("%ff%fe", 400), // not UTF-8: refused by the path decoder itself
        ("leak", 403),
        ("Desktops", 403),
        ("sub%5c..%5c..%5cx", 403),
        ("SIZE1.BIN", 200),
        ("desktops%5C320x212x12%5Cfixture.png", 200),
    ] {
        let (code, _, body) = curl(&[&url(&server, path)]);
        assert_eq!(code, want, "/{path}");
        assert!(
            !body.starts_with(b"secret"),
            "/{path} leaked the outside file"
        );
    }
}

#[test]
fn busy_server_answers_503_with_retry_after() {
    if !require("curl") {
        return;
    }
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = Server::start(
        root.path(),
        &["--max-serving-count", "1", "--queue-length", "0"],
    );
    // A stalled TFTP transfer holds the only slot: HTTP and TFTP share the count.
    let _held = hold_slot(server.v4, b"random-1MiB.bin");
    let (code, headers, _) = curl(&[&url(&server, "size513.bin")]);
    assert_eq!(code, 503);
    assert_eq!(header(&headers, "retry-after"), Some("5"));
    // An empty file never needs a slot; a missing one is still 404.
    assert_eq!(curl(&[&url(&server, "size0.bin")]).0, 200);
    assert_eq!(curl(&[&url(&server, "missing")]).0, 404);
    assert_eq!(server.counter_reaches("HttpRequestsOverflow", 1), 1);
}

#[test]
fn hostile_http_requests_are_refused_and_service_continues() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &[]);
    let addr = server.http.unwrap();
    let raw = |request: &[u8]| -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(raw(b"GARBAGE\r\n\r\n").contains(" 400 "), "garbage");
    assert!(
        raw(b"GET /size1.bin HTTP/1.1\r\nHost\r\n\r\n").contains(" 400 "),
        "bad header"
    );
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(100_000)
    );
    let status = raw(long.as_bytes());
    assert!(
        status.is_empty() || status.contains(" 4"),
        "oversized URI: {status}"
    );
    assert!(raw(b"POST /size1.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").contains(" 405 "));
    assert!(raw(b"PUT /size1.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx").contains(" 405 "));
    assert!(
        raw(b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").contains(" 200 ")
    );
}

#[test]
fn http_counters_count_exactly_what_happened() {
    if !require("curl") {
        return;
    }
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = Server::start(root.path(), &[]);
    assert_eq!(curl(&[&url(&server, "size513.bin")]).0, 200); // read from disk
    assert_eq!(curl(&[&url(&server, "size513.bin")]).0, 200); // from the cache
    assert_eq!(curl(&["-I", &url(&server, "size513.bin")]).0, 200);
    assert_eq!(curl(&[&url(&server, "nope")]).0, 404);
    assert_eq!(curl(&[&url(&server, "../x")]).0, 403);
    assert_eq!(server.counter_reaches("HttpRequests", 5), 5);
    assert_eq!(server.counter_reaches("HttpRequestsDenied", 1), 1);
    let c = server.counters();
    for (name, value) in [
        ("HttpRequests", 5),
        ("HttpRequestsProcessed", 3),
        ("HttpRequestsNotFound", 1),
        ("HttpRequestsDenied", 1),
        ("HttpRequestsOverflow", 0),
        ("HttpRequestsAborted", 0),
        ("HttpConnectRequests", 0),
        ("HttpServedFromDisk", 1),
        ("Requests", 0),
    ] {
        assert_eq!(c[name], value, "{name} in {c:?}");
    }
    let metrics = http_get(server.admin.unwrap(), "/metrics");
    assert!(
        metrics.contains("\nphoneboot_http_requests_total 5\n"),
        "{metrics}"
    );
}

#[test]
fn http_listens_dual_stack_by_address() {
    let root = temp_root();
    write_fixtures(root.path(), false);
    let server = Server::start_with(&[
        "serve".into(),
        "--root".into(),
        root.path().display().to_string(),
        "--tftp-listen".into(),
        "127.0.0.1:0".into(),
        "--admin-listen".into(),
        "off".into(),
        "--http-listen".into(),
        "[::]:0".into(),
    ]);
    let port = server.http.unwrap().port();
    for host in ["127.0.0.1", "::1"] {
        let addr = SocketAddr::new(host.parse().unwrap(), port);
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{host}: {out}");
    }
}
