//! Export and import are lossless: for generated databases of every kind of object, export
//! → import (into a new database, and with --update over the same one) → export gives the
//! same bytes, as a document and, for the devices, as CSV; an export without secrets imported
//! over the objects keeps theirs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use phoneboot_model::*;
use phoneboot_server::config::DatabaseConfig;
use phoneboot_server::db::Database;
use phoneboot_server::db::exchange::Format;
use phoneboot_store::{Create, Location, Mode, Write};
use proptest::prelude::*;

/// Text a phone reads as written, with the characters writers get wrong.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => "[a-zA-Z0-9 ]".prop_map(|s| s.chars().next().unwrap()),
            1 => prop::sample::select(vec!['<', '>', '&', '\'', ',', ';', 'é', 'ß', '漢', '-', '.']),
        ],
        0..max,
    )
    .prop_map(|c| c.into_iter().collect::<String>().trim().to_owned())
}

fn dn() -> impl Strategy<Value = String> {
    "[1-9][0-9]{2,5}"
}

fn url() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        "[a-z]{1,8}".prop_map(|p| Some(format!("http://192.0.2.1/{p}.jsp"))),
    ]
}

fn urls() -> impl Strategy<Value = Urls> {
    (url(), url(), url(), prop::option::of(0u32..100_000), url()).prop_map(
        |(directory, idle, services, idle_timeout, messages)| Urls {
            directory,
            idle,
            services,
            idle_timeout,
            messages,
            ..Urls::default()
        },
    )
}

fn line() -> impl Strategy<Value = Line> {
    (
        dn(),
        text(20),
        text(30),
        "[a-z]{0,8}",
        "[a-zA-Z0-9]{0,12}",
        prop::option::of(dn()),
    )
        .prop_map(
            |(dn, label, display_name, auth_name, auth_password, voicemail)| Line {
                dn,
                label,
                display_name,
                auth_name,
                auth_password,
                voicemail: voicemail.unwrap_or_default(),
            },
        )
}

fn speed_dial() -> impl Strategy<Value = SpeedDial> {
    (dn(), text(20)).prop_map(|(number, label)| SpeedDial { number, label })
}

fn rule() -> impl Strategy<Value = DialRule> {
    (
        "[0-9.*#,]{1,12}",
        prop::option::of(0u32..=i32::MAX as u32),
        prop::option::of(prop::sample::select(vec![RuleUser::Phone, RuleUser::Ip])),
        prop::option::of("[0-9%s]{1,8}"),
        prop::option::of(1u8..5),
        prop::option::of(prop::sample::select(vec![Route::Default, Route::Emergency])),
        prop::option::of(prop::sample::select(TONES)),
    )
        .prop_map(
            |(pattern, timeout, user, rewrite, line, route, tone)| DialRule {
                pattern,
                timeout,
                user,
                rewrite,
                line,
                route,
                tones: tone.map(|t| vec![t.to_owned()]).unwrap_or_default(),
            },
        )
}

/// Models a generated device may be, with the protocol it runs.
const MODELS: &[(&str, Protocol)] = &[
    ("8841", Protocol::Sip),
    ("7965", Protocol::Sccp),
    ("7965", Protocol::Sip),
    ("7960", Protocol::Sip),
    ("6961", Protocol::Sccp),
    ("IPCommunicator", Protocol::Sccp),
];

