//! The battery's cases for accounts, credentials and the audit log.

use phoneboot_store::{
    Account, Actor, AuditQuery, Credential, CredentialKind, Event, unix_seconds,
};

use super::*;

fn account(name: &str, role: &str) -> Account {
    Account {
        name: name.into(),
        role: role.into(),
        password: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        created: 1_700_000_000,
        changed: 1_700_000_000,
    }
}

fn all() -> AuditQuery {
    AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    }
}

pub(crate) async fn every_committed_step_is_in_the_audit_log_with_who_and_before_and_after(
    db: Fixture,
) {
    let store = db.open().await;
    let alice = Actor::new("alice", "192.0.2.7");
    store.write_by(&base(), Mode::Commit, &alice).await.unwrap();
    store
        .write_by(
            &[Write::Insert(phone("001122334455"))],
            Mode::Commit,
            &alice,
        )
        .await
        .unwrap();
    // A dry run and a refused write leave no entry.
    store
        .write_by(
            &[Write::Insert(phone("0011223344AA"))],
            Mode::DryRun,
            &alice,
        )
        .await
        .unwrap();
    store
        .write_by(
            &[Write::Insert(phone("001122334455"))],
            Mode::Commit,
            &alice,
        )
        .await
        .unwrap_err();
    // One batch writes the phone twice and then deletes it: each step sees the one before.
    let bob = Actor::new("bob", "cli");
    let head = store
        .write_by(
            &[
                Write::Put(described("001122334455", "one")),
                Write::Put(described("001122334455", "two")),
                Write::Delete {
                    kind: Kind::Device,
                    key: "sep001122334455".into(),
                    expected: None,
                },
            ],
            Mode::Commit,
            &bob,
        )
        .await
        .unwrap();
    let log = store.audit(&all()).await.unwrap();
    assert_eq!(
        log.len(),
        8,
        "4 base objects, the phone, and 3 steps: {log:#?}"
    );
    assert!(log.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let [delete, two, one, added] = &log[..4] else {
        unreachable!()
    };
    assert_eq!(
        (delete.action.as_str(), delete.version),
        ("delete", Some(head))
    );
    assert_eq!(
        (delete.who.as_str(), delete.origin.as_str()),
        ("bob", "cli")
    );
    assert_eq!(delete.key, "SEP001122334455", "the key as stored");
    assert!(delete.after.is_none());
    assert_eq!(delete.before, two.after);
    assert_eq!(two.before, one.after);
    assert_eq!(one.before, added.after);
    assert!(one.after.as_deref().unwrap().contains("\"one\""));
    assert!(added.before.is_none());
    assert_eq!(added.who, "alice");
    // Filters and the cursor.
    let device = store
        .audit(&AuditQuery {
            kind: Some("device".into()),
            key: Some("sep001122334455".into()),
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        device.iter().map(|e| e.id).collect::<Vec<_>>(),
        [delete.id, two.id]
    );
    let next = store
        .audit(&AuditQuery {
            kind: Some("device".into()),
            below: Some(two.id),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|e| e.id).collect::<Vec<_>>(),
        [one.id, added.id]
    );
    let by_alice = store
        .audit(&AuditQuery {
            who: Some("ALICE".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_alice.len(), 5);
}

pub(crate) async fn accounts_and_their_credentials_are_kept_logged_and_removed_together(
    db: Fixture,
) {
    let store = db.open().await;
    let root = Actor::new("cli root", "phoneboot admin user add");
    store
        .save_account(&account("Alice", "admin"), &root)
        .await
        .unwrap();
    store
        .save_account(&account("bob", "viewer"), &root)
        .await
        .unwrap();
    let mut changed = account("BOB", "operator");
    changed.changed += 5;
    store.save_account(&changed, &root).await.unwrap();
    let names: Vec<(String, String)> = store
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.name, a.role))
        .collect();
    assert_eq!(
        names,
        [
            ("Alice".into(), "admin".into()),
            ("BOB".into(), "operator".into())
        ]
    );
    assert_eq!(store.account("alice").await.unwrap().unwrap().name, "Alice");
    assert!(store.account("carol").await.unwrap().is_none());

    let now = unix_seconds();
    let token = Credential {
        digest: "aa".repeat(32),
        account: "alice".into(),
        kind: CredentialKind::Token,
        label: "nightly export".into(),
        csrf: None,
        created: now,
        expires: None,
    };
    let session = Credential {
        digest: "bb".repeat(32),
        kind: CredentialKind::Session,
        label: "192.0.2.9".into(),
        csrf: Some("cc".repeat(16)),
        expires: Some(now + 3600),
        ..token.clone()
    };
    let ended = Credential {
        digest: "dd".repeat(32),
        expires: Some(now - 1),
        ..session.clone()
    };
    store.add_credential(&token, &root).await.unwrap();
    store.add_credential(&session, &root).await.unwrap();
    store.add_credential(&ended, &root).await.unwrap();
    let (found, owner) = store.credential(&session.digest).await.unwrap().unwrap();
    assert_eq!(
        (found.csrf.as_deref(), owner.role.as_str()),
        (session.csrf.as_deref(), "admin")
    );
    assert!(
        store.credential(&ended.digest).await.unwrap().is_none(),
        "an ended session"
    );
    assert_eq!(store.credentials("ALICE").await.unwrap().len(), 2);
    assert!(matches!(
        store
            .add_credential(
                &Credential {
                    account: "carol".into(),
                    digest: "ee".repeat(32),
                    ..token.clone()
                },
                &root
            )
            .await,
        Err(StoreError::Absent(_))
    ));
    assert!(
        store
            .remove_credential(&session.digest, &root)
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_credential(&session.digest, &root)
            .await
            .unwrap()
    );
    assert!(store.remove_account("ALICE", &root).await.unwrap());
    assert!(
        store.credential(&token.digest).await.unwrap().is_none(),
        "gone with its account"
    );
    assert!(!store.remove_account("alice", &root).await.unwrap());

    store
        .record(&Event {
            by: Actor::new("", "192.0.2.66"),
            action: "login-refused",
            kind: "account".into(),
            key: "mallory".into(),
        })
        .await
        .unwrap();
    let log = store.audit(&all()).await.unwrap();
    let actions: Vec<&str> = log.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "account",
            "account",
            "account",
            "token",
            "login",
            "login",
            "logout",
            "account-delete",
            "login-refused"
        ]
    );
    for entry in &log {
        for json in [&entry.before, &entry.after].into_iter().flatten() {
            assert!(
                !json.contains("argon2"),
                "no password hash in the log: {json}"
            );
        }
    }
    let bob = log.iter().find(|e| e.key == "BOB").unwrap();
    assert!(bob.before.as_deref().unwrap().contains("viewer"));
    assert!(bob.after.as_deref().unwrap().contains("operator"));
}

