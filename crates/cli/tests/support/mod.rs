//! Shared by the end-to-end tests: a real `phoneboot serve` process on loopback, fixtures,
//! and a raw UDP peer for hand-made datagrams.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub mod browser;
pub mod cluster;
pub mod netns;

/// A `phoneboot serve` child process; killed (by its PID) when dropped.
pub struct Server {
    child: Child,
    pub v4: SocketAddr,
    pub v6: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    pub log: Arc<Mutex<Vec<String>>>,
    /// The device database's folder, when the test did not name one: every server gets its
    /// own, never a file in the working directory.
    _db_dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server on 127.0.0.1:0 and [::1]:0 with an admin listener on 127.0.0.1:0.
    pub fn start(root: &Path, extra: &[&str]) -> Server {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--root".into(),
            root.display().to_string(),
            "--tftp-listen".into(),
            "127.0.0.1:0".into(),
            "--tftp-listen".into(),
            "[::1]:0".into(),
            "--admin-listen".into(),
            "127.0.0.1:0".into(),
            "--http-listen".into(),
            "127.0.0.1:0".into(),
            // Opened only in a secure cluster; never the fixed ports, which parallel tests share.
            "--https-listen".into(),
            "127.0.0.1:0".into(),
            "--https-mutual-listen".into(),
            "127.0.0.1:0".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_with(&args)
    }

    pub fn start_with(args: &[String]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_phoneboot"));
        let db_dir = if args.iter().any(|a| a == "--database") {
            None
        } else {
            let dir = tempfile::tempdir().unwrap();
            command.env("PHONEBOOT_DATABASE", dir.path().join("phoneboot.db"));
            Some(dir)
        };
        let mut child = command
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("PHONEBOOT_CONFIG")
            .env("PHONEBOOT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start phoneboot");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let log_writer = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                log_writer.lock().unwrap().push(line);
            }
        });
        let (mut v4, mut v6, mut admin, mut http) = (None, None, None, None);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("phoneboot exited with {status}: {:?}", log.lock().unwrap());
                }
                continue;
            };
            if let Some(addr) = line.split("TFTP listening on udp ").nth(1) {
                let addr: SocketAddr = addr.trim().parse().unwrap();
                if addr.is_ipv4() {
                    v4 = Some(addr);
                } else {
                    v6 = Some(addr);
                }
            }
            if let Some(rest) = line.split("HTTP listening on tcp ").nth(1) {
                http = Some(rest.trim().parse().unwrap());
            }
            if let Some(rest) = line
                .split("admin HTTP on http://")
                .nth(1)
                .or_else(|| line.split("admin HTTPS on https://").nth(1))
            {
                admin = Some(rest.trim().trim_end_matches("/metrics").parse().unwrap());
            }
            let listeners = args.iter().filter(|a| *a == "--tftp-listen").count();
            let found = usize::from(v4.is_some()) + usize::from(v6.is_some());
            let wants = |flag: &str| args.windows(2).any(|w| w[0] == flag && w[1] != "off");
            if found >= listeners
                && (admin.is_some() || !wants("--admin-listen"))
                && (http.is_some() || !wants("--http-listen"))
            {
                break;
            }
        }
        // A wildcard listener is reached through loopback.
        let v4 = v4
            .or(v6)
            .map(|a| {
                if a.ip().is_unspecified() || a.is_ipv6() {
                    SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), a.port())
                } else {
                    a
                }
            })
            .unwrap_or_else(|| panic!("no TFTP address in the log: {:?}", log.lock().unwrap()));
        let v6 = v6.map(|a| {
            if a.ip().is_unspecified() {
                SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), a.port())
            } else {
                a
            }
        });
        Server {
            child,
            v4,
            v6,
            admin,
            http,
            log,
            _db_dir: db_dir,
        }
    }

    /// The CUCM-named counters from the admin listener.
    pub fn counters(&self) -> std::collections::HashMap<String, u64> {
        let body = http_get(self.admin.unwrap(), "/counters");
        body.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
            .collect()
    }

    /// Waits (at most 10 s, for a loaded CI machine) until a counter reaches `value`; returns
    /// what it last read. Counters are updated right after a client gets its answer, so a
    /// reader may have to wait a little.
    pub fn counter_reaches(&self, name: &str, value: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.counters().get(name).copied().unwrap_or(0);
            if now == value || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most 30 s) until a counter is at least `value`; panics if it never is.
    pub fn counter_at_least(&self, name: &str, value: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.counters().get(name).copied().unwrap_or(0);
            if now >= value {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "{name} stayed at {now}, below {value}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit, at most `limit`.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the phoneboot binary with `args`; returns (exit success, stdout, stderr).
pub fn phoneboot(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_phoneboot"))
        .args(args)
        .env_remove("RUST_LOG")
        // The tests say where everything is; the environment of whoever runs them does not.
        .env_remove("PHONEBOOT_CONFIG")
        .env_remove("PHONEBOOT_DATABASE")
        .env_remove("PHONEBOOT_MODELS")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A minimal HTTP/1.0 GET for the admin listener (tests only).
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out);
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// True if `tool` is on the PATH. When it is not: in CI (or with PHONEBOOT_REQUIRE_INTEROP set)
/// the test fails; elsewhere it says so and the caller skips.
pub fn require(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        let required = std::env::var_os("CI").is_some()
            || std::env::var_os("PHONEBOOT_REQUIRE_INTEROP").is_some();
        assert!(
            !required,
            "`{tool}` is required for interop tests (CI installs it with apt-get; see .ci/run)"
        );
        eprintln!("SKIP: `{tool}` is not installed");
    }
    found
}

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24).to_le_bytes()[0]
        })
        .collect()
}

