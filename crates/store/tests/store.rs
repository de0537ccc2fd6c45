//! The store's behaviour, written against the `Store` trait so that every implementation
//! (SQLite now, PostgreSQL later) runs the same battery.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use phoneboot_model::*;
use phoneboot_store::{Op, SqliteStore, Store, StoreError, Write, snapshot};

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("phoneboot.db"))
        .await
        .unwrap()
}

fn base() -> Vec<Write> {
    vec![
        Write::Put(Object::CallManager(CallManager::new("cm1", "192.0.2.11"))),
        Write::Put(Object::CmGroup(CmGroup {
            name: "G1".into(),
            members: vec!["cm1".into()],
            tftp_default: true,
        })),
        Write::Put(Object::DateTimeGroup(DateTimeGroup {
            name: "CMLocal".into(),
            date_template: "M/D/Y".into(),
            time_zone: "Greenwich Standard Time".into(),
            ntp: vec![],
        })),
        Write::Put(Object::DevicePool(DevicePool::new(
            "Default", "G1", "CMLocal",
        ))),
    ]
}

/// A store with the base cluster (version 4), and then one phone (version 5) if given.
async fn seeded(dir: &tempfile::TempDir, phone_mac: Option<&str>) -> SqliteStore {
    let store = open(dir).await;
    store.write(base()).await.unwrap();
    if let Some(mac) = phone_mac {
        store.write(vec![Write::Put(phone(mac))]).await.unwrap();
    }
    store
}

fn phone(mac: &str) -> Object {
    Object::Device(Device::phone(
        mac.parse().unwrap(),
        "7941",
        Protocol::Sccp,
        "Default",
    ))
}

fn refused(err: StoreError) -> FieldError {
    match err {
        StoreError::Refused(e) => e,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test]
async fn objects_written_are_read_back_and_every_write_appends_to_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    assert_eq!(store.head().await.unwrap(), 0);
    let v1 = store.write(base()).await.unwrap();
    assert_eq!(v1, 4);
    let v2 = store
        .write(vec![Write::Put(phone("001122334455"))])
        .await
        .unwrap();
    assert_eq!(v2, 5);
    let got = store
        .get(Kind::Device, "sep001122334455")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, phone("001122334455"));
    let changes = store.changes_since(3, 100).await.unwrap();
    let feed: Vec<_> = changes
        .iter()
        .map(|c| (c.version, c.kind, c.key.as_str(), c.op))
        .collect();
    assert_eq!(
        feed,
        vec![
            (4, Kind::DevicePool, "Default", Op::Put),
            (5, Kind::Device, "SEP001122334455", Op::Put)
        ]
    );
    let (snap, version) = snapshot(&store, Arc::new(Catalogue::builtin().clone()))
        .await
        .unwrap();
    assert_eq!(version, 5);
    assert_eq!(snap.devices.len(), 1);
    assert_eq!(store.list(Kind::Device).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_reference_to_a_missing_object_is_refused_and_nothing_of_the_batch_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(&dir, None).await;
    let mut d = Device::phone(
        "001122334455".parse().unwrap(),
        "8841",
        Protocol::Sip,
        "Default",
    );
    d.dial_plan = Some("Nope".into());
    let err = refused(
        store
            .write(vec![
                Write::Put(phone("00112233AAAA")),
                Write::Put(Object::Device(d)),
            ])
            .await
            .unwrap_err(),
    );
    assert_eq!(err.field, "dial_plan");
    assert!(err.reason.contains("\"Nope\" does not exist"), "{err}");
    assert!(
        store
            .get(Kind::Device, "SEP00112233AAAA")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.head().await.unwrap(), 4);
}

