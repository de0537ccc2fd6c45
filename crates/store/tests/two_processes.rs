//! Two processes write one database at once — one SQLite file, as `phoneboot serve` and the
//! CLI (or two CLI commands) do, and one PostgreSQL database, as two nodes of a cluster do:
//! no update is lost, a stale expected version is refused, and the feed's versions are
//! strictly increasing and gap-free.
//!
//! The test binary is its own writer: run without arguments it is the parent, which starts
//! itself twice with `--writer DB N` and checks what the two left.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use phoneboot_model::*;
use phoneboot_store::{Create, Location, Mode, Store, StoreError, Violation, Write};

const INCREMENTS: u32 = 60;
const MAC: &str = "001122334455";

fn device(description: &str) -> Device {
    let mut d = Device::phone(MAC.parse().unwrap(), "7941", Protocol::Sccp, "Default");
    d.description = description.into();
    d
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.get(1).map(String::as_str) {
        Some("--writer") => {
            let conflicts = runtime.block_on(writer(&args[2], args[3].parse().unwrap()));
            println!("conflicts {conflicts}");
        }
        // The harness-less binary is also run by `cargo test -- --list` and with filters.
        Some("--list") => println!("two_processes: test"),
        _ => {
            let dir = tempfile::tempdir().unwrap();
            let sqlite = dir
                .path()
                .join("phoneboot.db")
                .to_string_lossy()
                .into_owned();
            runtime.block_on(parent(&sqlite));
            println!("test two_processes::sqlite ... ok");
            runtime.block_on(parent(
                &phoneboot_testkit::Postgres::shared().create_database(),
            ));
            println!("test two_processes::postgres ... ok");
        }
    }
}

async fn open(location: &str, create: Create) -> std::sync::Arc<dyn Store> {
    phoneboot_store::open(&Location::parse(location).unwrap(), create)
        .await
        .unwrap()
}

/// Read, change, write against the version read, `times` times; a conflict means reading
/// again. Prints nothing but the count of conflicts met.
async fn writer(path: &str, times: u32) -> u32 {
    let store = open(path, Create::Never).await;
    let mut conflicts = 0;
    for _ in 0..times {
        loop {
            let stored = store
                .get(Kind::Device, "SEP001122334455")
                .await
                .unwrap()
                .unwrap();
            let Object::Device(mut d) = stored.object else {
                unreachable!()
            };
            let n: u32 = d.description.parse().unwrap();
            d.description = (n + 1).to_string();
            let write = Write::Update {
                object: Object::Device(d),
                expected: stored.version,
            };
            match store.write(&[write], Mode::Commit).await {
                Ok(_) => break,
                Err(StoreError::Refused(v)) if matches!(v[0].1, Violation::Moved { .. }) => {
                    conflicts += 1;
                }
                Err(e) => panic!("writer: {e}"),
            }
        }
    }
    store.close().await.unwrap();
    conflicts
}

async fn parent(location: &str) {
    let store = open(location, Create::IfMissing).await;
    let base = vec![
        Write::Insert(Object::CallManager(CallManager::new("cm1", "192.0.2.11"))),
        Write::Insert(Object::CmGroup(CmGroup {
            name: "G1".into(),
            members: vec!["cm1".into()],
            tftp_default: true,
        })),
        Write::Insert(Object::DateTimeGroup(DateTimeGroup {
            name: "CMLocal".into(),
            date_template: "M/D/Y".into(),
            time_zone: "Greenwich Standard Time".into(),
            ntp: vec![],
        })),
        Write::Insert(Object::DevicePool(DevicePool::new(
            "Default", "G1", "CMLocal",
        ))),
        Write::Insert(Object::Device(device("0"))),
    ];
    store.write(&base, Mode::Commit).await.unwrap();
    let me = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&me)
                .args(["--writer", location, &INCREMENTS.to_string()])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut conflicts = 0u32;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a writer failed");
        let text = String::from_utf8_lossy(&out.stdout);
        conflicts += text
            .trim()
            .strip_prefix("conflicts ")
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap();
    }
    // This process read version 5 before the writers ran: its change must be refused.
    let stale = Write::Update {
        object: Object::Device(device("stale")),
        expected: 5,
    };
    match store.write(&[stale], Mode::Commit).await {
        Err(StoreError::Refused(v)) => assert!(
            matches!(v[0].1, Violation::Moved { expected: 5, .. }),
            "{v:?}"
        ),
        other => panic!("a stale version was not refused: {other:?}"),
    }
    let stored = store
        .get(Kind::Device, "SEP001122334455")
        .await
        .unwrap()
        .unwrap();
    let Object::Device(d) = stored.object else {
        unreachable!()
    };
    assert_eq!(
        d.description,
        (2 * INCREMENTS).to_string(),
        "an update was lost ({conflicts} conflicts met)"
    );
    let feed = store.changes_since(0, 10_000).await.unwrap();
    assert_eq!(feed.len(), 5 + 2 * INCREMENTS as usize);
    for pair in feed.windows(2) {
        assert_eq!(
            pair[1].version,
            pair[0].version + 1,
            "a gap or a repeat in the feed"
        );
    }
}
