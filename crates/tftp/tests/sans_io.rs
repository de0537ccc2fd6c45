//! The engine's crate boundary: no runtime, no sockets, no files, no clock (ARCHITECTURE.md).
//! Checked on the manifest and on the source, so that a careless `use` fails the test suite.

use std::path::Path;

const ALLOWED_DEPENDENCIES: &[&str] = &["bytes", "thiserror"];

const FORBIDDEN: &[&str] = &[
    "tokio",
    "std::fs",
    "std::net::UdpSocket",
    "std::net::TcpStream",
    "UdpSocket",
    "Instant::now",
    "SystemTime",
    "std::thread",
    "std::env",
    "std::process",
];

#[test]
fn manifest_has_only_pure_dependencies() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .unwrap_or_default();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .unwrap_or_default();
    for line in deps
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
        assert!(
            ALLOWED_DEPENDENCIES.contains(&name),
            "phoneboot-tftp must stay sans-IO; dependency `{name}` is not on the allow list"
        );
    }
}

#[test]
fn source_touches_no_io_and_no_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for entry in std::fs::read_dir(&src).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for word in FORBIDDEN {
            assert!(
                !text.contains(word),
                "{} uses `{word}`: the engine takes time and datagrams as inputs",
                entry.path().display()
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "found only {checked} source files in {}",
        src.display()
    );
}
