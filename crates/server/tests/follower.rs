//! The follower in-process: a write made through the server's own store is served at once
//! (the wake hint, not the poll), one made through another handle on the file (another
//! process) too (SQLite's data_version), a catch-up takes in exactly the change, and a feed
//! that no longer holds the change a node took in last is read whole.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use phoneboot_model::*;
use phoneboot_server::built::BuiltFiles;
use phoneboot_server::config::DatabaseConfig;
use phoneboot_server::counters::{Counter, Counters};
use phoneboot_server::db::Database;
use phoneboot_server::follow::Follower;
use phoneboot_store::{Create, Location, Mode, Write};
use support::Running;

/// A database with one pool and nothing else, and the folder that holds it.
async fn database() -> (tempfile::TempDir, DatabaseConfig, Database) {
    let dir = tempfile::tempdir().unwrap();
    let config = DatabaseConfig {
        location: Location::Sqlite(dir.path().join("phoneboot.db")),
        ..DatabaseConfig::default()
    };
    let db = Database::open(&config, Create::IfMissing).await.unwrap();
    let base = vec![
        Object::CallManager(CallManager::new("cm1", "192.0.2.11")),
        Object::CmGroup(CmGroup {
            name: "G1".into(),
            members: vec!["cm1".into()],
            tftp_default: true,
        }),
        Object::DateTimeGroup(DateTimeGroup {
            name: "CMLocal".into(),
            date_template: "M/D/Y".into(),
            time_zone: "Greenwich Standard Time".into(),
            ntp: vec![],
        }),
        Object::DevicePool(DevicePool::new("Default", "G1", "CMLocal")),
    ];
    db.apply(base.into_iter().map(Write::Insert).collect(), Mode::Commit)
        .await
        .unwrap();
    (dir, config, db)
}

fn phone(mac: &str) -> Object {
    let mut d = Device::phone(mac.parse().unwrap(), "8841", Protocol::Sip, "Default");
    d.lines = vec![Line::new("1001")];
    Object::Device(d)
}