pub(crate) async fn the_last_account_of_a_role_stays_even_when_two_writers_race(db: Fixture) {
    use phoneboot_store::AccountChange;
    let store = db.open().await;
    let other = db.open().await;
    let by = Actor::new("test", "battery");
    for name in ["x", "y"] {
        store
            .save_account(&account(name, "admin"), &by)
            .await
            .unwrap();
    }
    store
        .save_account(&account("v", "viewer"), &by)
        .await
        .unwrap();
    // Two handles demote both admins at once: exactly one of them wins.
    let (x, y) = (account("x", "viewer"), account("y", "viewer"));
    let (a, b) = tokio::join!(
        store.save_account_keeping(&x, &by, "admin"),
        other.save_account_keeping(&y, &by, "admin"),
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, [AccountChange::Done, AccountChange::LastOfRole]);
    let admins: Vec<String> = store
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.role == "admin")
        .map(|a| a.name)
        .collect();
    assert_eq!(admins.len(), 1);
    let last = &admins[0];
    assert_eq!(
        store
            .remove_account_keeping(last, &by, "admin")
            .await
            .unwrap(),
        AccountChange::LastOfRole
    );
    assert_eq!(
        store
            .remove_account_keeping("v", &by, "admin")
            .await
            .unwrap(),
        AccountChange::Done,
        "a viewer goes"
    );
    assert_eq!(
        store
            .remove_account_keeping("v", &by, "admin")
            .await
            .unwrap(),
        AccountChange::Absent
    );
    assert!(
        store.account(last).await.unwrap().is_some(),
        "refused: nothing written"
    );
}