#[tokio::test]
async fn an_object_in_use_cannot_be_deleted_and_the_error_names_its_users() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(&dir, Some("001122334455")).await;
    let err = refused(
        store
            .write(vec![Write::Delete(Kind::DevicePool, "default".into())])
            .await
            .unwrap_err(),
    );
    assert!(err.reason.contains("device \"SEP001122334455\""), "{err}");
    store
        .write(vec![
            Write::Delete(Kind::Device, "SEP001122334455".into()),
            Write::Delete(Kind::DevicePool, "default".into()),
        ])
        .await
        .unwrap();
    let last = store.changes_since(0, 100).await.unwrap();
    assert_eq!(
        last.last().unwrap().key,
        "Default",
        "the feed names the stored key"
    );
    assert!(matches!(
        store
            .write(vec![Write::Delete(Kind::Device, "SEP001122334455".into())])
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_mac_belongs_to_one_device_and_names_are_unique_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(&dir, Some("001122334455")).await;
    let mut icm = Device::phone(
        "001122334455".parse().unwrap(),
        "IPCommunicator",
        Protocol::Sccp,
        "Default",
    );
    icm.name = "ALICE-ICM".into();
    let err = refused(
        store
            .write(vec![Write::Put(Object::Device(icm))])
            .await
            .unwrap_err(),
    );
    assert_eq!(err.field, "mac");
    assert!(err.reason.contains("SEP001122334455"), "{err}");
    // Same name, other case: an update of the same object, not a second one.
    let mut cm = CallManager::new("CM1", "192.0.2.99");
    cm.description = "renamed".into();
    store
        .write(vec![Write::Put(Object::CallManager(cm))])
        .await
        .unwrap();
    assert_eq!(store.list(Kind::CallManager).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_second_process_sees_the_writes_of_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let writer = open(&dir).await;
    let reader = open(&dir).await;
    writer.write(base()).await.unwrap();
    assert_eq!(reader.head().await.unwrap(), 4);
    assert_eq!(
        reader.changes_since(0, 2).await.unwrap().len(),
        2,
        "limit is kept"
    );
}

#[tokio::test]
async fn one_batch_may_add_what_its_later_rows_name_and_move_a_mac_between_devices() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    // The pool and the devices in it, in one write.
    let mut batch = base();
    batch.push(Write::Put(phone("001122334455")));
    assert_eq!(store.write(batch).await.unwrap(), 5);
    // A device moves to a new MAC and another takes its old one, in one write.
    let mut moved = Device::phone(
        "0011223344AA".parse().unwrap(),
        "7941",
        Protocol::Sccp,
        "Default",
    );
    moved.name = "SEP001122334455".into();
    let mut icm = Device::phone(
        "001122334455".parse().unwrap(),
        "IPCommunicator",
        Protocol::Sccp,
        "Default",
    );
    icm.name = "SOFT1".into();
    store
        .write(vec![
            Write::Put(Object::Device(moved)),
            Write::Put(Object::Device(icm)),
        ])
        .await
        .unwrap();
    let soft = store.get(Kind::Device, "soft1").await.unwrap().unwrap();
    assert_eq!(soft.alt_key().as_deref(), Some("001122334455"));
}

#[tokio::test]
async fn a_large_batch_gets_consecutive_versions_and_the_last_state_of_a_repeated_object() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(&dir, None).await;
    let mut batch: Vec<Write> = (0..1000u32)
        .map(|i| Write::Put(phone(&format!("0000AA{i:06X}"))))
        .collect();
    let mut last = Device::phone(
        "0000AA000007".parse().unwrap(),
        "7941",
        Protocol::Sccp,
        "Default",
    );
    last.description = "second write wins".into();
    batch.push(Write::Put(Object::Device(last.clone())));
    assert_eq!(store.write(batch).await.unwrap(), 4 + 1001);
    assert_eq!(store.list(Kind::Device).await.unwrap().len(), 1000);
    assert_eq!(
        store.get(Kind::Device, "SEP0000AA000007").await.unwrap(),
        Some(Object::Device(last))
    );
    let feed = store.changes_since(4, 2000).await.unwrap();
    assert_eq!(feed.len(), 1001);
    assert!(feed.windows(2).all(|w| w[1].version == w[0].version + 1));
    // A later single write continues the sequence.
    assert_eq!(
        store
            .write(vec![Write::Delete(Kind::Device, "SEP0000AA000001".into())])
            .await
            .unwrap(),
        1006
    );
}

#[tokio::test]
async fn referrers_are_the_objects_that_name_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(&dir, None).await;
    store
        .write(vec![
            Write::Put(phone("001122334455")),
            Write::Put(phone("0011223344AA")),
        ])
        .await
        .unwrap();
    let users: Vec<String> = store
        .referrers(Kind::DevicePool, "DEFAULT")
        .await
        .unwrap()
        .iter()
        .map(|o| o.key().to_owned())
        .collect();
    assert_eq!(users, ["SEP001122334455", "SEP0011223344AA"]);
    assert_eq!(
        store.referrers(Kind::CmGroup, "G1").await.unwrap().len(),
        1,
        "the pool"
    );
    assert!(
        store
            .referrers(Kind::Device, "SEP001122334455")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn get_many_returns_the_objects_that_exist_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(&dir, None).await;
    let mut keys: Vec<(Kind, String)> = (0..900u32)
        .map(|i| (Kind::Device, format!("sep0000aa{i:06x}")))
        .collect();
    let batch = (0..900u32)
        .step_by(2)
        .map(|i| Write::Put(phone(&format!("0000AA{i:06X}"))))
        .collect();
    store.write(batch).await.unwrap();
    keys.push((Kind::DevicePool, "DEFAULT".into()));
    let found = store.get_many(&keys).await.unwrap();
    assert_eq!(
        found.len(),
        451,
        "450 devices over several chunks, and the pool"
    );
    assert!(found.iter().any(|o| o.key() == "Default"));
}