/// Waits (at most 5 s) for `path` to be served; how long it took.
async fn served_within(server: &Running, path: &str) -> Duration {
    let started = tokio::time::Instant::now();
    loop {
        let (status, ..) = server.get(path, &[]).await;
        if status == StatusCode::OK {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path} never served"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_write_through_the_servers_own_store_is_served_without_waiting_for_the_poll() {
    let (_dir, mut config, db) = database().await;
    // A poll this slow never happens within the test: only the wake hint can deliver.
    config.poll = Duration::from_secs(60);
    let server = Running::start(None, Some(db.clone()), |c| c.database = Some(config)).await;
    let (status, ..) = server.get("/SEP001122334455.cnf.xml", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    db.add(phone("001122334455")).await.unwrap();
    let took = served_within(&server, "/SEP001122334455.cnf.xml").await;
    assert!(took < Duration::from_secs(5));
    assert_eq!(server.counter(Counter::DeviceChangeNotifications), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_write_by_another_process_is_served_without_waiting_for_the_poll() {
    let (_dir, mut config, db) = database().await;
    config.poll = Duration::from_secs(60);
    let server = Running::start(None, Some(db), |c| c.database = Some(config.clone())).await;
    // Another handle on the file: its commits do not wake the server's store.
    let other = Database::open(&config, Create::Never).await.unwrap();
    other.add(phone("0011223344AA")).await.unwrap();
    served_within(&server, "/SEP0011223344AA.cnf.xml").await;
    server.stop().await;
}

#[tokio::test]
async fn a_catch_up_takes_in_exactly_the_change_and_counts_it() {
    let (_dir, _config, db) = database().await;
    let (snapshot, version) = db.snapshot().await.unwrap();
    let built = Arc::new(BuiltFiles::new(snapshot, version, None));
    let follower = Follower::new(Arc::clone(&built), db.clone(), Duration::from_secs(60));
    let counters = Counters::default();
    assert_eq!(follower.catch_up(&counters).await.unwrap(), None);
    db.add(phone("001122334455")).await.unwrap();
    let stored = db.get(Kind::Device, "SEP001122334455").await.unwrap();
    db.remove(Kind::Device, "SEP001122334455", Some(stored.version))
        .await
        .unwrap();
    db.add(phone("0011223344AA")).await.unwrap();
    let caught = follower.catch_up(&counters).await.unwrap().unwrap();
    assert_eq!((caught.changes, caught.version), (3, version + 3));
    assert!(
        !caught.rebuild && !caught.params,
        "devices touch only their own files"
    );
    let current = built.current();
    assert_eq!(current.version, version + 3);
    assert!(current.snapshot.devices.get("SEP001122334455").is_none());
    assert!(current.snapshot.devices.get("sep0011223344aa").is_some());
    assert_eq!(counters.get(Counter::DeviceChangeNotifications), 3);
    // A pool changes every device's files: a full build is due.
    let pool = db.get(Kind::DevicePool, "Default").await.unwrap();
    let Object::DevicePool(mut p) = pool.object.clone() else {
        unreachable!()
    };
    p.connection_monitor = 60;
    db.update(&pool, Object::DevicePool(p)).await.unwrap();
    assert!(follower.catch_up(&counters).await.unwrap().unwrap().rebuild);
}

#[tokio::test]
async fn the_health_check_reaches_the_database() {
    let (_dir, config, db) = database().await;
    let server = Running::start(None, Some(db), |c| c.database = Some(config)).await;
    let (status, body) = server.admin("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.starts_with("ok\ndatabase ") && body.contains("at version 4"),
        "{body}"
    );
    let (_, counters) = server.admin("/counters").await;
    assert!(counters.contains("Requests 0"), "{counters}");
    server.stop().await;
}

#[tokio::test]
async fn a_feed_that_lost_the_change_a_node_took_in_last_is_read_whole() {
    let (dir, config, db) = database().await;
    db.add(phone("001122334401")).await.unwrap();
    // An older copy of the database, as a standby promoted without the last commits holds.
    let older = dir.path().join("older.db");
    db.backup(&older).await.unwrap();
    let (snapshot, version) = db.snapshot().await.unwrap();
    let built = Arc::new(BuiltFiles::new(snapshot, version, None));
    let counters = Counters::default();
    // The node takes in one more change of the original ...
    db.add(phone("001122334402")).await.unwrap();
    let on_original = Follower::new(Arc::clone(&built), db.clone(), Duration::from_secs(60));
    on_original.catch_up(&counters).await.unwrap().unwrap();
    assert_eq!(built.current().version, version + 1);
    // ... then follows the older copy, where that version is another change.
    let promoted = Database::open(
        &DatabaseConfig {
            location: Location::Sqlite(older),
            ..config
        },
        Create::Never,
    )
    .await
    .unwrap();
    promoted.add(phone("001122334403")).await.unwrap();
    let on_promoted = Follower::new(Arc::clone(&built), promoted, Duration::from_secs(60));
    let caught = on_promoted.catch_up(&counters).await.unwrap().unwrap();
    assert!(caught.reloaded, "read whole, not from the version it had");
    let current = built.current();
    assert!(current.snapshot.devices.get("SEP001122334403").is_some());
    assert!(
        current.snapshot.devices.get("SEP001122334402").is_none(),
        "what the promoted database does not hold is not served"
    );
    // And from there on, change by change again.
    assert_eq!(on_promoted.catch_up(&counters).await.unwrap(), None);
}

#[tokio::test]
async fn a_stored_file_that_cannot_be_mirrored_holds_back_no_other_and_escapes_nowhere() {
    let (dir, _config, db) = database().await;
    let store = db.store();
    // Written past the CLI's name check, as a hostile or corrupt database could hold it.
    store
        .put_file("../escaped.txt", b"outside", None)
        .await
        .unwrap();
    store
        .put_file("Ringtones/good.raw", b"inside", None)
        .await
        .unwrap();
    let mirror = dir.path().join("state/files");
    let files = phoneboot_server::stored::StoredFiles::open(&mirror).unwrap();
    let synced = files.sync(&**store).await.unwrap().unwrap();
    assert_eq!((synced.fetched, synced.failed), (1, 1), "{synced:?}");
    assert_eq!(
        std::fs::read(mirror.join("Ringtones/good.raw")).unwrap(),
        b"inside"
    );
    assert!(!dir.path().join("state/escaped.txt").exists());
    assert!(!dir.path().join("escaped.txt").exists());
    // In step: the failed one is not tried again until it changes.
    assert_eq!(files.sync(&**store).await.unwrap(), None);
    store
        .put_file("../escaped.txt", b"outside again", None)
        .await
        .unwrap();
    let again = files.sync(&**store).await.unwrap().unwrap();
    assert_eq!((again.fetched, again.failed), (0, 1), "{again:?}");
    // Removed from the database, gone from the mirror.
    store
        .remove_file("ringtones/GOOD.raw")
        .await
        .unwrap()
        .unwrap();
    store.remove_file("../escaped.txt").await.unwrap().unwrap();
    let last = files.sync(&**store).await.unwrap().unwrap();
    assert_eq!((last.removed, last.failed), (1, 0), "{last:?}");
    assert!(!mirror.join("Ringtones/good.raw").exists());
    assert_eq!(
        files.sync(&**store).await.unwrap(),
        None,
        "in step: nothing to do"
    );
}

/// What the stored-files source answers for `name`: found (with the content), or passed on.
async fn stored_lookup(
    files: &phoneboot_server::stored::StoredFiles,
    name: &str,
) -> Option<Vec<u8>> {
    use phoneboot_source::{FileName, Lookup, Query, Source as _, Transport};
    let query = Query::new(
        FileName::parse(name.as_bytes()).unwrap(),
        "127.0.0.1:5000".parse().unwrap(),
        Transport::Tftp,
    );
    match files.lookup(&query).await {
        Lookup::Found(file) => Some(file.content.in_memory().unwrap().to_vec()),
        Lookup::Skip => None,
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn the_mirror_serves_what_it_held_at_open_and_what_syncs_wrote_never_a_stray() {
    let (dir, _config, db) = database().await;
    let store = db.store();
    let mirror = dir.path().join("state/files");
    std::fs::create_dir_all(&mirror).unwrap();
    // What an earlier run left is served from the start, whatever the database says.
    std::fs::write(mirror.join("Earlier.xml"), b"earlier").unwrap();
    let files = phoneboot_server::stored::StoredFiles::open(&mirror).unwrap();
    assert_eq!(
        stored_lookup(&files, "earlier.xml").await.as_deref(),
        Some(&b"earlier"[..])
    );
    store
        .put_file("Ringtones/good.raw", b"inside", None)
        .await
        .unwrap();
    files.sync(&**store).await.unwrap().unwrap();
    assert_eq!(
        stored_lookup(&files, "ringtones/GOOD.RAW").await.as_deref(),
        Some(&b"inside"[..])
    );
    assert_eq!(
        stored_lookup(&files, "Earlier.xml").await,
        None,
        "not in the database"
    );
    // The mirror is the syncs' own: a file put there by hand is not a stored file (the names
    // held are known without a stat of the disk).
    std::fs::write(mirror.join("Stray.xml"), b"stray").unwrap();
    assert_eq!(stored_lookup(&files, "Stray.xml").await, None);
    store
        .remove_file("Ringtones/good.raw")
        .await
        .unwrap()
        .unwrap();
    files.sync(&**store).await.unwrap().unwrap();
    assert_eq!(stored_lookup(&files, "Ringtones/good.raw").await, None);
}
