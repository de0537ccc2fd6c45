//! The battery's cases for objects, references, versions and the change feed.

use super::*;

pub(crate) async fn objects_written_are_read_back_with_their_versions_and_the_feed_in_order(
    db: Fixture,
) {
    let store = db.open().await;
    assert_eq!(store.head().await.unwrap(), 0);
    assert_eq!(store.write(&base(), Mode::Commit).await.unwrap(), 4);
    let v = store
        .write(&[Write::Insert(phone("001122334455"))], Mode::Commit)
        .await
        .unwrap();
    assert_eq!(v, 5);
    let got = store
        .get(Kind::Device, "sep001122334455")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got,
        Stored {
            object: phone("001122334455"),
            version: 5
        }
    );
    let feed: Vec<_> = store
        .changes_since(3, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.version, c.kind, c.key, c.op))
        .collect();
    assert_eq!(
        feed,
        vec![
            (4, Kind::DevicePool, "Default".to_owned(), Op::Put),
            (5, Kind::Device, "SEP001122334455".to_owned(), Op::Put)
        ]
    );
    let (snap, version) = snapshot(&*store, Arc::new(Catalogue::builtin().clone()))
        .await
        .unwrap();
    assert_eq!((version, snap.devices.len()), (5, 1));
    let pool = store
        .get(Kind::DevicePool, "DEFAULT")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        pool.version, 4,
        "each object carries the change that wrote it"
    );
}

pub(crate) async fn a_reference_to_a_missing_object_is_refused_and_nothing_of_the_batch_is_kept(
    db: Fixture,
) {
    let store = db.open().await;
    seeded(&*store, None).await;
    let mut d = Device::phone(
        "001122334455".parse().unwrap(),
        "8841",
        Protocol::Sip,
        "Default",
    );
    d.dial_plan = Some("Nope".into());
    let err = refused(
        store
            .write(
                &[
                    Write::Insert(phone("00112233AAAA")),
                    Write::Insert(Object::Device(d)),
                ],
                Mode::Commit,
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err,
        vec![(
            1,
            Violation::Dangling {
                kind: Kind::DialPlan,
                key: "Nope".into()
            }
        )]
    );
    assert!(
        store
            .get(Kind::Device, "SEP00112233AAAA")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.head().await.unwrap(), 4);
}

pub(crate) async fn every_broken_step_of_a_batch_is_reported_with_its_index(db: Fixture) {
    let store = db.open().await;
    seeded(&*store, Some("001122334455")).await;
    let mut elsewhere = Device::phone(
        "0011223344AA".parse().unwrap(),
        "7941",
        Protocol::Sccp,
        "Nowhere",
    );
    elsewhere.name = "SEP0011223344AA".into();
    let err = refused(
        store
            .write(
                &[
                    Write::Insert(phone("001122334466")),
                    Write::Insert(phone("001122334455")),
                    Write::Insert(Object::Device(elsewhere)),
                    Write::Insert(phone("001122334477")),
                    Write::Delete {
                        kind: Kind::DevicePool,
                        key: "default".into(),
                        expected: None,
                    },
                ],
                Mode::Commit,
            )
            .await
            .unwrap_err(),
    );
    let indexes: Vec<usize> = err.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, [1, 2, 4], "{err:?}");
    assert!(matches!(err[0].1, Violation::Exists { .. }));
    assert!(matches!(
        err[1].1,
        Violation::Dangling {
            kind: Kind::DevicePool,
            ..
        }
    ));
    assert!(matches!(err[2].1, Violation::InUse { .. }));
    assert_eq!(store.list(Kind::Device).await.unwrap().len(), 1);
}

