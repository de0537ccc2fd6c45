//! The signed-file header (spec §1.9, §1.10), shared by trust lists, `.sgn` and `.enc.sgn`:
//!
//! ```text
//! 1 version · 2 header length · [28 signer version] · 3 {4 signer, 5 serial, 6 issuer}
//! · 7 {8 hash, 9 {10 algorithm = RSA, 11 modulus size code}} · 12 signature · 14 file name
//! · 15 timestamp · [16 {17 IV block, 21 key block, 26 hash algorithm, 27 plain hash}]
//! · 13 padding to a multiple of 4
//! ```
//!
//! The encryption block's place (after the timestamp, the plain text's hash inside it) is
//! the one CERTU's `enccnf` writes, the tool used to make encrypted files for real phones.
//!
//! The signature is RSA PKCS#1 v1.5 over the whole file with the signature element (tag 12,
//! its length and value) taken out; the header length counts the signature and padding,
//! and the payload follows the header unchanged.

use std::ops::Range;

use crate::identity::{Certificate, Identity, KEY_BITS};
use crate::tlv::{Element, Reader, Writer};
use crate::{Error, HashAlg};

const VERSION: u8 = 1;
const HEADER_LENGTH: u8 = 2;
const SIGNER_INFO: u8 = 3;
const SIGNER_NAME: u8 = 4;
const SERIAL: u8 = 5;
const ISSUER: u8 = 6;
const SIGNATURE_INFO: u8 = 7;
const HASH: u8 = 8;
const ALGORITHM_INFO: u8 = 9;
const ALGORITHM: u8 = 10;
const MODULUS: u8 = 11;
const SIGNATURE: u8 = 12;
const FILE_NAME: u8 = 14;
const TIMESTAMP: u8 = 15;
pub(crate) const ENCRYPTION: u8 = 16;
pub(crate) const PLAIN_HASH_ALG: u8 = 26;
pub(crate) const PLAIN_HASH: u8 = 27;
const SIGNER_VERSION: u8 = 28;

/// A `.sgn` file's header version (spec §1.10).
pub const SGN_VERSION: [u8; 2] = [1, 0];

/// Who signs, and with which hash.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    pub identity: &'a Identity,
    pub hash: HashAlg,
}

/// Writes the extra elements of an `.enc.sgn` header.
pub(crate) type WriteBlock<'a> = dyn Fn(&mut Writer) -> Result<(), Error> + 'a;

/// What a header says besides who signed it.
pub(crate) struct Header<'a> {
    pub version: [u8; 2],
    pub signer_version: Option<[u8; 2]>,
    pub file_name: &'a str,
    pub timestamp: u32,
    /// Tag 16 of an `.enc.sgn` (26 and 27 inside it), written by [`crate::encrypt`].
    pub encryption: Option<&'a WriteBlock<'a>>,
}

/// The `.sgn` form of `payload`: the header, then the payload unchanged. `file_name` is
/// the signed name the header carries, `.sgn` included (`RingList.xml.sgn`).
pub fn sign(
    signer: Signer<'_>,
    file_name: &str,
    timestamp: u32,
    payload: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut file = sign_header(signer, file_name, timestamp, payload)?;
    file.extend_from_slice(payload);
    Ok(file)
}

/// The header alone of [`sign`]'s file: what a server keeps per signed file, since the
/// payload is the plain file it has anyway.
pub fn sign_header(
    signer: Signer<'_>,
    file_name: &str,
    timestamp: u32,
    payload: &[u8],
) -> Result<Vec<u8>, Error> {
    write_header(
        signer,
        &Header {
            version: SGN_VERSION,
            signer_version: None,
            file_name,
            timestamp,
            encryption: None,
        },
        payload,
    )
}

