//! Golden files: every file kind for every model family, SCCP and SIP, compared byte for byte
//! with `tests/golden/`. After an intended change: `UPDATE_GOLDEN=1 cargo test -p
//! phoneboot-render --test golden`, then review the diff. CI never rewrites them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use phoneboot_render::{Built, all, render};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Binary files are kept as hex so that a diff is readable.
fn as_golden(name: &str, bytes: &[u8]) -> Vec<u8> {
    if name.ends_with(".cnf") && name.starts_with("SEP") {
        let hex: Vec<String> = bytes
            .chunks(16)
            .map(|c| {
                c.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        return format!("{}\n", hex.join("\n")).into_bytes();
    }
    bytes.to_vec()
}

#[test]
fn every_built_file_matches_its_golden_copy() {
    let s = support::snapshot();
    let files = all(&s);
    let update = std::env::var_os("UPDATE_GOLDEN").is_some() && std::env::var_os("CI").is_none();
    let dir = golden_dir();
    let mut names = Vec::new();
    let mut mismatched = Vec::new();
    for file in &files {
        let name = file.to_string();
        let bytes = render(&s, file).unwrap().unwrap();
        let golden = as_golden(&name, &bytes);
        let path = dir.join(format!("{name}.golden"));
        if update {
            std::fs::write(&path, &golden).unwrap();
        } else {
            match std::fs::read(&path) {
                Ok(want) if want == golden => {}
                _ => mismatched.push(name.clone()),
            }
        }
        names.push(name);
    }
    assert!(
        mismatched.is_empty(),
        "differ from tests/golden (UPDATE_GOLDEN=1 to accept): {mismatched:?}"
    );
    // No stale golden files either.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let stem = file.trim_end_matches(".golden");
        assert!(names.iter().any(|n| n == stem), "stale golden file {file}");
    }
}

#[test]
fn the_golden_set_covers_every_file_kind_and_family() {
    let files = all(&support::snapshot());
    let has = |f: &dyn Fn(&Built) -> bool| files.iter().any(f);
    assert!(has(&|f| matches!(f, Built::SepXml(_))));
    assert!(has(&|f| matches!(f, Built::SepCnf(_))));
    assert!(has(&|f| matches!(f, Built::SipCnf(_))));
    assert!(has(&|f| matches!(f, Built::SipDefault)));
    assert!(has(&|f| matches!(f, Built::XmlDefault)));
    assert!(has(&|f| matches!(f, Built::DeviceXml(_))));
    assert!(has(&|f| matches!(f, Built::TabletXml(_))));
    assert!(has(&|f| matches!(f, Built::DialPlan(_))));
    assert!(has(&|f| matches!(f, Built::SipDialPlan(_))));
    assert!(has(&|f| matches!(f, Built::Softkeys(_))));
    assert!(has(&|f| matches!(f, Built::FeaturePolicy(_))));
    assert!(has(&|f| matches!(
        f,
        Built::Profile(phoneboot_model::Profile::Ld, _)
    )));
    assert!(has(&|f| matches!(
        f,
        Built::Profile(phoneboot_model::Profile::Gk, _)
    )));
    let names: Vec<String> = files.iter().map(ToString::to_string).collect();
    for want in [
        "SEP000000008841.cnf.xml", // 88xx SIP
        "SEP000000007821.cnf.xml", // 78xx SIP
        "SEP000000009971.cnf.xml", // 99xx SIP
        "SEP000000007941.cnf.xml", // 79x1 SCCP
        "SEP000000079411.cnf.xml", // 79x1 SIP
        "SEP000000001000.cnf.xml", // TelePresence
        "SIP000000007960.cnf",     // 7960 SIP firmware
        "SEP000000079600.cnf.xml", // 7960 SCCP
        "ld000000007905",
        "gk000000079120",
        "SEP000000007935.cnf", // Build Selective: a Table 1 device
        "ALICE-ICM.cnf.xml",
        "TABALICE.cnf.xml",
        "DRStandard.xml",
        "Standard.xml",
        "SKStandard.xml",
        "FPDefault.xml",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not built: {names:?}"
        );
    }
}
