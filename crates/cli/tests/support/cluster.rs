//! A device database for the end-to-end tests: the example cluster (or an empty one) in a
//! temporary folder with an empty TFTP root, the CLI run against it, and a server on it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Server, phoneboot, temp_root};

/// A temporary folder with a device database and an empty TFTP root.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub root: PathBuf,
}

impl Cluster {
    /// The example cluster of `phoneboot init --example`.
    pub fn example() -> Self {
        Self::with(&["init", "--example"])
    }

    /// A new, empty database.
    pub fn empty() -> Self {
        Self::with(&["init"])
    }

    pub fn with(init: &[&str]) -> Self {
        let dir = temp_root();
        let db = dir.path().join("cluster.db");
        ok(&db, init);
        let root = dir.path().join("tftp");
        std::fs::create_dir(&root).unwrap();
        Self { dir, db, root }
    }

    /// `phoneboot serve` on this database and root, with `extra` flags.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let [flag, path] = db_args(&self.db);
        let mut args = vec![flag.as_str(), path.as_str()];
        args.extend_from_slice(extra);
        Server::start(&self.root, &args)
    }
}

pub fn db_args(db: &Path) -> [String; 2] {
    ["--database".into(), db.display().to_string()]
}

/// Runs phoneboot with the database appended; panics with its stderr if it fails.
pub fn ok(db: &Path, args: &[&str]) -> String {
    let [flag, path] = db_args(db);
    let mut all: Vec<&str> = args.to_vec();
    all.extend([flag.as_str(), path.as_str()]);
    let (success, out, err) = phoneboot(&all);
    assert!(success, "phoneboot {args:?} failed: {err}");
    out
}

/// Runs phoneboot expecting failure; returns stderr.
pub fn fails(db: &Path, args: &[&str]) -> String {
    let [flag, path] = db_args(db);
    let mut all: Vec<&str> = args.to_vec();
    all.extend([flag.as_str(), path.as_str()]);
    let (success, out, err) = phoneboot(&all);
    assert!(!success, "phoneboot {args:?} should have failed: {out}");
    err
}

/// curl's TFTP client: the file's bytes, or None when the server said it does not exist.
pub fn curl_tftp(server: &Server, name: &str) -> Option<Vec<u8>> {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .arg(format!("tftp://{}/{name}", server.v4))
        .output()
        .unwrap();
    out.status.success().then_some(out.stdout)
}

/// Waits for `done`; the bound only keeps a broken build from hanging (a loaded CI machine
/// may be slow), it measures nothing.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
