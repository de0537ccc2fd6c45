//! Every trust list, `.sgn` and `.enc.sgn` checked by a second implementation: the signature
//! by `openssl dgst -verify` over the bytes spec §1.9 says are signed (split without
//! phoneboot's reader), the encrypted configuration decrypted by `openssl pkeyutl` and
//! `openssl enc` to the exact XML.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use phoneboot_secure::encrypt::encrypt_config;
use phoneboot_secure::trust::{self, Record, Role, TrustList};
use phoneboot_secure::{HashAlg, SignedFile, Signer, sign};
use support::{cert, identity, openssl, openssl_verifies, split_by_spec};

const XML: &[u8] =
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<device><fullConfig>true</fullConfig>\
<deviceProtocol>SIP</deviceProtocol><sipProfile><sipLines><line button=\"1\"><name>1001</name>\
</line></sipLines></sipProfile></device>\n";

const HASHES: [HashAlg; 2] = [HashAlg::Sha1, HashAlg::Sha512];

#[test]
fn a_signed_file_verifies_with_openssl_for_sha1_and_sha512_and_not_with_another_key() {
    let tftp = identity("tftp");
    for hash in HASHES {
        let file = sign(
            Signer {
                identity: &tftp,
                hash,
            },
            "SEP001122334455.cnf.xml.sgn",
            1_767_225_600,
            XML,
        )
        .unwrap();
        assert!(
            file.ends_with(XML),
            "the payload follows the header unchanged"
        );
        let (signed, signature) = split_by_spec(&file);
        assert_eq!(signature.len(), 256, "RSA 2048");
        assert!(
            openssl_verifies("tftp", hash.name(), &signed, &signature),
            "{hash:?}"
        );
        assert!(
            !openssl_verifies("other", hash.name(), &signed, &signature),
            "{hash:?}"
        );
        let other_hash = if hash == HashAlg::Sha1 {
            "sha512"
        } else {
            "sha1"
        };
        assert!(
            !openssl_verifies("tftp", other_hash, &signed, &signature),
            "{hash:?}"
        );
    }
}

#[test]
fn a_flipped_byte_anywhere_fails_verification() {
    let tftp = identity("tftp");
    let cert = cert("tftp");
    let file = sign(
        Signer {
            identity: &tftp,
            hash: HashAlg::Sha512,
        },
        "RingList.xml.sgn",
        1_767_225_600,
        XML,
    )
    .unwrap();
    assert!(SignedFile::parse(&file).unwrap().verify(&cert).is_ok());
    for at in 0..file.len() {
        let mut bad = file.clone();
        bad[at] ^= 0x01;
        let verdict = SignedFile::parse(&bad).and_then(|f| f.verify(&cert));
        assert!(
            verdict.is_err(),
            "a flip at byte {at} of {} still verified",
            file.len()
        );
    }
    // openssl agrees wherever the structure still splits: the payload, the file name, the
    // timestamp and the signature itself.
    let (signed, _) = split_by_spec(&file);
    let header_len = file.len() - XML.len();
    for at in [
        header_len - 9,
        header_len - 1,
        header_len + 3,
        file.len() - 1,
        60,
        120,
    ] {
        let mut bad = file.clone();
        bad[at] ^= 0x80;
        let (bad_signed, bad_signature) = split_by_spec(&bad);
        assert!(bad_signed != signed || at < header_len);
        assert!(
            !openssl_verifies("tftp", "sha512", &bad_signed, &bad_signature),
            "openssl accepted a flip at byte {at}"
        );
    }
}

#[test]
fn a_trust_list_verifies_with_openssl_and_holds_each_certificate_as_openssl_reads_it() {
    let sast = identity("sast");
    for hash in HASHES {
        let records = [
            Record::new(Role::Sast, cert("sast")),
            Record::new(Role::Tftp, cert("tftp")),
            Record::new(Role::Capf, cert("other")),
        ];
        let file = trust::build(
            Signer {
                identity: &sast,
                hash,
            },
            "ITLFile.tlv",
            1_767_225_600,
            [1, 0],
            &records,
        )
        .unwrap();
        let (signed, signature) = split_by_spec(&file);
        assert!(openssl_verifies("sast", hash.name(), &signed, &signature));
        assert!(!openssl_verifies("tftp", hash.name(), &signed, &signature));

        let list = TrustList::parse(&file).unwrap();
        list.verify_with(&list).unwrap();
        assert_eq!(list.records.len(), 3);
        let dir = tempfile::tempdir().unwrap();
        for (record, name) in list.records.iter().zip(["sast", "tftp", "other"]) {
            std::fs::write(dir.path().join("c.der"), record.cert.der()).unwrap();
            let out = openssl(
                dir.path(),
                &[
                    "x509", "-inform", "der", "-in", "c.der", "-noout", "-subject", "-serial",
                ],
            );
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(
                said.contains(&format!("CN = {name}.test.invalid")),
                "{said}"
            );
            assert!(
                said.to_lowercase().contains(&record.cert.serial_hex()),
                "{said} {}",
                record.cert.serial_hex()
            );
        }
    }
}