/// Writes a header for `payload` and signs both.
pub(crate) fn write_header(
    signer: Signer<'_>,
    header: &Header<'_>,
    payload: &[u8],
) -> Result<Vec<u8>, Error> {
    let cert = signer.identity.cert();
    let key_bytes = cert.key_bits() / 8;
    let modulus_code = KEY_BITS
        .iter()
        .position(|&bits| bits == cert.key_bits())
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| Error::BadInput(format!("{} bits", cert.key_bits())))?;

    let mut before = Writer::default();
    before.put(VERSION, &header.version)?;
    let length_at = before.len() + 3;
    before.u16(HEADER_LENGTH, 0)?;
    if let Some(version) = header.signer_version {
        before.put(SIGNER_VERSION, &version)?;
    }
    before.nested(SIGNER_INFO, |w| {
        w.text(SIGNER_NAME, cert.subject())?;
        w.put(SERIAL, cert.serial())?;
        w.text(ISSUER, cert.issuer())
    })?;
    // Tag 7 holds the hash and tag 9 (CUCM's `show itl`: SIGNATUREINFO of length 15 =
    // DIGESTALGORITHM 4 + SIGNATUREALGOINFO 3 + 8).
    before.nested(SIGNATURE_INFO, |w| {
        w.u8(HASH, signer.hash.code())?;
        w.nested(ALGORITHM_INFO, |w| {
            w.u8(ALGORITHM, 0)?;
            w.u8(MODULUS, modulus_code)
        })
    })?;
    let mut after = Writer::default();
    after.text(FILE_NAME, header.file_name)?;
    after.u32(TIMESTAMP, header.timestamp)?;
    if let Some(encryption) = header.encryption {
        encryption(&mut after)?;
    }
    let signature_len = 3 + key_bytes;
    while !(before.len() + signature_len + after.len()).is_multiple_of(4) {
        after.pad();
    }
    let total = before.len() + signature_len + after.len();
    let total = u16::try_from(total).map_err(|_| Error::TooLong {
        what: "the header",
        len: total,
    })?;
    before.patch_u16(length_at, total);

    let (before, after) = (before.into_bytes(), after.into_bytes());
    let mut signed = Vec::with_capacity(before.len() + after.len() + payload.len());
    signed.extend_from_slice(&before);
    signed.extend_from_slice(&after);
    signed.extend_from_slice(payload);
    let signature = signer.identity.sign(signer.hash, &signed)?;
    debug_assert_eq!(signature.len(), key_bytes);

    let mut out = Writer::default();
    out.extend(&before);
    out.put(SIGNATURE, &signature)?;
    out.extend(&after);
    Ok(out.into_bytes())
}

/// Who the header says signed a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerInfo {
    pub name: String,
    pub serial: Vec<u8>,
    pub issuer: String,
}

/// The encryption block of an `.enc.sgn` header (spec §1.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionInfo {
    pub iv: [u8; 16],
    /// How many `\r` bytes pad the plain text to a block.
    pub pad: u16,
    pub key_bits: u16,
    /// The AES key, encrypted to the phone's certificate.
    pub encrypted_key: Vec<u8>,
    pub plain_hash_alg: Option<HashAlg>,
    pub plain_hash: Vec<u8>,
}

/// A signed file read back: its header's fields and where the payload starts.
#[derive(Debug, Clone)]
pub struct SignedFile<'a> {
    bytes: &'a [u8],
    pub version: [u8; 2],
    pub header_len: usize,
    pub signer_version: Option<[u8; 2]>,
    pub signer: SignerInfo,
    pub hash: HashAlg,
    pub modulus_code: u8,
    signature: Range<usize>,
    pub file_name: String,
    pub timestamp: u32,
    pub encryption: Option<EncryptionInfo>,
}

