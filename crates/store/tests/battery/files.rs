//! The battery's cases for copies, stored files and node reports.

use super::*;

pub(crate) async fn a_copy_holds_every_object_and_goes_only_into_an_empty_database(db: Fixture) {
    let store = db.open().await;
    seeded(&*store, Some("001122334455")).await;
    let dir = tempfile::tempdir().unwrap();
    let target = Location::Sqlite(dir.path().join("copy.db"));
    let copy = phoneboot_store::open(&target, Create::IfMissing)
        .await
        .unwrap();
    phoneboot_store::copy(&*store, &*copy).await.unwrap();
    let objects = |stored: Vec<Stored>| {
        let mut o: Vec<Object> = stored.into_iter().map(|s| s.object).collect();
        o.sort_by(|a, b| (a.kind(), a.key()).cmp(&(b.kind(), b.key())));
        o
    };
    assert_eq!(
        objects(copy.load().await.unwrap().0),
        objects(store.load().await.unwrap().0)
    );
    assert!(matches!(
        phoneboot_store::copy(&*store, &*copy).await,
        Err(StoreError::NotEmpty(_))
    ));
    let ring = vec![7u8; 3 << 20];
    store
        .put_file("Ringtones/Chime.raw", &ring, Some(1_700_000_000))
        .await
        .unwrap();
    let files_copy = db.open_fresh().await;
    phoneboot_store::copy(&*store, &*files_copy).await.unwrap();
    assert_eq!(
        phoneboot_store::same_objects(&*store, &*files_copy)
            .await
            .unwrap(),
        objects(store.load().await.unwrap().0).len()
    );
    let (copied, _) = files_copy.files().await.unwrap();
    assert_eq!(
        copied[0].at, 1_700_000_000,
        "a copy keeps when a file was stored"
    );
    assert_eq!(
        files_copy.read_file(&copied[0].digest).await.unwrap(),
        Some(ring)
    );
    // And back: into an empty database of this backend.
    std::fs::create_dir(db._dir.path().join("back")).unwrap();
    let fresh = phoneboot_store::open(&(db.fresh)(&db._dir.path().join("back")), Create::IfMissing)
        .await
        .unwrap();
    phoneboot_store::copy(&*copy, &*fresh).await.unwrap();
    assert_eq!(
        objects(fresh.load().await.unwrap().0),
        objects(store.load().await.unwrap().0)
    );
}

/// Not all the same bytes, so that a chunk out of order would show.
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 20) as u8)
        .collect()
}

pub(crate) async fn a_stored_file_is_kept_by_its_content_and_read_back_checked(db: Fixture) {
    let store = db.open().await;
    let (none, serial) = store.files().await.unwrap();
    assert!(none.is_empty());
    // Larger than a chunk, so that it is kept in several.
    let load = content(2_500_000, 1);
    let a = store
        .put_file("firmware/sip88xx.loads", &load, None)
        .await
        .unwrap();
    assert_eq!((a.size, a.digest.len()), (2_500_000, 64));
    let b = store.put_file("copy.loads", &load, None).await.unwrap();
    assert_eq!(a.digest, b.digest, "the address is the content");
    assert_eq!(
        store.read_file(&a.digest).await.unwrap(),
        Some(load.clone())
    );
    let empty = store.put_file("empty.txt", b"", None).await.unwrap();
    assert_eq!(
        store.read_file(&empty.digest).await.unwrap(),
        Some(Vec::new())
    );
    let (files, moved) = store.files().await.unwrap();
    assert_eq!(moved, serial + 3);
    assert_eq!(store.files_serial().await.unwrap(), moved);
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["copy.loads", "empty.txt", "firmware/sip88xx.loads"]);
    // The content stays while one name still has it, and goes with the last.
    store
        .remove_file("firmware/sip88xx.loads")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.read_file(&a.digest).await.unwrap(), Some(load));
    store.remove_file("copy.loads").await.unwrap().unwrap();
    assert_eq!(store.read_file(&a.digest).await.unwrap(), None);
    assert_eq!(store.remove_file("copy.loads").await.unwrap(), None);
    assert!(store.read_file(&"0".repeat(64)).await.unwrap().is_none());
}

pub(crate) async fn a_stored_file_is_named_in_any_case_and_its_content_goes_with_its_last_name(
    db: Fixture,
) {
    let (store, other) = (db.open().await, db.open().await);
    let mut wake = other.wake();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    wake.mark_unchanged();
    let old = store
        .put_file("RingList.xml", b"<CiscoIPPhoneRingList/>", None)
        .await
        .unwrap();
    // Another handle (another node) is told, though no object changed.
    tokio::time::timeout(std::time::Duration::from_secs(10), wake.changed())
        .await
        .expect("a stored file wakes followers")
        .unwrap();
    let new = store
        .put_file(
            "ringlist.XML",
            b"<CiscoIPPhoneRingList></CiscoIPPhoneRingList>",
            None,
        )
        .await
        .unwrap();
    let (files, _) = other.files().await.unwrap();
    assert_eq!(files.len(), 1, "one file, whatever the case: {files:?}");
    assert_eq!(files[0], new);
    assert_eq!(files[0].name, "ringlist.XML");
    assert_eq!(
        other.read_file(&old.digest).await.unwrap(),
        None,
        "replaced content is gone"
    );
}

pub(crate) async fn a_node_report_replaces_the_same_nodes_last_one(db: Fixture) {
    let (a, b) = (db.open().await, db.open().await);
    let report = |name: &str, seen: i64, requests: u32| phoneboot_store::NodeReport {
        name: name.into(),
        started: 1_700_000_000,
        seen,
        counters: format!("Requests {requests}\nRequestsNotFound 0\n"),
    };
    a.report_node(&report("tftp1", 1_700_000_010, 5))
        .await
        .unwrap();
    b.report_node(&report("tftp2", 1_700_000_011, 7))
        .await
        .unwrap();
    a.report_node(&report("tftp1", 1_700_000_020, 9))
        .await
        .unwrap();
    assert_eq!(
        b.nodes().await.unwrap(),
        vec![
            report("tftp1", 1_700_000_020, 9),
            report("tftp2", 1_700_000_011, 7)
        ]
    );
}
