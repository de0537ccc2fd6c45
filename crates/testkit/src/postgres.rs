//! A real PostgreSQL server for tests: `initdb` in a fresh directory, `postgres` on a free
//! loopback port, trust authentication, durability off (a test's data need not survive a
//! crash). Debian's `postgresql` package provides the binaries; when they are missing the
//! test fails and says what to install — it never skips.
//!
//! [`Postgres::shared`] is one server per test process, made once and ended with the
//! process: it is started from a thread that lives as long as the process, with the parent
//! death signal set (`setpriv --pdeathsig`), so the kernel stops it when the test binary
//! exits, however it exits. [`Postgres::start`] is a server of the test's own, which it may
//! stop and start again (fault tests) and which is stopped by its PID when dropped.
//!
//! PostgreSQL refuses to run as root; as root, the server runs as the `postgres` user the
//! package creates.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A PostgreSQL server this test process started.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// The running server, when this handle owns it (not the shared one).
    child: Option<Child>,
    pid: u32,
}

static SHARED: OnceLock<Postgres> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

impl Postgres {
    /// The server every test of this process shares; each test takes its own database of it
    /// with [`create_database`](Self::create_database).
    pub fn shared() -> &'static Self {
        SHARED.get_or_init(|| {
            let (bin, dir, port) = prepare();
            let (tx, rx) = std::sync::mpsc::channel();
            let (b, d) = (bin.clone(), dir.clone());
            // The parent death signal is sent when the thread that forked the child ends, so
            // the thread that starts the shared server is the one that waits on it, for as
            // long as the process lives.
            std::thread::spawn(move || {
                let mut child = spawn(&b, &d, port);
                tx.send(child.id()).unwrap();
                let _ = child.wait();
            });
            let pid = rx.recv().expect("the PostgreSQL starter thread died");
            let server = Self {
                bin,
                dir,
                port,
                child: None,
                pid,
            };
            server.wait_ready();
            server
        })
    }

    /// A server of the caller's own, stopped when dropped. The parent-death signal belongs
    /// to the calling thread: call it (and [`restart`](Self::restart)) from a thread that
    /// outlives the server, such as the test's own, not from a pool's worker.
    pub fn start() -> Self {
        let (bin, dir, port) = prepare();
        let child = spawn(&bin, &dir, port);
        let pid = child.id();
        let server = Self {
            bin,
            dir,
            port,
            child: Some(child),
            pid,
        };
        server.wait_ready();
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's PID (the postmaster's).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A new, empty database; its URL.
    pub fn create_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg(&name)
            .output()
            .expect("createdb");
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(&name)
    }

    /// Stops the server (fast shutdown: clients are disconnected) and waits for it to end.
    /// Only a server of the caller's own can be stopped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            panic!("the shared PostgreSQL is not stopped by a test");
        };
        signal(child.id(), "INT");
        let _ = child.wait();
    }

    /// Starts a stopped server again, on the same port with the same data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "PostgreSQL is running");
        let child = spawn(&self.bin, &self.dir, self.port);
        self.pid = child.id();
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start within 60 s; its log: {}",
                std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("log"));
    }
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

/// The directory of Debian's PostgreSQL server binaries (the newest version installed), or
/// of `initdb` on the PATH.
fn bindir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").exists() && dir.join("postgres").exists())
        .unwrap_or_else(|| {
            panic!(
                "this test needs a PostgreSQL server and none is installed: \
                 apt-get install postgresql (Debian), or put initdb and postgres on the PATH"
            )
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A command run as the server's user, with the parent death signal set.
fn command(program: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    if is_root() {
        cmd.args([
            "--reuid",
            "postgres",
            "--regid",
            "postgres",
            "--init-groups",
        ]);
    }
    cmd.args(["--pdeathsig", "INT"]).arg(program);
    cmd
}

/// A fresh data directory with `initdb` run in it, and a free port.
fn prepare() -> (PathBuf, PathBuf, u16) {
    let bin = bindir();
    sweep();
    let dir = std::env::temp_dir().join(format!(
        "phoneboot-pg-{}-{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    if is_root() {
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown postgres {}", dir.display());
    }
    let out = command(&bin.join("initdb"))
        .arg("-D")
        .arg(&dir)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .output()
        .expect("initdb");
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    (bin, dir, port)
}

/// Removes the data directories of test processes that are gone (the shared server's
/// directory outlives its process).
fn sweep() {
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("phoneboot-pg-")) else {
            continue;
        };
        let Some(pid) = rest.split(['-', '.']).next() else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let path = entry.path();
            let _ = std::fs::remove_dir_all(&path);
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn spawn(bin: &Path, dir: &Path, port: u16) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.with_extension("log"))
        .unwrap();
    command(&bin.join("postgres"))
        .arg("-D")
        .arg(dir)
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off", "-c", "max_connections=400"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("postgres")
}