impl<'a> SignedFile<'a> {
    /// Reads a header; total (every length is checked against what holds it).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut elements = Reader::header(bytes, 0, bytes.len());
        let version = next_tagged(&mut elements, VERSION, "the version (tag 1)")?;
        let version = <[u8; 2]>::try_from(version.value)
            .map_err(|_| Error::malformed("the version (tag 1)", "is not two bytes"))?;
        let header_len = usize::from(
            next_tagged(&mut elements, HEADER_LENGTH, "the header length (tag 2)")?
                .u16("the header length")?,
        );
        if header_len > bytes.len() {
            return Err(Error::malformed(
                "the header length",
                format!("says {header_len} bytes, but the file has {}", bytes.len()),
            ));
        }
        let start = elements.position();
        if header_len < start {
            return Err(Error::malformed(
                "the header length",
                "is shorter than the header",
            ));
        }
        let mut file = Self {
            bytes,
            version,
            header_len,
            signer_version: None,
            signer: SignerInfo {
                name: String::new(),
                serial: Vec::new(),
                issuer: String::new(),
            },
            hash: HashAlg::Sha1,
            modulus_code: 0,
            signature: 0..0,
            file_name: String::new(),
            timestamp: 0,
            encryption: None,
        };
        let (mut saw_hash, mut saw_signature) = (false, false);
        for element in Reader::header(bytes, start, header_len) {
            let element = element?;
            match element.tag {
                SIGNER_VERSION => {
                    file.signer_version =
                        Some(<[u8; 2]>::try_from(element.value).map_err(|_| {
                            Error::malformed("the signer version (tag 28)", "is not two bytes")
                        })?);
                }
                SIGNER_INFO => file.signer = read_signer(bytes, &element)?,
                SIGNATURE_INFO => {
                    for inner in Reader::inside(bytes, &element) {
                        let inner = inner?;
                        match inner.tag {
                            HASH => {
                                let code = inner.u8("the hash algorithm (tag 8)")?;
                                file.hash = HashAlg::from_code(code).ok_or_else(|| {
                                    Error::malformed(
                                        "the hash algorithm (tag 8)",
                                        format!("is {code}, neither SHA-1 (1) nor SHA-512 (3)"),
                                    )
                                })?;
                                saw_hash = true;
                            }
                            ALGORITHM_INFO => read_algorithm(bytes, &inner, &mut file)?,
                            _ => {}
                        }
                    }
                }
                // Beside tag 7 rather than in it, as some writers place it.
                ALGORITHM_INFO => read_algorithm(bytes, &element, &mut file)?,
                ENCRYPTION => {
                    file.encryption = Some(crate::encrypt::read_info(bytes, &element)?);
                }
                SIGNATURE => {
                    file.signature = element.span();
                    saw_signature = true;
                }
                FILE_NAME => file.file_name = element.text(),
                TIMESTAMP => file.timestamp = element.u32("the timestamp (tag 15)")?,
                _ => {} // padding, and tags this reader does not know
            }
        }
        if !saw_signature {
            return Err(Error::malformed("the header", "has no signature (tag 12)"));
        }
        if !saw_hash {
            return Err(Error::malformed(
                "the header",
                "names no hash algorithm (tag 8)",
            ));
        }
        Ok(file)
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len..]
    }

    /// The signature's value.
    pub fn signature(&self) -> &'a [u8] {
        let span = &self.bytes[self.signature.clone()];
        &span[3.min(span.len())..]
    }

    /// What the signature covers: the file without its signature element.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len());
        out.extend_from_slice(&self.bytes[..self.signature.start]);
        out.extend_from_slice(&self.bytes[self.signature.end..]);
        out
    }

    /// Checks the signature against `cert`, and that the header names `cert` as its signer.
    pub fn verify(&self, cert: &Certificate) -> Result<(), Error> {
        let bad = || Error::BadSignature {
            signer: cert.subject().to_owned(),
        };
        if self.signer.serial != cert.serial() || self.signer.name != cert.subject() {
            return Err(bad());
        }
        cert.verify(self.hash, &self.signed_bytes(), self.signature())
            .map_err(|_| bad())
    }
}

fn next_tagged<'a>(
    elements: &mut Reader<'a>,
    tag: u8,
    what: &'static str,
) -> Result<Element<'a>, Error> {
    match elements.next() {
        Some(Ok(e)) if e.tag == tag => Ok(e),
        Some(Err(e)) => Err(e),
        _ => Err(Error::malformed(what, "is missing where the header starts")),
    }
}

fn read_algorithm(
    bytes: &[u8],
    element: &Element<'_>,
    file: &mut SignedFile<'_>,
) -> Result<(), Error> {
    for inner in Reader::inside(bytes, element) {
        let inner = inner?;
        match inner.tag {
            ALGORITHM if inner.u8("the signature algorithm (tag 10)")? != 0 => {
                return Err(Error::malformed(
                    "the signature algorithm (tag 10)",
                    "is not RSA (0)",
                ));
            }
            MODULUS => file.modulus_code = inner.u8("the modulus size (tag 11)")?,
            _ => {}
        }
    }
    Ok(())
}

fn read_signer(bytes: &[u8], element: &Element<'_>) -> Result<SignerInfo, Error> {
    let mut signer = SignerInfo {
        name: String::new(),
        serial: Vec::new(),
        issuer: String::new(),
    };
    for inner in Reader::inside(bytes, element) {
        let inner = inner?;
        match inner.tag {
            SIGNER_NAME => signer.name = inner.text(),
            SERIAL => signer.serial = inner.value.to_vec(),
            ISSUER => signer.issuer = inner.text(),
            _ => {}
        }
    }
    Ok(signer)
}