pub(crate) async fn an_object_in_use_cannot_be_deleted_and_the_violation_names_its_users(
    db: Fixture,
) {
    let store = db.open().await;
    seeded(&*store, Some("001122334455")).await;
    let delete = |kind, key: &str| Write::Delete {
        kind,
        key: key.into(),
        expected: None,
    };
    let err = refused(
        store
            .write(&[delete(Kind::DevicePool, "default")], Mode::Commit)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err,
        vec![(
            0,
            Violation::InUse {
                kind: Kind::DevicePool,
                key: "default".into(),
                by: vec![(Kind::Device, "SEP001122334455".into())]
            }
        )]
    );
    // Its user first, in the same batch: allowed.
    store
        .write(
            &[
                delete(Kind::Device, "SEP001122334455"),
                delete(Kind::DevicePool, "default"),
            ],
            Mode::Commit,
        )
        .await
        .unwrap();
    let last = store.changes_since(0, 100).await.unwrap();
    assert_eq!(
        last.last().unwrap().key,
        "Default",
        "the feed names the stored key"
    );
    assert_eq!(
        refused(
            store
                .write(&[delete(Kind::Device, "SEP001122334455")], Mode::Commit)
                .await
                .unwrap_err()
        ),
        vec![(
            0,
            Violation::Missing {
                kind: Kind::Device,
                key: "SEP001122334455".into()
            }
        )]
    );
}

pub(crate) async fn a_mac_belongs_to_one_device_and_names_are_unique_in_any_case(db: Fixture) {
    let store = db.open().await;
    seeded(&*store, Some("001122334455")).await;
    let mut icm = Device::phone(
        "001122334455".parse().unwrap(),
        "IPCommunicator",
        Protocol::Sccp,
        "Default",
    );
    icm.name = "ALICE-ICM".into();
    let err = refused(
        store
            .write(&[Write::Insert(Object::Device(icm))], Mode::Commit)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err[0].1,
        Violation::Taken {
            kind: Kind::Device,
            alt: "001122334455".into(),
            holder: "SEP001122334455".into()
        }
    );
    // Same name, other case: the same object.
    let err = refused(
        store
            .write(
                &[Write::Insert(Object::CallManager(CallManager::new(
                    "CM1",
                    "192.0.2.99",
                )))],
                Mode::Commit,
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err[0].1,
        Violation::Exists {
            kind: Kind::CallManager,
            key: "cm1".into()
        }
    );
    store
        .write(
            &[Write::Put(Object::CallManager(CallManager::new(
                "CM1",
                "192.0.2.99",
            )))],
            Mode::Commit,
        )
        .await
        .unwrap();
    assert_eq!(store.list(Kind::CallManager).await.unwrap().len(), 1);
}

pub(crate) async fn an_insert_finds_no_object_and_an_update_finds_its_version(db: Fixture) {
    let store = db.open().await;
    seeded(&*store, Some("001122334455")).await;
    let err = refused(
        store
            .write(
                &[Write::Update {
                    object: phone("0011223344FF"),
                    expected: 5,
                }],
                Mode::Commit,
            )
            .await
            .unwrap_err(),
    );
    assert!(matches!(err[0].1, Violation::Missing { .. }), "{err:?}");
    let v = store
        .write(
            &[Write::Update {
                object: described("001122334455", "moved"),
                expected: 5,
            }],
            Mode::Commit,
        )
        .await
        .unwrap();
    assert_eq!(v, 6);
    let stored = store
        .get(Kind::Device, "SEP001122334455")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.object, stored.version),
        (described("001122334455", "moved"), 6)
    );
}

pub(crate) async fn a_stale_expected_version_is_refused_and_a_fresh_one_wins(db: Fixture) {
    let store = db.open().await;
    seeded(&*store, Some("001122334455")).await;
    // Two editors read version 5; the first writes, the second is told it moved.
    store
        .write(
            &[Write::Update {
                object: described("001122334455", "first"),
                expected: 5,
            }],
            Mode::Commit,
        )
        .await
        .unwrap();
    let err = refused(
        store
            .write(
                &[Write::Update {
                    object: described("001122334455", "second"),
                    expected: 5,
                }],
                Mode::Commit,
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err,
        vec![(
            0,
            Violation::Moved {
                kind: Kind::Device,
                key: "SEP001122334455".into(),
                expected: 5,
                found: 6
            }
        )]
    );
    let delete_stale = Write::Delete {
        kind: Kind::Device,
        key: "SEP001122334455".into(),
        expected: Some(5),
    };
    assert!(matches!(
        refused(
            store
                .write(&[delete_stale], Mode::Commit)
                .await
                .unwrap_err()
        )[0]
        .1,
        Violation::Moved { found: 6, .. }
    ));
    let stored = store
        .get(Kind::Device, "sep001122334455")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.object, described("001122334455", "first"));
}

