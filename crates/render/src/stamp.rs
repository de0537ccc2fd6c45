//! `versionStamp`: phones compare it to decide whether their configuration changed, so it
//! must change if and only if the content does. It is derived from the content itself (a
//! SHA-256 of the file with the stamp left out), never from a clock or a counter: rebuilding
//! an unchanged file gives the same stamp, on every node of a cluster.
//!
//! Shape: CUCM's `<number>-<uuid>`, both parts taken from the hash (≤ 47 characters; Cisco's
//! dial-plan parser takes up to 64).

use sha2::{Digest, Sha256};

use crate::xml::STAMP_MARK;

/// Replaces the stamp mark in `text` with the content's stamp.
pub(crate) fn seal(text: &str) -> String {
    let stamp = of(text.as_bytes());
    text.replacen(STAMP_MARK, &stamp, 1)
}

/// The stamp of some content.
pub(crate) fn of(content: &[u8]) -> String {
    let h = Sha256::digest(content);
    let hex =
        |r: std::ops::Range<usize>| -> String { h[r].iter().map(|b| format!("{b:02x}")).collect() };
    let head = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    format!(
        "{head}-{}-{}-{}-{}-{}",
        hex(4..8),
        hex(8..10),
        hex(10..12),
        hex(12..14),
        hex(14..20)
    )
}