/// [`XML`] encrypted to the phone fixture's certificate, signed by the TFTP fixture.
fn encrypted(hash: HashAlg) -> Vec<u8> {
    encrypt_config(
        Signer {
            identity: &identity("tftp"),
            hash,
        },
        &cert("phone"),
        "SEP001122334455.cnf.xml.enc.sgn",
        1_767_225_600,
        XML,
    )
    .unwrap()
}

#[test]
fn an_encrypted_configuration_verifies_and_decrypts_with_openssl_to_the_exact_xml() {
    for hash in HASHES {
        let file = encrypted(hash);
        let (signed, signature) = split_by_spec(&file);
        assert!(openssl_verifies("tftp", hash.name(), &signed, &signature));

        let parsed = SignedFile::parse(&file).unwrap();
        assert_eq!(parsed.version, [2, 0]);
        let info = parsed.encryption.clone().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.enc"), &info.encrypted_key).unwrap();
        std::fs::write(dir.path().join("body.enc"), parsed.payload()).unwrap();
        let key_file = support::fixture("phone.key.pem");
        let key = openssl(
            dir.path(),
            &[
                "pkeyutl",
                "-decrypt",
                "-inkey",
                key_file.to_str().unwrap(),
                "-pkeyopt",
                "rsa_padding_mode:pkcs1",
                "-in",
                "key.enc",
            ],
        );
        assert!(
            key.status.success(),
            "{}",
            String::from_utf8_lossy(&key.stderr)
        );
        assert_eq!(key.stdout.len(), 16, "an AES-128 key");
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let plain = openssl(
            dir.path(),
            &[
                "enc",
                "-d",
                "-aes-128-cbc",
                "-nopad",
                "-K",
                &hex(&key.stdout),
                "-iv",
                &hex(&info.iv),
                "-in",
                "body.enc",
            ],
        );
        assert!(
            plain.status.success(),
            "{}",
            String::from_utf8_lossy(&plain.stderr)
        );
        let pad = usize::from(info.pad);
        assert_eq!((XML.len() + pad) % 16, 0);
        assert!(
            (1..=16).contains(&pad),
            "1 to 16 bytes of padding, never none"
        );
        assert_eq!(&plain.stdout[..XML.len()], XML);
        assert!(plain.stdout[XML.len()..].iter().all(|&b| b == b'\r'));
        assert_eq!(plain.stdout.len(), XML.len() + pad);
        assert_eq!(info.plain_hash, hash.digest(XML));

        // Only the phone's own key opens it.
        let phone = identity("phone");
        assert_eq!(
            phoneboot_secure::decrypt_config(&phone, &parsed).unwrap(),
            XML
        );
        assert!(phoneboot_secure::decrypt_config(&identity("other"), &parsed).is_err());
    }
}

/// The tags of the TLV elements in `bytes`, walked without phoneboot's reader: a tag byte, a
/// big-endian 16-bit length, the value; tag 13 is one byte of padding with no length.
fn tags(bytes: &[u8]) -> Vec<(u8, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let tag = bytes[at];
        if tag == 13 {
            out.push((tag, at + 1..at + 1));
            at += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 1], bytes[at + 2]]));
        out.push((tag, at + 3..at + 3 + len));
        at += 3 + len;
    }
    out
}

#[test]
fn an_encrypted_configuration_places_its_encryption_block_as_certu_enccnf_writes_it() {
    // CERTU's `enccnf` (the tool encrypted files for real phones are made with) writes tag 16
    // after the timestamp, with the plain text's hash algorithm and hash inside it.
    for (hash, code) in [(HashAlg::Sha1, 1u8), (HashAlg::Sha512, 3)] {
        let file = encrypted(hash);
        let header_len = usize::from(u16::from_be_bytes([file[8], file[9]]));
        let header = &file[..header_len];
        let top = tags(header);
        let order: Vec<u8> = top.iter().map(|(t, _)| *t).filter(|&t| t != 13).collect();
        assert_eq!(order, [1, 2, 3, 7, 12, 14, 15, 16]);
        assert!(
            top.iter()
                .skip_while(|(t, _)| *t != 16)
                .skip(1)
                .all(|(t, _)| *t == 13),
            "only padding after the encryption block"
        );
        assert_eq!(header_len % 4, 0, "padded to a multiple of 4");
        let (_, block) = top.iter().find(|(t, _)| *t == 16).unwrap();
        let inside = tags(&header[block.clone()]);
        let inner: Vec<u8> = inside.iter().map(|(t, _)| *t).collect();
        assert_eq!(inner, [17, 21, 26, 27]);
        let hash_alg = &header[block.start..][inside[2].1.clone()];
        assert_eq!(hash_alg, [code], "the file's own hash algorithm");
        let plain_hash = &header[block.start..][inside[3].1.clone()];
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plain.xml"), XML).unwrap();
        let algorithm = format!("-{}", hash.name());
        let expected = openssl(dir.path(), &["dgst", &algorithm, "-binary", "plain.xml"]);
        assert!(expected.status.success());
        assert_eq!(
            plain_hash,
            &expected.stdout[..],
            "the hash of the plain XML, unpadded"
        );
    }
}
