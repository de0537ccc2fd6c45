//! The encrypted configuration, `SEP<MAC>.cnf.xml.enc.sgn` (spec §1.10): a header of
//! version 2.0 whose encryption block (tag 16, after the timestamp) carries the IV, the pad
//! count, the AES-128 key encrypted to the phone's certificate and the hash of the plain XML;
//! the payload is the XML padded with 1 to 16 `\r` bytes to a whole block and encrypted with
//! AES-128-CBC. The block's place and contents are those CERTU's `enccnf` writes.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};

use crate::identity::{Certificate, Identity};
use crate::signed::{self, EncryptionInfo, Header, PLAIN_HASH, PLAIN_HASH_ALG, SignedFile, Signer};
use crate::tlv::{Element, Reader, Writer};
use crate::{Error, HashAlg};

/// An encrypted configuration's header version.
pub const ENC_VERSION: [u8; 2] = [2, 0];

const IV_BLOCK: u8 = 17;
const IV_TYPE: u8 = 18;
const IV: u8 = 19;
const PAD_COUNT: u8 = 20;
const KEY_BLOCK: u8 = 21;
const KEY_TYPE: u8 = 22;
const KEY_SIZE: u8 = 23;
const KEY_ALGORITHM: u8 = 24;
const ENCRYPTED_KEY: u8 = 25;

const BLOCK: usize = 16;

/// Encrypts `xml` for the phone holding `phone`'s key and signs the result. `file_name` is
/// the name the header carries (`SEP<MAC>.cnf.xml.enc.sgn`).
pub fn encrypt_config(
    signer: Signer<'_>,
    phone: &Certificate,
    file_name: &str,
    timestamp: u32,
    xml: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut key = [0u8; BLOCK];
    let mut iv = [0u8; BLOCK];
    getrandom::fill(&mut key).map_err(|e| Error::Crypto(format!("randomness: {e}")))?;
    getrandom::fill(&mut iv).map_err(|e| Error::Crypto(format!("randomness: {e}")))?;
    encrypt_with(signer, phone, file_name, timestamp, xml, key, iv)
}

/// [`encrypt_config`] with a given key and IV (golden files need them fixed).
pub fn encrypt_with(
    signer: Signer<'_>,
    phone: &Certificate,
    file_name: &str,
    timestamp: u32,
    xml: &[u8],
    key: [u8; BLOCK],
    iv: [u8; BLOCK],
) -> Result<Vec<u8>, Error> {
    // Always 1 to 16 bytes: a reader that drops `pad` bytes from the end (CERTU's does)
    // would read an empty file from a pad count of 0.
    let pad = BLOCK - xml.len() % BLOCK;
    let mut body = Vec::with_capacity(xml.len() + pad);
    body.extend_from_slice(xml);
    body.resize(xml.len() + pad, b'\r');
    let len = body.len();
    cbc::Encryptor::<aes::Aes128>::new(&key.into(), &iv.into())
        .encrypt_padded::<NoPadding>(&mut body, len)
        .map_err(|e| Error::Crypto(format!("AES: {e}")))?;
    let encrypted_key = phone.encrypt(&key)?;
    let pad = u16::try_from(pad).unwrap_or(0);
    let plain_hash = signer.hash.digest(xml);
    let block = |w: &mut Writer| -> Result<(), Error> {
        w.nested(signed::ENCRYPTION, |w| {
            w.nested(IV_BLOCK, |w| {
                w.u8(IV_TYPE, 0)?;
                w.put(IV, &iv)?;
                w.u16(PAD_COUNT, pad)
            })?;
            w.nested(KEY_BLOCK, |w| {
                w.u8(KEY_TYPE, 0)?;
                w.u16(KEY_SIZE, 128)?;
                w.u8(KEY_ALGORITHM, 1)?;
                w.put(ENCRYPTED_KEY, &encrypted_key)
            })?;
            w.u8(PLAIN_HASH_ALG, signer.hash.code())?;
            w.put(PLAIN_HASH, &plain_hash)
        })
    };
    let mut file = signed::write_header(
        signer,
        &Header {
            version: ENC_VERSION,
            signer_version: None,
            file_name,
            timestamp,
            encryption: Some(&block),
        },
        &body,
    )?;
    file.extend_from_slice(&body);
    Ok(file)
}

