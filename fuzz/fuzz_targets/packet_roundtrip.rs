#![no_main]
//! See crates/tftp/tests/harness/mod.rs: the harness is shared with the corpus replay test.

#[path = "../../crates/tftp/tests/harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::packet_roundtrip(data));
