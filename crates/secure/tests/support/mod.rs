//! Fixed keys and certificates (made once with the openssl command line: RSA key generation in
//! a debug build takes seconds) and the `openssl` command line as the second opinion.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use phoneboot_secure::{Certificate, Identity};

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub(crate) fn text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// `sast`, `tftp`, `phone`, `other`: a key and its self-signed certificate.
pub(crate) fn identity(name: &str) -> Identity {
    Identity::from_pem(
        &text(&format!("{name}.key.pem")),
        &text(&format!("{name}.crt.pem")),
    )
    .unwrap()
}

pub(crate) fn cert(name: &str) -> Certificate {
    Certificate::from_pem(&text(&format!("{name}.crt.pem"))).unwrap()
}

/// Runs `openssl` with `args` in `dir`; the suite needs it (`.ci/run` installs it), so a
/// missing one fails the test rather than skipping it.
pub(crate) fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("the openssl command line is needed (apt-get install openssl): {e}")
        })
}

/// Splits a signed file the way spec §1.9 describes it, without phoneboot's reader: walk the
/// header's elements (tag, 2-byte length, value; tag 13 a single byte) up to the header
/// length of tag 2, and take the tag-12 element out. Returns (signed bytes, signature).
pub(crate) fn split_by_spec(file: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(file[0], 1, "a header starts with its version");
    assert_eq!(file[5], 2, "then its length");
    let header_len = usize::from(u16::from_be_bytes([file[8], file[9]]));
    let mut at = 0;
    while at < header_len {
        let tag = file[at];
        if tag == 13 {
            at += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([file[at + 1], file[at + 2]]));
        if tag == 12 {
            let signature = file[at + 3..at + 3 + len].to_vec();
            let mut signed = file[..at].to_vec();
            signed.extend_from_slice(&file[at + 3 + len..]);
            return (signed, signature);
        }
        at += 3 + len;
    }
    panic!("no signature element in the header");
}

/// Whether `openssl dgst -<hash> -verify` accepts `signature` over `signed` by `cert`.
pub(crate) fn openssl_verifies(cert: &str, hash: &str, signed: &[u8], signature: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("signed.bin"), signed).unwrap();
    std::fs::write(dir.path().join("sig.bin"), signature).unwrap();
    let public = openssl(
        dir.path(),
        &[
            "x509",
            "-in",
            fixture(&format!("{cert}.crt.pem")).to_str().unwrap(),
            "-pubkey",
            "-noout",
        ],
    );
    assert!(public.status.success());
    std::fs::write(dir.path().join("pub.pem"), &public.stdout).unwrap();
    let out = openssl(
        dir.path(),
        &[
            "dgst",
            &format!("-{hash}"),
            "-verify",
            "pub.pem",
            "-signature",
            "sig.bin",
            "signed.bin",
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    match (out.status.success(), said.contains("Verified OK")) {
        (true, true) => true,
        (false, false) => false,
        _ => panic!("openssl said {said:?} with {:?}", out.status),
    }
}
