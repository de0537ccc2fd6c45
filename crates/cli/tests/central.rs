//! Centralized TFTP on loopback with real nodes: A (127.0.0.1) asks B (127.0.0.2) and C
//! (127.0.0.3) over HTTP for what it lacks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::*;

/// A node listening on `ip` only (TFTP, HTTP on `http_port` or any, admin).
fn node(ip: &str, root: &std::path::Path, http_port: u16, extra: &[String]) -> Server {
    let mut args: Vec<String> = [
        "serve",
        "--root",
        root.to_str().unwrap(),
        "--tftp-listen",
        &format!("{ip}:0"),
        "--http-listen",
        &format!("{ip}:{http_port}"),
        "--admin-listen",
        &format!("{ip}:0"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().cloned());
    Server::start_with(&args)
}

fn alternate(server: &Server) -> [String; 2] {
    [
        "--alternate-server".into(),
        format!("http://{}", server.http.unwrap()),
    ]
}

/// A port that was free a moment ago, for nodes that must know each other's address up front.
fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind(format!("{ip}:0"))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tftp(server: SocketAddr, name: &str) -> Result<Vec<u8>, (u16, String)> {
    let raw = Raw::new(false);
    let (mut d, mut tid) = raw
        .exchange(server, &rrq(&[name.as_bytes(), b"octet"]))
        .ok_or((999, "silence".into()))?;
    let mut data = Vec::new();
    loop {
        if let Some(e) = as_error(&d) {
            return Err(e);
        }
        data.extend_from_slice(&d[4..]);
        raw.send(tid, &[0, 4, d[2], d[3]]);
        if d.len() < 516 {
            return Ok(data);
        }
        (d, tid) = raw.recv().ok_or((999, "silence".into()))?;
    }
}

#[test]
fn a_file_only_the_second_alternate_has_is_served_through_the_first_node() {
    let (ra, rb, rc) = (temp_root(), temp_root(), temp_root());
    std::fs::write(
        rc.path().join("SIP78xx.14-2-1.loads"),
        pseudo_random(3000, 7),
    )
    .unwrap();
    let b = node("127.0.0.2", rb.path(), 0, &[]);
    let c = node("127.0.0.3", rc.path(), 0, &[]);
    let mut extra = alternate(&b).to_vec();
    extra.extend(alternate(&c));
    let a = node("127.0.0.1", ra.path(), 0, &extra);

    assert_eq!(
        tftp(a.v4, "sip78xx.14-2-1.loads").unwrap(),
        pseudo_random(3000, 7)
    );
    // Kept for the cache time: the second request does not go out again.
    assert_eq!(
        tftp(a.v4, "SIP78xx.14-2-1.loads").unwrap(),
        pseudo_random(3000, 7)
    );
    assert_eq!(
        b.counter_reaches("HttpRequestsNotFound", 1),
        1,
        "B was asked once and had nothing"
    );
    assert_eq!(
        c.counter_reaches("HttpRequestsProcessed", 1),
        1,
        "C served it once"
    );
    // Over HTTP from A too.
    let mut stream = std::net::TcpStream::connect(a.http.unwrap()).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /SIP78xx.14-2-1.loads HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut response = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"));
    assert!(response.ends_with(&pseudo_random(3000, 7)));
    // A file nobody has: not found, after asking both.
    assert_eq!(tftp(a.v4, "nowhere.bin").unwrap_err().0, 1);
}

#[test]
fn a_busy_alternate_makes_the_node_answer_busy_and_stops_there() {
    let (ra, rb, rc) = (temp_root(), temp_root(), temp_root());
    std::fs::write(rb.path().join("load.bin"), vec![b'b'; 3000]).unwrap();
    std::fs::write(rc.path().join("load.bin"), vec![b'c'; 3000]).unwrap();
    let b = node(
        "127.0.0.2",
        rb.path(),
        0,
        // No queue: B answers busy at once, as CUCM does.
        &[
            "--max-serving-count".into(),
            "1".into(),
            "--queue-length".into(),
            "0".into(),
        ],
    );
    let c = node("127.0.0.3", rc.path(), 0, &[]);
    // Hold B's only slot with a stalled TFTP transfer: one that answered once (a transfer
    // never answered gives its slot up within the grace time) and then went silent.
    let holder = Raw::new(false);
    let (_, tid) = holder
        .exchange(b.v4, &rrq(&[b"load.bin", b"octet"]))
        .unwrap();
    holder.send(tid, &[0, 4, 0, 1]);
    let mut extra = alternate(&b).to_vec();
    extra.extend(alternate(&c));
    let a = node("127.0.0.1", ra.path(), 0, &extra);

    let (code, text) = tftp(a.v4, "load.bin").unwrap_err();
    assert_eq!((code, text.as_str()), (0, "Server busy, try again later"));
    assert_eq!(a.counter_reaches("RequestsOverflow", 1), 1);
    assert_eq!(
        c.counter_reaches("HttpRequests", 0),
        0,
        "503 stops the search: C is not asked"
    );
    let status = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}/load.bin", a.http.unwrap()))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if require("curl") {
        assert_eq!(status, "503", "HTTP clients of A get 503 too");
    }
}