pub(crate) async fn a_dry_run_reports_what_the_write_would_do_and_keeps_nothing(db: Fixture) {
    let store = db.open().await;
    seeded(&*store, None).await;
    let batch = vec![
        Write::Insert(phone("001122334455")),
        Write::Insert(phone("001122334466")),
    ];
    assert_eq!(store.write(&batch, Mode::DryRun).await.unwrap(), 6);
    assert_eq!(store.head().await.unwrap(), 4);
    assert!(store.list(Kind::Device).await.unwrap().is_empty());
    let mut bad = batch.clone();
    bad.push(Write::Insert(phone("001122334455")));
    let dry = refused(store.write(&bad, Mode::DryRun).await.unwrap_err());
    let real = refused(store.write(&bad, Mode::Commit).await.unwrap_err());
    assert_eq!(dry, real, "the dry run finds exactly what the write finds");
    assert_eq!(store.write(&batch, Mode::Commit).await.unwrap(), 6);
}

pub(crate) async fn a_second_handle_sees_the_writes_of_the_first(db: Fixture) {
    let writer = db.open().await;
    let reader = db.open().await;
    writer.write(&base(), Mode::Commit).await.unwrap();
    assert_eq!(reader.head().await.unwrap(), 4);
    assert_eq!(
        reader.changes_since(0, 2).await.unwrap().len(),
        2,
        "limit is kept"
    );
}

pub(crate) async fn one_batch_may_add_what_its_later_rows_name_and_move_a_mac_between_devices(
    db: Fixture,
) {
    let store = db.open().await;
    let mut batch = base();
    batch.push(Write::Insert(phone("001122334455")));
    assert_eq!(store.write(&batch, Mode::Commit).await.unwrap(), 5);
    // A device moves to a new MAC and another takes its old one, in one write.
    let mut moved = Device::phone(
        "0011223344AA".parse().unwrap(),
        "IPCommunicator",
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
        .write(
            &[
                Write::Put(Object::Device(moved)),
                Write::Insert(Object::Device(icm)),
            ],
            Mode::Commit,
        )
        .await
        .unwrap();
    let soft = store.get(Kind::Device, "soft1").await.unwrap().unwrap();
    assert_eq!(soft.object.alt_key().as_deref(), Some("001122334455"));
}

pub(crate) async fn a_large_batch_gets_consecutive_versions_and_the_last_state_of_a_repeated_object(
    db: Fixture,
) {
    let store = db.open().await;
    seeded(&*store, None).await;
    let mut batch: Vec<Write> = (0..1000u32)
        .map(|i| Write::Insert(phone(&format!("0000AA{i:06X}"))))
        .collect();
    batch.push(Write::Put(described("0000AA000007", "second write wins")));
    assert_eq!(store.write(&batch, Mode::Commit).await.unwrap(), 4 + 1001);
    assert_eq!(store.list(Kind::Device).await.unwrap().len(), 1000);
    let last = store
        .get(Kind::Device, "SEP0000AA000007")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.object, described("0000AA000007", "second write wins"));
    assert_eq!(last.version, 1005);
    let feed = store.changes_since(4, 2000).await.unwrap();
    assert_eq!(feed.len(), 1001);
    assert!(feed.windows(2).all(|w| w[1].version == w[0].version + 1));
    let next = store
        .write(
            &[Write::Delete {
                kind: Kind::Device,
                key: "SEP0000AA000001".into(),
                expected: None,
            }],
            Mode::Commit,
        )
        .await
        .unwrap();
    assert_eq!(next, 1006, "a later write continues the sequence");
}