/// What a phone does with its `.enc.sgn` (after checking the signature): the AES key
/// decrypted with its own key, the payload decrypted, the padding dropped, the plain hash
/// checked.
pub fn decrypt_config(phone: &Identity, file: &SignedFile<'_>) -> Result<Vec<u8>, Error> {
    let info = file
        .encryption
        .as_ref()
        .ok_or_else(|| Error::malformed("the file", "is not encrypted (no tag 16)"))?;
    let key = phone.decrypt(&info.encrypted_key)?;
    let key: [u8; BLOCK] = key
        .try_into()
        .map_err(|_| Error::malformed("the AES key", "is not 16 bytes"))?;
    let mut body = file.payload().to_vec();
    if !body.len().is_multiple_of(BLOCK) {
        return Err(Error::malformed(
            "the encrypted payload",
            "is not whole blocks",
        ));
    }
    cbc::Decryptor::<aes::Aes128>::new(&key.into(), &info.iv.into())
        .decrypt_padded::<NoPadding>(&mut body)
        .map_err(|e| Error::Crypto(format!("AES: {e}")))?;
    let plain_len = body
        .len()
        .checked_sub(usize::from(info.pad))
        .ok_or_else(|| Error::malformed("the pad count", "is longer than the payload"))?;
    body.truncate(plain_len);
    let alg = info.plain_hash_alg.unwrap_or(file.hash);
    if alg.digest(&body) != info.plain_hash {
        return Err(Error::malformed(
            "the plain text's hash (tag 27)",
            "does not match the decrypted configuration",
        ));
    }
    Ok(body)
}

/// Tag 26 (the plain text's hash algorithm) or 27 (its hash).
fn read_plain_hash(info: &mut EncryptionInfo, element: &Element<'_>) -> Result<(), Error> {
    if element.tag == PLAIN_HASH_ALG {
        info.plain_hash_alg = HashAlg::from_code(element.u8("tag 26")?);
    } else {
        info.plain_hash = element.value.to_vec();
    }
    Ok(())
}

pub(crate) fn read_info(bytes: &[u8], element: &Element<'_>) -> Result<EncryptionInfo, Error> {
    let mut info = EncryptionInfo {
        iv: [0; BLOCK],
        pad: 0,
        key_bits: 0,
        encrypted_key: Vec::new(),
        plain_hash_alg: None::<HashAlg>,
        plain_hash: Vec::new(),
    };
    for block in Reader::inside(bytes, element) {
        let block = block?;
        if matches!(block.tag, PLAIN_HASH_ALG | PLAIN_HASH) {
            read_plain_hash(&mut info, &block)?;
            continue;
        }
        if !matches!(block.tag, IV_BLOCK | KEY_BLOCK) {
            continue; // a tag this reader does not know
        }
        for inner in Reader::inside(bytes, &block) {
            let inner = inner?;
            match (block.tag, inner.tag) {
                (IV_BLOCK, IV) => {
                    info.iv = inner
                        .value
                        .try_into()
                        .map_err(|_| Error::malformed("the IV (tag 19)", "is not 16 bytes"))?;
                }
                (IV_BLOCK, PAD_COUNT) => info.pad = inner.u16("the pad count (tag 20)")?,
                (KEY_BLOCK, KEY_SIZE) => info.key_bits = inner.u16("the key size (tag 23)")?,
                (KEY_BLOCK, ENCRYPTED_KEY) => info.encrypted_key = inner.value.to_vec(),
                _ => {}
            }
        }
    }
    Ok(info)
}