#[test]
fn a_stopped_alternate_is_skipped_within_the_bound() {
    let (ra, rb, rc) = (temp_root(), temp_root(), temp_root());
    std::fs::write(rc.path().join("only-c.bin"), b"from C").unwrap();
    let mut b = node("127.0.0.2", rb.path(), 0, &[]);
    let c = node("127.0.0.3", rc.path(), 0, &[]);
    let mut extra = alternate(&b).to_vec();
    extra.extend(alternate(&c));
    let a = node("127.0.0.1", ra.path(), 0, &extra);
    b.terminate(Duration::from_secs(10)).expect("B stops");

    assert_eq!(tftp(a.v4, "only-c.bin").unwrap(), b"from C");
    // The log is read from the server's stderr by a thread of the test: it may lag the reply.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !a.log_text().contains("alternate server unreachable") {
        assert!(
            std::time::Instant::now() < deadline,
            "the skip is logged: {}",
            a.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_nodes_that_are_each_others_alternate_do_not_loop() {
    let (ra, rb) = (temp_root(), temp_root());
    let (pa, pb) = (free_port("127.0.0.1"), free_port("127.0.0.2"));
    let a = node(
        "127.0.0.1",
        ra.path(),
        pa,
        &[
            "--alternate-server".into(),
            format!("http://127.0.0.2:{pb}"),
        ],
    );
    let b = node(
        "127.0.0.2",
        rb.path(),
        pb,
        &[
            "--alternate-server".into(),
            format!("http://127.0.0.1:{pa}"),
        ],
    );

    assert_eq!(tftp(a.v4, "missing.bin").unwrap_err().0, 1);
    assert_eq!(b.counter_reaches("HttpRequests", 1), 1, "A asked B once");
    assert_eq!(
        a.counter_reaches("HttpRequests", 0),
        0,
        "B did not ask A back: the hop header"
    );
}

#[test]
fn common_files_are_never_fetched_from_another_cluster() {
    let (ra, rb) = (temp_root(), temp_root());
    std::fs::write(rb.path().join("RingList.xml"), b"<remote ring list/>").unwrap();
    std::fs::write(rb.path().join("ordinary.bin"), b"remote").unwrap();
    let b = node("127.0.0.2", rb.path(), 0, &[]);
    let a = node("127.0.0.1", ra.path(), 0, &alternate(&b));
    assert_eq!(
        tftp(a.v4, "RingList.xml").unwrap_err().0,
        1,
        "the local copy or nothing"
    );
    assert_eq!(tftp(a.v4, "ordinary.bin").unwrap(), b"remote");
    assert_eq!(b.counter_reaches("HttpRequests", 1), 1);
}

/// A remote server that answers every GET with `body`'s announced length, sends its first
/// `first` bytes, then waits to be told to send the rest (`true`) or to hang up (`false`).
fn trickling_peer(body: Vec<u8>, first: usize) -> (SocketAddr, std::sync::mpsc::Sender<bool>) {
    let listener = std::net::TcpListener::bind("127.0.0.3:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tell, told) = std::sync::mpsc::channel::<bool>();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            if std::io::Read::read(&mut stream, &mut byte).unwrap() == 0 {
                return;
            }
            request.push(byte[0]);
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        std::io::Write::write_all(&mut stream, head.as_bytes()).unwrap();
        std::io::Write::write_all(&mut stream, &body[..first]).unwrap();
        if told.recv_timeout(Duration::from_secs(20)).unwrap_or(false) {
            std::io::Write::write_all(&mut stream, &body[first..]).unwrap();
        }
    });
    (addr, tell)
}