/// A whole database, coherent by construction: every name an object uses exists.
fn database() -> impl Strategy<Value = Vec<Object>> {
    (
        prop::collection::vec((text(20), 1u16..65535), 1..4),
        prop::collection::vec(prop::collection::vec(rule(), 1..4), 0..3),
        prop::collection::vec(
            (
                prop::collection::vec(line(), 0..3),
                prop::collection::vec(speed_dial(), 0..2),
                any::<bool>(),
            ),
            0..3,
        ),
        prop::collection::vec(
            (
                0..MODELS.len(),
                prop::collection::vec(line(), 0..3),
                prop::collection::vec(speed_dial(), 0..2),
                prop::collection::btree_map(
                    prop::sample::select(vec!["pcPort", "webAccess", "sshAccess"]),
                    "[0-9]{1,2}",
                    0..3,
                ),
                urls(),
                text(40),
                any::<(bool, bool, bool)>(),
            ),
            0..6,
        ),
        (urls(), any::<bool>(), "[a-z]{0,6}", "[a-zA-Z0-9]{0,10}"),
    )
        .prop_map(
            |(cms, plans, users, devices, (enterprise, build_all, ssh_user, ssh_password))| {
                let mut objects = vec![Object::Params(Params {
                    urls: enterprise,
                    build_cnf: if build_all {
                        BuildCnf::All
                    } else {
                        BuildCnf::Selective
                    },
                    ssh_user,
                    ssh_password,
                    ..Params::default()
                })];
                for (i, (description, port)) in cms.iter().enumerate() {
                    let mut cm =
                        CallManager::new(&format!("cm{i}"), &format!("192.0.2.{}", i + 10));
                    cm.description.clone_from(description);
                    cm.sip_port = *port;
                    objects.push(Object::CallManager(cm));
                }
                objects.push(Object::CmGroup(CmGroup {
                    name: "G1".into(),
                    members: (0..cms.len()).map(|i| format!("cm{i}")).collect(),
                    tftp_default: true,
                }));
                objects.push(Object::DateTimeGroup(DateTimeGroup {
                    name: "CET".into(),
                    date_template: "D.M.Y".into(),
                    time_zone: "W. Europe Standard/Daylight Time".into(),
                    ntp: vec!["192.0.2.5".into()],
                }));
                objects.push(Object::DevicePool(DevicePool::new("Default", "G1", "CET")));
                for (i, rules) in plans.iter().enumerate() {
                    objects.push(Object::DialPlan(DialPlan {
                        name: format!("Plan{i}"),
                        rules: rules.clone(),
                    }));
                }
                objects.push(Object::Softkeys(SoftkeyTemplate {
                    name: "Keys".into(),
                    sets: vec![SoftkeySet {
                        id: "On Hook".into(),
                        keys: vec!["Redial".into(), "NewCall".into()],
                    }],
                }));
                objects.push(Object::FeaturePolicy(FeaturePolicy {
                    name: "Policy".into(),
                    features: BTreeMap::from([(1, true), (8, false)]),
                }));
                let mut profiled = Vec::new();
                for (i, (lines, speed_dials, with_profile)) in users.iter().enumerate() {
                    let id = format!("user{i}");
                    let profile = with_profile.then(|| MobilityProfile {
                        lines: lines.clone(),
                        speed_dials: speed_dials.clone(),
                        dial_plan: (!plans.is_empty()).then(|| "Plan0".into()),
                    });
                    if profile.is_some() {
                        profiled.push(id.clone());
                    }
                    objects.push(Object::User(User {
                        name: format!("User {i}"),
                        id,
                        profile,
                    }));
                }
                for (i, (m, lines, speed_dials, vendor, urls, description, (plan, keys, login))) in
                    devices.into_iter().enumerate()
                {
                    let (model, protocol) = MODELS[m];
                    let info = Catalogue::builtin().get(model).unwrap();
                    let mac: Mac = format!("0000AB{i:06X}").parse().unwrap();
                    let mut d = Device::phone(mac, model, protocol, "Default");
                    if model == "IPCommunicator" {
                        d.name = format!("SOFT{i}");
                    }
                    let buttons = usize::from(info.buttons);
                    d.lines = lines.into_iter().take(buttons).collect();
                    d.speed_dials = speed_dials
                        .into_iter()
                        .take(buttons - d.lines.len())
                        .collect();
                    d.vendor_config = vendor.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                    d.urls = urls;
                    d.description = description;
                    let sip = protocol == Protocol::Sip;
                    if sip && plan && !plans.is_empty() {
                        d.dial_plan = Some("Plan0".into());
                    }
                    if sip && keys {
                        d.softkeys = Some("Keys".into());
                        d.feature_policy = Some("Policy".into());
                    }
                    // One login per user: the multiple-login rule is not what this tests.
                    if login && let Some(user) = profiled.pop() {
                        d.em_user = Some(user.clone());
                        d.owner = Some(user);
                    }
                    objects.push(Object::Device(d));
                }
                objects
            },
        )
}

async fn open(dir: &tempfile::TempDir, name: &str) -> Database {
    let config = DatabaseConfig {
        location: Location::Sqlite(dir.path().join(name)),
        ..DatabaseConfig::default()
    };
    Database::open(&config, Create::IfMissing).await.unwrap()
}

async fn round_trips(objects: Vec<Object>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let original = open(&dir, "original.db").await;
    if let Err(refused) = original
        .apply(
            objects.into_iter().map(Write::Insert).collect(),
            Mode::Commit,
        )
        .await
    {
        let reasons: Vec<String> = refused.0.iter().map(|(i, e)| format!("{i}: {e}")).collect();
        return Err(TestCaseError::fail(format!(
            "a generated database was refused: {reasons:?}"
        )));
    }
    let document = original.export(Format::Document, true).await.unwrap();
    let csv = original.export(Format::Csv, true).await.unwrap();

    // Into a new database, then out again.
    let copy = open(&dir, "copy.db").await;
    copy.import(&document, false, Mode::Commit).await.unwrap();
    prop_assert_eq!(
        String::from_utf8(copy.export(Format::Document, true).await.unwrap()).unwrap(),
        String::from_utf8(document.clone()).unwrap()
    );
    // Over the same database, with --update.
    original
        .import(&document, true, Mode::Commit)
        .await
        .unwrap();
    prop_assert_eq!(
        original.export(Format::Document, true).await.unwrap(),
        document.clone()
    );
    // The devices as CSV, into a database holding everything else.
    let devices = original.list(Kind::Device).await.unwrap();
    copy.apply(
        devices
            .iter()
            .map(|s| Write::Delete {
                kind: Kind::Device,
                key: s.object.key().to_owned(),
                expected: None,
            })
            .collect(),
        Mode::Commit,
    )
    .await
    .map_err(|r| TestCaseError::fail(format!("{:?}", r.0)))?;
    copy.import(&csv, false, Mode::Commit).await.unwrap();
    prop_assert_eq!(
        String::from_utf8(copy.export(Format::Csv, true).await.unwrap()).unwrap(),
        String::from_utf8(csv.clone()).unwrap()
    );
    prop_assert_eq!(
        copy.export(Format::Document, true).await.unwrap(),
        document.clone()
    );
    // Without secrets, over the objects: they keep theirs.
    let without = original.export(Format::Document, false).await.unwrap();
    original.import(&without, true, Mode::Commit).await.unwrap();
    prop_assert_eq!(
        original.export(Format::Document, true).await.unwrap(),
        document.clone()
    );
    let csv_without = original.export(Format::Csv, false).await.unwrap();
    original
        .import(&csv_without, true, Mode::Commit)
        .await
        .unwrap();
    prop_assert_eq!(
        original.export(Format::Document, true).await.unwrap(),
        document
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn export_import_export_gives_the_same_bytes(objects in database()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(round_trips(objects))?;
    }
}