pub(crate) async fn referrers_are_the_objects_that_name_one(db: Fixture) {
    let store = db.open().await;
    seeded(&*store, None).await;
    store
        .write(
            &[
                Write::Insert(phone("001122334455")),
                Write::Insert(phone("0011223344AA")),
            ],
            Mode::Commit,
        )
        .await
        .unwrap();
    let users: Vec<String> = store
        .referrers(Kind::DevicePool, "DEFAULT")
        .await
        .unwrap()
        .iter()
        .map(|s| s.object.key().to_owned())
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

pub(crate) async fn get_many_returns_the_objects_that_exist_in_any_case(db: Fixture) {
    let store = db.open().await;
    seeded(&*store, None).await;
    let mut keys: Vec<(Kind, String)> = (0..900u32)
        .map(|i| (Kind::Device, format!("sep0000aa{i:06x}")))
        .collect();
    let batch: Vec<Write> = (0..900u32)
        .step_by(2)
        .map(|i| Write::Insert(phone(&format!("0000AA{i:06X}"))))
        .collect();
    store.write(&batch, Mode::Commit).await.unwrap();
    keys.push((Kind::DevicePool, "DEFAULT".into()));
    let found = store.get_many(&keys).await.unwrap();
    assert_eq!(
        found.len(),
        451,
        "450 devices over several chunks, and the pool"
    );
    assert!(found.iter().any(|s| s.object.key() == "Default"));
}

/// Read, change, write against the version read; on a conflict read again. Returns the
/// number of conflicts met.
pub(crate) async fn bump(store: &dyn Store, times: u32) -> u32 {
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
            let n: u32 = d.description.parse().unwrap_or(0);
            d.description = (n + 1).to_string();
            match store
                .write(
                    &[Write::Update {
                        object: Object::Device(d),
                        expected: stored.version,
                    }],
                    Mode::Commit,
                )
                .await
            {
                Ok(_) => break,
                Err(StoreError::Refused(v)) if matches!(v[0].1, Violation::Moved { .. }) => {
                    conflicts += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    conflicts
}

pub(crate) async fn concurrent_writers_on_two_handles_lose_no_update(db: Fixture) {
    let (a, b) = (db.open().await, db.open().await);
    seeded(&*a, Some("001122334455")).await;
    let (ta, tb) = (Arc::clone(&a), Arc::clone(&b));
    let one = tokio::spawn(async move { bump(&*ta, 40).await });
    let two = tokio::spawn(async move { bump(&*tb, 40).await });
    let conflicts = one.await.unwrap() + two.await.unwrap();
    let stored = a
        .get(Kind::Device, "SEP001122334455")
        .await
        .unwrap()
        .unwrap();
    let Object::Device(d) = stored.object else {
        unreachable!()
    };
    assert_eq!(
        d.description, "80",
        "every increment kept ({conflicts} conflicts met)"
    );
    let feed = b.changes_since(0, 1000).await.unwrap();
    assert_eq!(feed.len(), 5 + 80);
    assert!(feed.windows(2).all(|w| w[1].version == w[0].version + 1));
}

pub(crate) async fn the_wake_hint_moves_on_a_commit_and_not_on_a_dry_run(db: Fixture) {
    let store = db.open().await;
    let mut wake = store.wake();
    // The watcher hints once when it starts (see the backends); let that pass.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    wake.mark_unchanged();
    store.write(&base(), Mode::DryRun).await.unwrap();
    assert!(!wake.has_changed().unwrap());
    store.write(&base(), Mode::Commit).await.unwrap();
    assert!(wake.has_changed().unwrap());
    assert_eq!(*wake.borrow_and_update(), 4);
}

pub(crate) async fn a_backup_taken_during_a_large_write_opens_and_holds_all_of_it_or_none(
    db: Fixture,
) {
    let store = db.open().await;
    seeded(&*store, None).await;
    let writer = Arc::clone(&store);
    let import = tokio::spawn(async move {
        let batch: Vec<Write> = (0..20_000u32)
            .map(|i| Write::Insert(phone(&format!("0000BB{i:06X}"))))
            .collect();
        writer.write(&batch, Mode::Commit).await.unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut copies = Vec::new();
    for i in 0..3 {
        let to = dir.path().join(format!("backup-{i}.db"));
        store.backup(&to).await.unwrap();
        copies.push(to);
    }
    assert_eq!(import.await.unwrap(), 4 + 20_000);
    let after = dir.path().join("after.db");
    store.backup(&after).await.unwrap();
    copies.push(after.clone());
    for copy in &copies {
        let backup = phoneboot_store::open(&Location::Sqlite(copy.clone()), Create::Never)
            .await
            .unwrap();
        assert!(backup.check().await.unwrap().is_empty());
        let (head, devices) = (
            backup.head().await.unwrap(),
            backup.list(Kind::Device).await.unwrap().len(),
        );
        assert!(
            (head, devices) == (4, 0) || (head, devices) == (20_004, 20_000),
            "{}: a half-written import ({head}, {devices})",
            copy.display()
        );
    }
    let last = phoneboot_store::open(&Location::Sqlite(after.clone()), Create::Never)
        .await
        .unwrap();
    assert_eq!(last.head().await.unwrap(), 20_004);
    assert!(
        store.backup(&after).await.is_err(),
        "a backup never overwrites a file"
    );
}

pub(crate) async fn a_sound_database_passes_its_checks(db: Fixture) {
    let store = db.open().await;
    seeded(&*store, Some("001122334455")).await;
    store
        .put_file("a.bin", &[1; 3_000_000], None)
        .await
        .unwrap();
    store
        .put_file("b.bin", &[1; 3_000_000], None)
        .await
        .unwrap();
    assert_eq!(store.check().await.unwrap(), Vec::<String>::new());
}

pub(crate) async fn a_closed_database_reopens_at_the_same_version(db: Fixture) {
    let store = db.open().await;
    seeded(&*store, Some("001122334455")).await;
    store.close().await.unwrap();
    assert!(store.head().await.is_err(), "a closed handle is closed");
    let again = db.open().await;
    assert_eq!(again.head().await.unwrap(), 5);
    let _: Version = again.head().await.unwrap();
}

pub(crate) async fn two_writers_racing_for_one_mac_leave_it_with_one_device(db: Fixture) {
    let (a, b) = (db.open().await, db.open().await);
    seeded(&*a, None).await;
    // Two nodes each add a different device with the same MAC, many times over.
    let race = |store: Arc<dyn Store>, who: &'static str| {
        tokio::spawn(async move {
            let mut won = 0;
            for i in 0..30u32 {
                let mut d = Device::phone(
                    format!("0000CC{i:06X}").parse().unwrap(),
                    "7941",
                    Protocol::Sccp,
                    "Default",
                );
                d.name = format!("{who}{i}");
                match store
                    .write(&[Write::Insert(Object::Device(d))], Mode::Commit)
                    .await
                {
                    Ok(_) => won += 1,
                    Err(StoreError::Refused(v)) => {
                        assert!(matches!(v[0].1, Violation::Taken { .. }), "{v:?}");
                    }
                    Err(e) => panic!("{who}: {e}"),
                }
            }
            won
        })
    };
    let (one, two) = (race(Arc::clone(&a), "A"), race(Arc::clone(&b), "B"));
    let won = one.await.unwrap() + two.await.unwrap();
    assert_eq!(won, 30, "each MAC went to exactly one device");
    assert_eq!(a.list(Kind::Device).await.unwrap().len(), 30);
}

pub(crate) async fn a_commit_through_another_handle_wakes_a_follower(db: Fixture) {
    let (follower, writer) = (db.open().await, db.open().await);
    let mut wake = follower.wake();
    // The follower's watcher may start after its first look; give it the first write too.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    wake.mark_unchanged();
    writer.write(&base(), Mode::Commit).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            wake.changed().await.unwrap();
            if *wake.borrow_and_update() >= 4 || follower.head().await.unwrap() >= 4 {
                break;
            }
        }
    })
    .await
    .expect("a commit through another handle wakes the follower");
}

pub(crate) async fn keyset_pages_cover_every_object_once_in_each_order(db: Fixture) {
    use phoneboot_store::{Order, Place};
    let store = db.open().await;
    seeded(&*store, None).await;
    let mut macs: Vec<String> = (0..23).map(|i| format!("0011223344{i:02X}")).collect();
    // Written out of name order, so that version order differs from name order.
    for mac in macs.iter().rev() {
        store
            .write(&[Write::Insert(phone(mac))], Mode::Commit)
            .await
            .unwrap();
    }
    macs.sort();
    for order in [
        Order::Name,
        Order::NameDescending,
        Order::Version,
        Order::VersionDescending,
    ] {
        let mut seen: Vec<String> = Vec::new();
        let mut after: Option<Place> = None;
        loop {
            let page = store
                .page(Kind::Device, order, after.as_ref(), 5)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(Place {
                version: last.version,
                name: last.object.key().to_owned(),
            });
            seen.extend(page.iter().map(|s| s.object.key()[3..].to_owned()));
        }
        let expected: Vec<String> = match order {
            Order::Name | Order::VersionDescending => macs.clone(),
            Order::NameDescending | Order::Version => macs.iter().rev().cloned().collect(),
        };
        assert_eq!(seen, expected, "{order:?}");
    }
}