/// A node whose only alternate is `peer`, streaming files above 100,000 bytes.
fn streaming_node(peer: SocketAddr) -> (tempfile::TempDir, Server) {
    let root = temp_root();
    let extra = [
        "--alternate-server".into(),
        format!("http://{peer}"),
        "--stream-above-bytes".into(),
        "100000".into(),
    ];
    let server = node("127.0.0.1", root.path(), 0, &extra);
    (root, server)
}

/// Fetches `name` in lock-step, calling `after_first` once DATA 1 is in hand; the bytes, or
/// the ERROR that ended the transfer.
fn tftp_stepwise(
    server: SocketAddr,
    name: &str,
    after_first: impl FnOnce(),
) -> Result<Vec<u8>, (u16, String)> {
    let raw = Raw::new(false);
    let (mut d, mut tid) = raw
        .exchange(server, &rrq(&[name.as_bytes(), b"octet"]))
        .ok_or((999, "silence".into()))?;
    let mut after_first = Some(after_first);
    let mut data = Vec::new();
    loop {
        if let Some(e) = as_error(&d) {
            return Err(e);
        }
        data.extend_from_slice(&d[4..]);
        if let Some(f) = after_first.take() {
            f();
        }
        raw.send(tid, &[0, 4, d[2], d[3]]);
        if d.len() < 516 {
            return Ok(data);
        }
        // A block waiting for the download may take longer than the raw client's read timeout.
        let mut next = None;
        for _ in 0..20 {
            next = raw.recv();
            if next.is_some() {
                break;
            }
        }
        (d, tid) = next.ok_or((999, "silence".into()))?;
    }
}

#[test]
fn a_large_file_from_an_alternate_is_sent_while_it_still_arrives() {
    let body = pseudo_random(600_000, 41);
    let (peer, tell) = trickling_peer(body.clone(), 300_000);
    let (_ra, a) = streaming_node(peer);
    // DATA 1 comes while half the file is still held back by the remote server: the transfer
    // did not wait for the whole download.
    let got = tftp_stepwise(a.v4, "SIP8845.14-3-1.sbn", || tell.send(true).unwrap());
    assert_eq!(sha256(&got.unwrap()), sha256(&body));
}

#[test]
fn a_download_that_breaks_off_ends_the_transfer_with_an_error_not_a_short_file() {
    let body = pseudo_random(600_000, 42);
    let (peer, tell) = trickling_peer(body, 300_000);
    let (_ra, a) = streaming_node(peer);
    let got = tftp_stepwise(a.v4, "SIP8845.14-3-1.sbn", || tell.send(false).unwrap());
    let (code, message) = got.expect_err("the remote server hung up half way");
    assert_eq!(code, 0, "{message}");
    assert!(message.contains("could not be read"), "{message}");
    assert!(
        a.log_text().contains("download"),
        "the log says why: {}",
        a.log_text()
    );
}

#[test]
fn over_http_a_download_that_breaks_off_cuts_the_connection_short_of_its_length() {
    let body = pseudo_random(600_000, 43);
    let (peer, tell) = trickling_peer(body, 300_000);
    let (_ra, a) = streaming_node(peer);
    let mut stream = std::net::TcpStream::connect(a.http.unwrap()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /SIP8845.14-3-1.sbn HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    // The headers and the first stretches come while the rest is held back.
    let mut head = [0u8; 64 << 10];
    let mut got = std::io::Read::read(&mut stream, &mut head).unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200"));
    let text = String::from_utf8_lossy(&head[..got]).to_lowercase();
    assert!(text.contains("content-length: 600000"), "{text}");
    tell.send(false).unwrap();
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut rest);
    got += rest.len();
    let header_len = text.find("\r\n\r\n").unwrap() + 4;
    assert!(
        got - header_len < 600_000,
        "the body must end short of its Content-Length, not look whole ({} bytes)",
        got - header_len
    );
}
