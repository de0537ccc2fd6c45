//! The store's contract, written once against `dyn Store` and run against every backend
//! (hickory's `basic_battery!` is the model): each backend gives a fixture, the macro makes
//! one test per case and backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use phoneboot_model::*;
use phoneboot_store::{
    Create, Location, Mode, Op, Store, StoreError, Stored, Version, Violation, Write, snapshot,
};

/// A fresh, empty database of one backend, which every handle opened from it shares.
struct Fixture {
    location: Location,
    /// Makes another empty database of the same backend.
    fresh: fn(&std::path::Path) -> Location,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn open(&self) -> Arc<dyn Store> {
        phoneboot_store::open(&self.location, Create::Never)
            .await
            .unwrap()
    }

    /// Another empty database of the same backend.
    async fn open_fresh(&self) -> Arc<dyn Store> {
        phoneboot_store::open(&(self.fresh)(self._dir.path()), Create::IfMissing)
            .await
            .unwrap()
    }
}

fn fresh_sqlite(dir: &std::path::Path) -> Location {
    Location::Sqlite(dir.join("fresh.db"))
}

fn fresh_postgres(_: &std::path::Path) -> Location {
    Location::Postgres(phoneboot_testkit::Postgres::shared().create_database())
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Sqlite(dir.path().join("phoneboot.db"));
    // Created once, as `init` does; every handle after it opens an existing database.
    phoneboot_store::open(&location, Create::IfMissing)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    Fixture {
        location,
        fresh: fresh_sqlite,
        _dir: dir,
    }
}

async fn postgres() -> Fixture {
    let location = fresh_postgres(std::path::Path::new(""));
    phoneboot_store::open(&location, Create::IfMissing)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    Fixture {
        location,
        fresh: fresh_postgres,
        _dir: tempfile::tempdir().unwrap(),
    }
}

mod admin;
mod files;
mod objects;

use admin::*;
use files::*;
use objects::*;

/// Every case of the battery, handed to `$m` after the given arguments.
macro_rules! each_case {
    ($m:ident! $($args:tt)*) => {
        $m! { $($args)*;
            objects_written_are_read_back_with_their_versions_and_the_feed_in_order,
            a_reference_to_a_missing_object_is_refused_and_nothing_of_the_batch_is_kept,
            every_broken_step_of_a_batch_is_reported_with_its_index,
            an_object_in_use_cannot_be_deleted_and_the_violation_names_its_users,
            a_mac_belongs_to_one_device_and_names_are_unique_in_any_case,
            an_insert_finds_no_object_and_an_update_finds_its_version,
            a_stale_expected_version_is_refused_and_a_fresh_one_wins,
            a_dry_run_reports_what_the_write_would_do_and_keeps_nothing,
            a_second_handle_sees_the_writes_of_the_first,
            one_batch_may_add_what_its_later_rows_name_and_move_a_mac_between_devices,
            a_large_batch_gets_consecutive_versions_and_the_last_state_of_a_repeated_object,
            referrers_are_the_objects_that_name_one,
            get_many_returns_the_objects_that_exist_in_any_case,
            concurrent_writers_on_two_handles_lose_no_update,
            the_wake_hint_moves_on_a_commit_and_not_on_a_dry_run,
            a_backup_taken_during_a_large_write_opens_and_holds_all_of_it_or_none,
            a_sound_database_passes_its_checks,
            a_closed_database_reopens_at_the_same_version,
            two_writers_racing_for_one_mac_leave_it_with_one_device,
            a_commit_through_another_handle_wakes_a_follower,
            a_copy_holds_every_object_and_goes_only_into_an_empty_database,
            a_stored_file_is_kept_by_its_content_and_read_back_checked,
            a_stored_file_is_named_in_any_case_and_its_content_goes_with_its_last_name,
            a_node_report_replaces_the_same_nodes_last_one,
            every_committed_step_is_in_the_audit_log_with_who_and_before_and_after,
            accounts_and_their_credentials_are_kept_logged_and_removed_together,
            keyset_pages_cover_every_object_once_in_each_order,
            the_last_account_of_a_role_stays_even_when_two_writers_race,
        }
    };
}

macro_rules! battery {
    ($backend:ident: $fixture:path; $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($fixture().await).await;
                }
            )*
        }
    };
}

each_case!(battery! sqlite: super::sqlite);
each_case!(battery! postgres: super::postgres);

fn base() -> Vec<Write> {
    vec![
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
    ]
}

/// The base cluster (version 4), and then one phone (version 5) if given.
async fn seeded(store: &dyn Store, phone_mac: Option<&str>) {
    store.write(&base(), Mode::Commit).await.unwrap();
    if let Some(mac) = phone_mac {
        store
            .write(&[Write::Insert(phone(mac))], Mode::Commit)
            .await
            .unwrap();
    }
}

fn phone(mac: &str) -> Object {
    Object::Device(Device::phone(
        mac.parse().unwrap(),
        "7941",
        Protocol::Sccp,
        "Default",
    ))
}

fn described(mac: &str, description: &str) -> Object {
    let Object::Device(mut d) = phone(mac) else {
        unreachable!()
    };
    d.description = description.into();
    Object::Device(d)
}

fn refused(err: StoreError) -> Vec<(usize, Violation)> {
    match err {
        StoreError::Refused(v) => v,
        other => panic!("expected a refusal, got {other}"),
    }
}
