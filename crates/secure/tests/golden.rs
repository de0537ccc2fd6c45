//! Golden files: a `.sgn`, an ITL and a CTL made with fixed keys and a fixed timestamp are the
//! same bytes every time, and read back field by field. `PHONEBOOT_BLESS=1` rewrites them
//! (only when the format is meant to change; review the diff).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use phoneboot_secure::trust::{self, Record, Role, TrustList};
use phoneboot_secure::{HashAlg, SignedFile, Signer, sign};
use support::{cert, fixture, identity};

const AT: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z
const RINGLIST: &[u8] = b"<CiscoIPPhoneRingList>\n<Ring><DisplayName>Chirp</DisplayName>\
<FileName>Chirp1.raw</FileName></Ring>\n</CiscoIPPhoneRingList>\n";

fn golden(name: &str, made: &[u8]) -> Vec<u8> {
    let path = fixture(&format!("golden/{name}"));
    if std::env::var_os("PHONEBOOT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, made).unwrap();
    }
    let kept = std::fs::read(&path).unwrap();
    assert!(kept == made, "{name} is no longer the golden file's bytes");
    kept
}

fn itl() -> Vec<u8> {
    trust::build(
        Signer {
            identity: &identity("sast"),
            hash: HashAlg::Sha1,
        },
        "ITLFile.tlv",
        AT,
        [1, 0],
        &[
            Record::new(Role::Sast, cert("sast")),
            Record::new(Role::Tftp, cert("tftp")),
        ],
    )
    .unwrap()
}

#[test]
fn a_signed_ring_list_is_its_golden_file_field_by_field() {
    let made = sign(
        Signer {
            identity: &identity("tftp"),
            hash: HashAlg::Sha1,
        },
        "RingList.xml.sgn",
        AT,
        RINGLIST,
    )
    .unwrap();
    let file = golden("RingList.xml.sgn", &made);
    let read = SignedFile::parse(&file).unwrap();
    assert_eq!(read.version, [1, 0]);
    assert_eq!(read.header_len % 4, 0, "padded to a multiple of 4");
    assert_eq!(read.header_len, file.len() - RINGLIST.len());
    assert_eq!(
        read.signer.name,
        "CN=tftp.test.invalid,OU=tftp,O=phoneboot test"
    );
    assert_eq!(read.signer.issuer, read.signer.name, "self-signed");
    assert_eq!(read.signer.serial, cert("tftp").serial());
    assert_eq!(read.hash, HashAlg::Sha1);
    assert_eq!(read.modulus_code, 2, "2048 bits = 256 bytes, index 2");
    assert_eq!(read.signature().len(), 256);
    assert_eq!(read.file_name, "RingList.xml.sgn");
    assert_eq!(read.timestamp, AT);
    assert_eq!(read.signer_version, None);
    assert!(read.encryption.is_none());
    assert_eq!(read.payload(), RINGLIST);
    read.verify(&cert("tftp")).unwrap();
    // The header's first bytes, as spec §1.9 spells them: tag 1 = 1.0, tag 2 = the length.
    assert_eq!(&file[..5], &[1, 0, 2, 1, 0]);
    assert_eq!(&file[5..8], &[2, 0, 2]);
    assert_eq!(
        usize::from(u16::from_be_bytes([file[8], file[9]])),
        read.header_len
    );
    // Tag 3 (the signer), then tag 7 of length 15 holding tag 8 (SHA-1) and tag 9 {10 RSA,
    // 11 = 2: 256-byte modulus}, as CUCM's `show itl` lists them.
    assert_eq!(file[10], 3);
    let after_signer = 13 + usize::from(u16::from_be_bytes([file[11], file[12]]));
    assert_eq!(
        &file[after_signer..after_signer + 18],
        &[7, 0, 15, 8, 0, 1, 1, 9, 0, 8, 10, 0, 1, 0, 11, 0, 1, 2]
    );
}

#[test]
fn an_itl_is_its_golden_file_record_by_record() {
    let file = golden("ITLFile.tlv", &itl());
    let list = TrustList::parse(&file).unwrap();
    assert_eq!(list.file_name, "ITLFile.tlv");
    assert_eq!(list.timestamp, AT);
    assert_eq!(list.signer_version, Some([1, 0]));
    assert_eq!(list.hash, HashAlg::Sha1);
    let roles: Vec<_> = list.records.iter().map(|r| r.role).collect();
    assert_eq!(roles, [Role::Sast, Role::Tftp]);
    assert_eq!(list.records[0].cert, cert("sast"));
    assert_eq!(list.records[1].cert, cert("tftp"));
    assert_eq!(list.signer().unwrap().role, Role::Sast);
    list.verify_with(&list).unwrap();
    // The first record: its length, then the subject (tag 3) NUL-terminated.
    let header_len = SignedFile::parse(&file).unwrap().header_len;
    let record = &file[header_len..];
    assert_eq!(&record[..3], &[1, 0, 2]);
    let record_len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    assert_eq!(record[5], 3);
    assert!(record_len > 5 + cert("sast").der().len());
}

#[test]
fn a_ctl_is_its_golden_file() {
    let made = trust::build(
        Signer {
            identity: &identity("sast"),
            hash: HashAlg::Sha512,
        },
        "CTLFile.tlv",
        AT,
        [1, 0],
        &[
            Record::new(Role::Sast, cert("sast")),
            Record::new(Role::CcmTftp, cert("tftp")),
            Record::new(Role::Capf, cert("other")),
        ],
    )
    .unwrap();
    let file = golden("CTLFile.tlv", &made);
    let list = TrustList::parse(&file).unwrap();
    assert_eq!(list.file_name, "CTLFile.tlv");
    assert_eq!(list.hash, HashAlg::Sha512);
    assert_eq!(list.records.len(), 3);
    assert_eq!(list.records[1].role, Role::CcmTftp);
}

#[test]
fn a_phone_holding_the_itl_takes_files_its_tftp_signs_and_refuses_others() {
    let list = TrustList::parse(&itl()).unwrap();
    let signed_by = |who: &str| {
        sign(
            Signer {
                identity: &identity(who),
                hash: HashAlg::Sha1,
            },
            "SEP001122334455.cnf.xml.sgn",
            AT,
            b"<device/>",
        )
        .unwrap()
    };
    let good = signed_by("tftp");
    list.verify_file(&SignedFile::parse(&good).unwrap())
        .unwrap();
    let foreign = signed_by("other");
    let refused = list.verify_file(&SignedFile::parse(&foreign).unwrap());
    assert!(
        matches!(refused, Err(phoneboot_secure::Error::Untrusted { .. })),
        "{refused:?}"
    );
    // The SAST signs lists, not files: a file signed by it is refused too.
    let by_sast = signed_by("sast");
    assert!(
        list.verify_file(&SignedFile::parse(&by_sast).unwrap())
            .is_err()
    );
    // A new list signed by a stranger is not taken over the one held.
    let stranger = trust::build(
        Signer {
            identity: &identity("other"),
            hash: HashAlg::Sha1,
        },
        "ITLFile.tlv",
        AT,
        [1, 0],
        &[Record::new(Role::Sast, cert("other"))],
    )
    .unwrap();
    let stranger = TrustList::parse(&stranger).unwrap();
    assert!(stranger.verify_with(&list).is_err());
}
