//! Signing once per content (concurrent first requests of two versions), the bound on kept signatures, and what new keys drop.

use std::collections::BTreeMap;

use super::*;
use crate::security::keystore::Pair;

fn identity(name: &str) -> phoneboot_secure::Identity {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../secure/tests/fixtures");
    let read = |file: String| std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
    phoneboot_secure::Identity::from_pem(
        &read(format!("{name}.key.pem")),
        &read(format!("{name}.crt.pem")),
    )
    .unwrap()
}

fn keys(tftp: &str) -> Keys {
    let tftp = identity(tftp);
    Keys {
        signer_id: tftp.cert().fingerprint(),
        current: Pair {
            sast: identity("sast"),
            tftp,
        },
        next: None,
        trust: Vec::new(),
        phones: BTreeMap::new(),
    }
}

fn check(answer: &Lookup, plain: &[u8], signer: &str) {
    let Lookup::Found(file) = answer else {
        panic!("{answer:?}");
    };
    let bytes = file.content.in_memory().unwrap();
    let signed = phoneboot_secure::SignedFile::parse(bytes).unwrap();
    assert_eq!(
        signed.payload(),
        plain,
        "the answer carries its own content"
    );
    signed.verify(identity(signer).cert()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_signings_of_two_versions_of_a_file_each_get_their_own_signature() {
    let state = Arc::new(SecureState::new(
        Some(keys("tftp")),
        Arc::new(Counters::default()),
    ));
    let keys = state.keys().unwrap();
    let job = |plain: &'static [u8]| {
        sign_job(
            "RingList.xml.sgn".into(),
            Bytes::from_static(plain),
            UNIX_EPOCH,
            true,
        )
    };
    let (old, new) = tokio::join!(
        state.answer(Arc::clone(&keys), HashAlg::Sha1, job(b"<old/>")),
        state.answer(Arc::clone(&keys), HashAlg::Sha1, job(b"<new/>")),
    );
    check(&old, b"<old/>", "tftp");
    check(&new, b"<new/>", "tftp");
    // Asked again, the kept signature of the newest content is served, not made again.
    let again = state
        .answer(Arc::clone(&keys), HashAlg::Sha1, job(b"<new/>"))
        .await;
    check(&again, b"<new/>", "tftp");
}

#[test]
fn kept_signatures_are_bounded_whole_files_going_first() {
    let kept = |header: usize, whole: Option<usize>| Kept {
        stamp: Stamp {
            digest: Digest::of(b""),
            hash: HashAlg::Sha1,
            signer: String::new(),
            phone: String::new(),
        },
        header: Bytes::from(vec![0; header]),
        whole: whole.map(|n| Bytes::from(vec![0; n])),
    };
    let mut files = KeptFiles {
        limit: 1200,
        ..KeptFiles::default()
    };
    files.insert("sep1.cnf.xml.sgn".into(), kept(300, None));
    files.insert("ringlist.xml.sgn".into(), kept(300, Some(500)));
    assert_eq!((files.len(), files.bytes), (2, 1100));
    // Replacing an entry counts once.
    files.insert("sep1.cnf.xml.sgn".into(), kept(300, None));
    assert_eq!(files.bytes, 1100);
    assert_eq!(files.len(), 2, "at the bound");
    files.insert("big.xml.sgn".into(), kept(300, Some(900)));
    assert_eq!(files.len(), 1, "whole files dropped past the bound");
    assert!(files.get("sep1.cnf.xml.sgn").is_some(), "the header stays");
    assert_eq!(files.bytes, 300);
}

#[tokio::test]
async fn new_keys_drop_the_signatures_of_the_old_ones() {
    let state = Arc::new(SecureState::new(
        Some(keys("tftp")),
        Arc::new(Counters::default()),
    ));
    let job = || {
        sign_job(
            "a.xml.sgn".into(),
            Bytes::from_static(b"<a/>"),
            UNIX_EPOCH,
            true,
        )
    };
    let first = state
        .answer(state.keys().unwrap(), HashAlg::Sha1, job())
        .await;
    check(&first, b"<a/>", "tftp");
    state.replace_keys(Some(keys("other")));
    assert_eq!(state.kept(), 0);
    let second = state
        .answer(state.keys().unwrap(), HashAlg::Sha1, job())
        .await;
    check(&second, b"<a/>", "other");
}
