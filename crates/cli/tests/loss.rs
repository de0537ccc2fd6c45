//! Transfers over an impaired path of our own (`phoneboot impair`: 10 % loss each way, 2 ms
//! delay, duplicates and reordering, following each transfer's port): real clients, lock-step
//! and windowed, all end with the right bytes, and the server recovers each loss on its
//! measured round trip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::{Server, pseudo_random, require, sha256, temp_root};

/// `phoneboot impair` in front of `server`; killed (by its PID) when dropped.
struct Path {
    child: std::process::Child,
    listen: std::net::SocketAddr,
}

impl Path {
    fn start(server: std::net::SocketAddr) -> Path {
        let mut child = Command::new(env!("CARGO_BIN_EXE_phoneboot"))
            .args(["impair", "--server", &server.to_string(), "--loss", "0.1"])
            .args([
                "--duplicate",
                "0.02",
                "--reorder",
                "0.02",
                "--delay-ms",
                "2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let listen = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("impair said {line:?}"))
            .parse()
            .unwrap();
        Path { child, listen }
    }
}

impl Drop for Path {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client's label, its run (success, what it said) and the file it writes.
type Client = (
    &'static str,
    std::thread::JoinHandle<(bool, String)>,
    std::path::PathBuf,
);

#[test]
fn lossy_duplicating_reordering_path_every_client_gets_every_byte() {
    let have_hpa = require("tftp");
    let have_curl = require("curl");
    let root = temp_root();
    let content = pseudo_random(192 * 1024 + 77, 99);
    std::fs::write(root.path().join("load.bin"), &content).unwrap();
    let server = Server::start(root.path(), &[]);
    let path = Path::start(server.v4);
    let out = temp_root();
    let (host, port) = (path.listen.ip().to_string(), path.listen.port().to_string());
    let mut clients: Vec<Client> = Vec::new();
    let mut spawn = |label: &'static str, program: &'static str, args: Vec<String>| {
        let file = out.path().join(label);
        let args: Vec<String> = args
            .into_iter()
            .map(|a| a.replace("{out}", file.to_str().unwrap()))
            .collect();
        let handle = std::thread::spawn(move || {
            let program = if program == "phoneboot" {
                env!("CARGO_BIN_EXE_phoneboot")
            } else {
                program
            };
            let out = Command::new(program).args(&args).output().unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        });
        clients.push((label, handle, file));
    };
    if have_hpa {
        // Lock-step, 512-byte blocks.
        spawn(
            "tftp-hpa",
            "tftp",
            vec![
                "-m".into(),
                "octet".into(),
                host.clone(),
                port.clone(),
                "-c".into(),
                "get".into(),
                "load.bin".into(),
                "{out}".into(),
            ],
        );
    }
    if have_curl {
        spawn(
            "curl",
            "curl",
            vec![
                "-s".into(),
                "--max-time".into(),
                "120".into(),
                // Without options: curl asks a `timeout` of a sixth of its --max-time, which
                // the server then uses as it is (RFC 2349), not its measured one.
                "--tftp-no-options".into(),
                "-o".into(),
                "{out}".into(),
                format!("tftp://{host}:{port}/load.bin"),
            ],
        );
    }
    // Windowed: RFC 7440, 16 blocks of 1428 per window.
    spawn(
        "phoneboot-get-windowed",
        "phoneboot",
        vec![
            "get".into(),
            format!("{host}:{port}"),
            "load.bin".into(),
            "-o".into(),
            "{out}".into(),
            "--blksize".into(),
            "1428".into(),
            "--windowsize".into(),
            "16".into(),
            "--retries".into(),
            "20".into(),
        ],
    );
    let want = sha256(&content);
    let transfers = clients.len() as u64;
    for (label, handle, file) in clients {
        let (ok, said) = handle.join().unwrap();
        assert!(ok, "{label} failed: {said}");
        let got = std::fs::read(&file).unwrap_or_default();
        assert_eq!(sha256(&got), want, "{label}: {} bytes", got.len());
    }
    // The path really lost packets, and the server resent them on its own measured timer.
    let counters = server.counters();
    assert!(counters["SegmentsRetransmitted"] > 0, "{counters:?}");
    // A server transfer whose final ACK was lost lingers (at most 7 s) after its client left.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.counters()["RequestsProcessed"] < transfers {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            server.counters()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(server.counters()["RequestsProcessed"], transfers);
}
