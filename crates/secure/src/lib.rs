//! `phoneboot-secure`: what a secure Cisco cluster's TFTP service serves besides plain files
//! (spec §1.9, §1.10).
//!
//! - [`identity`]: keys and certificates, read and checked ([`Certificate`], [`Identity`]).
//! - [`signed`]: the signed-file header, written ([`sign`], [`Signer`]) and read back
//!   ([`SignedFile`]), and the `.sgn` form of any file.
//! - [`trust`]: trust lists (`ITLFile.tlv`, `CTLFile.tlv`) and their records ([`TrustList`]).
//! - [`encrypt`]: the `.enc.sgn` form of a configuration, made for one phone's certificate.
//!
//! Everything here is pure (no files, no clock: timestamps are passed in), so the same bytes
//! come out for the same inputs and tests can hold golden files. The readers are total:
//! the emulator reads these files from the network.

mod tlv;

pub mod encrypt;
pub mod identity;
pub mod signed;
pub mod trust;

pub use encrypt::{decrypt_config, encrypt_config};
pub use identity::{Certificate, Identity};
pub use signed::{SignedFile, Signer, sign, sign_header};
pub use trust::{Record, Role, TrustList};

use rsa::PrivateKey;

/// Why a key, certificate or file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A key or certificate given to us that cannot serve; the text says what to do.
    #[error("{0}")]
    BadInput(String),
    /// A trust list or signed file that does not read as one.
    #[error("{what} {why}")]
    Malformed { what: &'static str, why: String },
    #[error("{what} is {len} bytes, more than a trust list or signed file can hold (65,535)")]
    TooLong { what: &'static str, len: usize },
    /// The signature does not match the bytes and the certificate.
    #[error("the signature does not verify against {signer}")]
    BadSignature { signer: String },
    /// Signed by someone the reader does not trust.
    #[error("signed by {signer} (serial {serial}), which the trust list does not hold as {role}")]
    Untrusted {
        signer: String,
        serial: String,
        role: &'static str,
    },
    #[error("{0}")]
    Crypto(String),
}

impl Error {
    pub(crate) fn malformed(what: &'static str, why: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            why: why.into(),
        }
    }
}

/// The hash of a signature: CUCM's enterprise parameter "TFTP File Signature Algorithm", and
/// the code the header carries (spec §1.9: 1 SHA-1, 3 SHA-512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Sha1,
    Sha512,
}

impl HashAlg {
    pub fn code(self) -> u8 {
        match self {
            Self::Sha1 => 1,
            Self::Sha512 => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Sha1),
            3 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The name `openssl dgst` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha512 => "sha512",
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use rsa::sha2::Digest as _;
        match self {
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha512 => rsa::sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn sign(self, key: &PrivateKey, data: &[u8]) -> Result<Vec<u8>, Error> {
        let signed = match self {
            Self::Sha1 => key.pkcs1v15_sign::<sha1::Sha1>(data),
            Self::Sha512 => key.pkcs1v15_sign::<rsa::sha2::Sha512>(data),
        };
        signed.map_err(|e| Error::Crypto(format!("signing: {e}")))
    }

    /// Checks an RSA PKCS#1 v1.5 signature against a public key in PKCS#1 DER.
    fn verify(self, public_key: &[u8], data: &[u8], signature: &[u8]) -> Result<(), Error> {
        use ring::signature;
        let algorithm = match self {
            Self::Sha1 => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha512 => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        };
        signature::UnparsedPublicKey::new(algorithm, public_key)
            .verify(data, signature)
            .map_err(|_| Error::BadSignature {
                signer: "the key given".into(),
            })
    }
}
