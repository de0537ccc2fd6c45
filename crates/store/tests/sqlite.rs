//! What only the SQLite backend promises: one file that a copy takes whole once a command has
//! closed it, and a database created only when asked to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use phoneboot_model::*;
use phoneboot_store::{Create, Location, Mode, StoreError, Write};

#[tokio::test]
async fn a_missing_file_is_created_only_when_asked_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.db");
    let location = Location::Sqlite(path.clone());
    let err = phoneboot_store::open(&location, Create::Never)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Absent(_)), "{err}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing is left behind"
    );
    phoneboot_store::open(&location, Create::IfMissing)
        .await
        .unwrap();
    assert!(path.is_file());
}

#[tokio::test]
async fn after_close_the_main_file_alone_holds_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phoneboot.db");
    let store = phoneboot_store::open(&Location::Sqlite(path.clone()), Create::IfMissing)
        .await
        .unwrap();
    store
        .write(
            &[Write::Insert(Object::CallManager(CallManager::new(
                "cm1",
                "192.0.2.11",
            )))],
            Mode::Commit,
        )
        .await
        .unwrap();
    store.close().await.unwrap();
    // `cp phoneboot.db backup/`: the main file only, no -wal beside it.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(&path, copy.path().join("phoneboot.db")).unwrap();
    let copied = phoneboot_store::open(
        &Location::Sqlite(copy.path().join("phoneboot.db")),
        Create::Never,
    )
    .await
    .unwrap();
    assert_eq!(copied.head().await.unwrap(), 1);
    assert_eq!(copied.list(Kind::CallManager).await.unwrap().len(), 1);
}
