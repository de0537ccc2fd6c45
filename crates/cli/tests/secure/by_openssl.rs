//! What the openssl command line, a second implementation, says of the files a secure
//! cluster served: signatures checked over the bytes spec §1.9 says are signed, and the
//! `.enc.sgn` decrypted; each file split without phoneboot's reader.

use std::path::Path;
use std::process::Command;

pub(crate) fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is needed (apt-get install openssl)")
}

/// Splits a signed file as spec §1.9 describes it (tag, 2-byte length, value; tag 13 one
/// byte; the header length in tag 2), without phoneboot's reader: (signed bytes, signature,
/// header length).
pub(crate) fn split(file: &[u8]) -> (Vec<u8>, Vec<u8>, usize) {
    let header_len = usize::from(u16::from_be_bytes([file[8], file[9]]));
    let mut at = 0;
    while at < header_len {
        if file[at] == 13 {
            at += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([file[at + 1], file[at + 2]]));
        if file[at] == 12 {
            let mut signed = file[..at].to_vec();
            signed.extend_from_slice(&file[at + 3 + len..]);
            return (signed, file[at + 3..at + 3 + len].to_vec(), header_len);
        }
        at += 3 + len;
    }
    panic!("no signature in the header");
}

/// `openssl dgst -verify` with the certificate at `cert` over what spec §1.9 says is signed.
pub(crate) fn openssl_verifies(cert: &Path, hash: &str, file: &[u8]) -> bool {
    let (signed, signature, _) = split(file);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("signed"), signed).unwrap();
    std::fs::write(dir.path().join("sig"), signature).unwrap();
    let public = openssl(
        dir.path(),
        &["x509", "-in", cert.to_str().unwrap(), "-pubkey", "-noout"],
    );
    assert!(public.status.success());
    std::fs::write(dir.path().join("pub.pem"), public.stdout).unwrap();
    let out = openssl(
        dir.path(),
        &[
            "dgst",
            &format!("-{hash}"),
            "-verify",
            "pub.pem",
            "-signature",
            "sig",
            "signed",
        ],
    );
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK")
}

/// The elements of `bytes` (tag 13 is one byte of padding).
fn elements(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let (mut out, mut at) = (Vec::new(), 0);
    while at < bytes.len() {
        if bytes[at] == 13 {
            at += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 1], bytes[at + 2]]));
        out.push((bytes[at], &bytes[at + 3..at + 3 + len]));
        at += 3 + len;
    }
    out
}

/// The `.enc.sgn`'s AES key opened by `openssl pkeyutl`, its payload by `openssl enc`, the
/// `\r` padding dropped: the plain XML. The IV and key are found by walking the header as
/// CERTU's enccnf lays it out (tag 16 holds 17 {18, 19 IV, 20 pad}, 21 {…, 25 key}, 26, 27).
pub(crate) fn decrypt_with_openssl(file: &[u8], key_pem: &str) -> Vec<u8> {
    let header_len = usize::from(u16::from_be_bytes([file[8], file[9]]));
    let (mut iv, mut pad, mut wrapped) = (Vec::new(), 0usize, Vec::new());
    for (tag, value) in elements(&file[..header_len]) {
        if tag != 16 {
            continue;
        }
        for (block, block_value) in elements(value) {
            if !matches!(block, 17 | 21) {
                continue; // 26 and 27: the plain text's hash
            }
            for (tag, v) in elements(block_value) {
                match (block, tag) {
                    (17, 19) => iv = v.to_vec(),
                    (17, 20) => pad = usize::from(u16::from_be_bytes([v[0], v[1]])),
                    (21, 25) => wrapped = v.to_vec(),
                    _ => {}
                }
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.enc"), &wrapped).unwrap();
    std::fs::write(dir.path().join("body.enc"), &file[header_len..]).unwrap();
    let aes = openssl(
        dir.path(),
        &[
            "pkeyutl",
            "-decrypt",
            "-inkey",
            key_pem,
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
            "-in",
            "key.enc",
        ],
    );
    assert!(aes.status.success() && aes.stdout.len() == 16);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let plain = openssl(
        dir.path(),
        &[
            "enc",
            "-d",
            "-aes-128-cbc",
            "-nopad",
            "-K",
            &hex(&aes.stdout),
            "-iv",
            &hex(&iv),
            "-in",
            "body.enc",
        ],
    );
    assert!(plain.status.success());
    let mut plain = plain.stdout;
    assert!(plain[plain.len() - pad..].iter().all(|&b| b == b'\r'));
    plain.truncate(plain.len() - pad);
    plain
}
