//! Keys and certificates that cannot serve are refused with what to do, and hostile bytes
//! never panic a reader.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, SystemTime};

use phoneboot_secure::identity::read_key;
use phoneboot_secure::{Certificate, Identity, SignedFile, TrustList};
use support::text;

fn refused(result: Result<Identity, phoneboot_secure::Error>) -> String {
    result.expect_err("should be refused").to_string()
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let said = refused(Identity::from_pem(
        &text("other.key.pem"),
        &text("tftp.crt.pem"),
    ));
    assert!(
        said.contains("does not belong to the certificate"),
        "{said}"
    );
}

#[test]
fn an_ec_key_or_certificate_is_refused_naming_rsa() {
    let said = refused(Identity::from_pem(
        &text("ec.key.pem"),
        &text("tftp.crt.pem"),
    ));
    assert!(said.contains("EC key") && said.contains("RSA"), "{said}");
    let said = Certificate::from_pem(&text("ec.crt.pem"))
        .unwrap_err()
        .to_string();
    assert!(said.contains("EC key") && said.contains("RSA"), "{said}");
}

#[test]
fn a_pkcs1_key_is_read_and_a_pkcs12_file_gets_the_conversion_command() {
    Identity::from_pem(&text("pkcs1.key.pem"), &text("pkcs1.crt.pem")).unwrap();
    let binary =
        String::from_utf8_lossy(&[0x30, 0x82, 0x0a, 0x01, 0x02, 0x01, 0x03, 0x30]).into_owned();
    let said = Certificate::from_pem(&binary).unwrap_err().to_string();
    assert!(said.contains("openssl pkcs12"), "{said}");
    let said = read_key(&binary).unwrap_err().to_string();
    assert!(said.contains("openssl pkcs12"), "{said}");
}

#[test]
fn malformed_pem_and_swapped_files_are_refused() {
    let garbage = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
    assert!(
        Certificate::from_pem(garbage)
            .unwrap_err()
            .to_string()
            .contains("cannot be read")
    );
    // The certificate given as the key, and the key as the certificate.
    let said = refused(Identity::from_pem(
        &text("tftp.crt.pem"),
        &text("tftp.crt.pem"),
    ));
    assert!(said.contains("no private key found"), "{said}");
    let said = refused(Identity::from_pem(
        &text("tftp.key.pem"),
        &text("tftp.key.pem"),
    ));
    assert!(said.contains("no certificate found"), "{said}");
    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let said = read_key(encrypted).unwrap_err().to_string();
    assert!(said.contains("decrypt it first"), "{said}");
}

#[test]
fn an_expired_certificate_is_refused_with_what_to_do() {
    let key = read_key(&text("tftp.key.pem")).unwrap();
    let long_ago = SystemTime::now() - Duration::from_secs(400 * 86_400);
    let old = Identity::certify(key, "old", "tftp", long_ago, Duration::from_secs(86_400)).unwrap();
    let said = old
        .cert()
        .check_valid_at(SystemTime::now())
        .unwrap_err()
        .to_string();
    assert!(
        said.contains("expired on") && said.contains("security init"),
        "{said}"
    );
    let fresh = support::cert("tftp");
    fresh.check_valid_at(SystemTime::now()).unwrap();
}

#[test]
fn hostile_bytes_never_panic_the_readers() {
    let golden = std::fs::read(support::fixture("golden/ITLFile.tlv")).unwrap();
    // Every truncation, and every single-byte change of the first 64 bytes to each of a few
    // values, is read without a panic.
    for cut in 0..golden.len() {
        let _ = TrustList::parse(&golden[..cut]);
        let _ = SignedFile::parse(&golden[..cut]);
    }
    // Every byte of the list (header and records), changed to each of a few values that
    // matter to the layout (tags, lengths, padding).
    for at in 0..golden.len() {
        for value in [0u8, 1, 9, 13, 0xff] {
            let mut bad = golden.clone();
            bad[at] = value;
            let _ = TrustList::parse(&bad);
        }
    }
    // And every byte of an encrypted file's header (its encryption block included).
    let phone = support::identity("phone");
    let enc = phoneboot_secure::encrypt_config(
        phoneboot_secure::Signer {
            identity: &support::identity("tftp"),
            hash: phoneboot_secure::HashAlg::Sha1,
        },
        phone.cert(),
        "SEP001122334455.cnf.xml.enc.sgn",
        1,
        b"<device/>",
    )
    .unwrap();
    let header = SignedFile::parse(&enc).unwrap().header_len;
    for at in 0..header {
        for value in [0u8, 1, 16, 0xff] {
            let mut bad = enc.clone();
            bad[at] = value;
            if let Ok(file) = SignedFile::parse(&bad) {
                let _ = phoneboot_secure::decrypt_config(&phone, &file);
            }
        }
    }
    for junk in [
        &b""[..],
        &[1],
        &[1, 0, 2],
        &[1, 0, 2, 1, 0, 2, 0, 2, 0xff, 0xff],
    ] {
        assert!(SignedFile::parse(junk).is_err());
    }
}
