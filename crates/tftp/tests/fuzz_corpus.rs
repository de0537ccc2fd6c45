//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same harnesses the
//! cargo-fuzz targets use, plus a deterministic batch of pseudo-random inputs, so that the
//! targets and their invariants run in every `cargo test`.

mod harness;

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let files: Vec<_> = entries
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_default();
            (p, data)
        })
        .collect();
    assert!(
        files.len() >= 8,
        "corpus {target} has only {} entries",
        files.len()
    );
    files
}

fn replay(target: &str, harness: fn(&[u8])) {
    for (path, data) in corpus(target) {
        let result = std::panic::catch_unwind(|| harness(&data));
        assert!(result.is_ok(), "{} broke an invariant", path.display());
    }
    // Pseudo-random inputs, reproducible: a small always-on fuzz run.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..3000usize {
        let len = round % 300;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[3]
            })
            .collect();
        harness(&data);
    }
}

#[test]
fn packet_roundtrip_corpus_holds() {
    replay("packet_roundtrip", harness::packet_roundtrip);
}

#[test]
fn transfer_drive_corpus_holds() {
    replay("transfer_drive", harness::transfer_drive);
}

#[test]
fn client_drive_corpus_holds() {
    replay("client_drive", harness::client_drive);
}