/// One fixture: the name to request, the path on disk relative to the root, the content.
pub struct Fixture {
    pub request: String,
    pub content: Vec<u8>,
}

/// Writes the standard fixtures into `root` and returns them. The big rollover file is only
/// written when asked (it is 32 MiB).
pub fn write_fixtures(root: &Path, with_rollover: bool) -> Vec<Fixture> {
    let mut out = Vec::new();
    let mut add = |disk: &str, request: &str, content: Vec<u8>| {
        let path = root.join(disk);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &content).unwrap();
        out.push(Fixture {
            request: request.to_string(),
            content,
        });
    };
    for len in [0usize, 1, 511, 512, 513, 1536] {
        add(
            &format!("size{len}.bin"),
            &format!("size{len}.bin"),
            pseudo_random(len, len as u64 + 7),
        );
    }
    add(
        "random-1MiB.bin",
        "random-1MiB.bin",
        pseudo_random(1 << 20, 99),
    );
    // Above the default streaming threshold (1 MiB): read from the page cache as it is sent.
    add(
        "firmware/load-streamed.sbn",
        "firmware/load-streamed.sbn",
        pseudo_random((1 << 20) + 1000, 98),
    );
    add(
        "Desktops/320x212x12/Fixture.png",
        "Desktops/320x212x12/Fixture.png",
        pseudo_random(3000, 5),
    );
    add(
        "SEP001122AABBCC.cnf.xml",
        "sep001122aabbcc.CNF.XML",
        b"<device>\n</device>\n".to_vec(),
    );
    if with_rollover {
        // More than 65535 blocks at blksize 512: the block number wraps.
        add(
            "rollover.bin",
            "rollover.bin",
            pseudo_random(512 * 65_536 + 700, 3),
        );
    }
    out
}

pub fn temp_root() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn out_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name.replace('/', "_"))
}

static RESERVED: Mutex<Vec<UdpSocket>> = Mutex::new(Vec::new());

/// A raw UDP peer for hand-made datagrams.
pub struct Raw {
    pub socket: UdpSocket,
}

impl Raw {
    pub fn new(v6: bool) -> Raw {
        let socket = UdpSocket::bind(if v6 { "[::1]:0" } else { "127.0.0.1:0" }).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(400)))
            .unwrap();
        // Keep the port reserved for the whole test process: were the OS to hand it to a later
        // Raw while the server still runs a transfer for it, an identical request would rightly
        // be taken for a retransmission and ignored.
        RESERVED.lock().unwrap().push(socket.try_clone().unwrap());
        Raw { socket }
    }

    pub fn send(&self, to: SocketAddr, datagram: &[u8]) {
        self.socket.send_to(datagram, to).unwrap();
    }

    /// The next datagram, or None after the read timeout.
    pub fn recv(&self) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = vec![0u8; 70_000];
        match self.socket.recv_from(&mut buf) {
            Ok((n, from)) => Some((buf[..n].to_vec(), from)),
            Err(_) => None,
        }
    }

    /// Sends and returns the first reply.
    pub fn exchange(&self, to: SocketAddr, datagram: &[u8]) -> Option<(Vec<u8>, SocketAddr)> {
        self.send(to, datagram);
        self.recv()
    }
}

/// Builds an RRQ from its NUL-terminated parts.
pub fn rrq(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![0, 1];
    for p in parts {
        out.extend_from_slice(p);
        out.push(0);
    }
    out
}

/// Holds one of `server`'s serving slots with a transfer of `name` (more than one block) whose
/// client answered once and then went silent: the server waits for it for about 30 s. (A
/// transfer that was never answered gives its slot up within the grace time.)
pub fn hold_slot(server: SocketAddr, name: &[u8]) -> (Raw, SocketAddr) {
    let holder = Raw::new(server.is_ipv6());
    let (first, tid) = holder.exchange(server, &rrq(&[name, b"octet"])).unwrap();
    assert_eq!(
        &first[..4],
        &[0, 3, 0, 1],
        "DATA 1 of {}",
        String::from_utf8_lossy(name)
    );
    holder.send(tid, &[0, 4, 0, 1]);
    assert!(holder.recv().is_some(), "DATA 2");
    (holder, tid)
}

/// An ERROR packet's (code, message), if `d` is one.
pub fn as_error(d: &[u8]) -> Option<(u16, String)> {
    if d.len() < 5 || d[..2] != [0, 5] {
        return None;
    }
    let code = u16::from_be_bytes([d[2], d[3]]);
    let msg = String::from_utf8_lossy(&d[4..d.len() - 1]).to_string();
    Some((code, msg))
}

/// The lines under `heading` in `phoneboot dhcp config`'s output, without comments: what an
/// operator pastes into that DHCP server.
pub fn section(printed: &str, heading: &str) -> String {
    let lines: Vec<&str> = printed
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert!(!lines.is_empty(), "no {heading:?} section in:\n{printed}");
    lines.join("\n")
}
