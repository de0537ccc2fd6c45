//! Keys and certificates: a certificate read and checked ([`Certificate`]), and a signing
//! identity — a private key with the certificate it belongs to ([`Identity`]). Every way a
//! key or certificate can be unusable is refused here, with what to do about it.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::{Decode, DecodePem, Encode};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, PublicKey};

use crate::{Error, HashAlg};

/// The OID of an RSA public key (rsaEncryption).
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

/// The key sizes a trust list can name (spec §1.9: modulus size code 0..=3).
pub const KEY_BITS: [usize; 4] = [512, 1024, 2048, 4096];

/// A certificate as the trust lists and signed files use it.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    issuer: String,
    serial: Vec<u8>,
    not_before: SystemTime,
    not_after: SystemTime,
    public_key: PublicKey,
    /// The same key as PKCS#1 DER, as the certificate carries it (verification reads it).
    public_key_pkcs1: Vec<u8>,
    signature: Vec<u8>,
}

impl Certificate {
    /// Reads the first `CERTIFICATE` block of a PEM text.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let block = pem_block(text, "CERTIFICATE").ok_or_else(|| {
            Error::BadInput(format!(
                "no certificate found (no \"-----BEGIN CERTIFICATE-----\" block){}",
                pkcs12_hint(text)
            ))
        })?;
        let cert = x509_cert::Certificate::from_pem(block.as_bytes())
            .map_err(|e| Error::BadInput(format!("the certificate cannot be read: {e}")))?;
        Self::from_parsed(&cert)
    }

    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| Error::BadInput(format!("the certificate cannot be read: {e}")))?;
        Self::from_parsed(&cert)
    }

    fn from_parsed(cert: &x509_cert::Certificate) -> Result<Self, Error> {
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        let oid = spki.algorithm.oid.to_string();
        if oid != RSA_ENCRYPTION {
            let found = if oid == EC_PUBLIC_KEY {
                "an EC key".to_owned()
            } else {
                format!("a key of type {oid}")
            };
            return Err(Error::BadInput(format!(
                "the certificate holds {found}; phoneboot signs and encrypts with RSA \
                 (as CUCM's TFTP certificate does): use an RSA certificate"
            )));
        }
        let pkcs1 = spki.subject_public_key.raw_bytes();
        let public_key = PublicKey::from_pkcs1_der(pkcs1)
            .map_err(|e| Error::BadInput(format!("the certificate's RSA key is malformed: {e}")))?;
        check_bits(public_key.size() * 8)?;
        let der = cert
            .to_der()
            .map_err(|e| Error::BadInput(format!("the certificate cannot be encoded: {e}")))?;
        Ok(Self {
            der,
            subject: tbs.subject().to_string(),
            issuer: tbs.issuer().to_string(),
            serial: unsigned(tbs.serial_number().as_bytes()),
            not_before: tbs.validity().not_before.to_system_time(),
            not_after: tbs.validity().not_after.to_system_time(),
            public_key,
            public_key_pkcs1: pkcs1.to_vec(),
            signature: cert.signature().raw_bytes().to_vec(),
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn to_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.der)
    }

    /// The subject as an RFC 4514 string (what the trust lists name a signer by).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The serial number's bytes, as the certificate encodes them.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    pub fn serial_hex(&self) -> String {
        hex(&self.serial)
    }

    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The public key as PKCS#1 DER (a trust list's record tag 7).
    pub fn public_key_der(&self) -> Vec<u8> {
        self.public_key_pkcs1.clone()
    }

    /// The certificate's own signature (a trust list's record tag 8).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    pub fn key_bits(&self) -> usize {
        self.public_key.size() * 8
    }

    /// MD5 of the DER certificate in hex: the `certHash` of an encrypted phone's stub.
    pub fn md5_hex(&self) -> String {
        use md5::Digest as _;
        hex(&md5::Md5::digest(&self.der))
    }

    /// SHA-1 of the DER certificate in hex: how `security show` tells certificates apart.
    pub fn fingerprint(&self) -> String {
        hex(&HashAlg::Sha1.digest(&self.der))
    }

    /// Refuses a certificate outside its validity at `now`.
    pub fn check_valid_at(&self, now: SystemTime) -> Result<(), Error> {
        if now > self.not_after {
            return Err(Error::BadInput(format!(
                "the certificate {} expired on {}: make a new one (phoneboot security init \
                 --force) or import a current one",
                self.subject,
                date(self.not_after)
            )));
        }
        if now < self.not_before {
            return Err(Error::BadInput(format!(
                "the certificate {} is not valid before {}: check this machine's clock",
                self.subject,
                date(self.not_before)
            )));
        }
        Ok(())
    }

    /// Whether `signature` over `data` was made by this certificate's key.
    pub fn verify(&self, hash: HashAlg, data: &[u8], signature: &[u8]) -> Result<(), Error> {
        hash.verify(&self.public_key_pkcs1, data, signature)
    }

    /// Encrypts a short secret (an AES key) to this certificate's key, PKCS#1 v1.5.
    pub fn encrypt(&self, secret: &[u8]) -> Result<Vec<u8>, Error> {
        self.public_key
            .pkcs1v15_encrypt(secret)
            .map_err(|e| Error::Crypto(format!("encrypting to {}: {e}", self.subject)))
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("serial", &self.serial_hex())
            .finish_non_exhaustive()
    }
}

/// A private key and its certificate: what signs trust lists and files.
#[derive(Clone)]
pub struct Identity {
    cert: Certificate,
    key: PrivateKey,
}

impl fmt::Debug for Identity {
    // Never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY` PEM) with its certificate;
    /// both may be in one text. Refused: no key, an encrypted or non-RSA key, a key that is
    /// not the certificate's.
    pub fn from_pem(key_text: &str, cert_text: &str) -> Result<Self, Error> {
        let cert = Certificate::from_pem(cert_text)?;
        let key = read_key(key_text)?;
        if key.as_public_key() != cert.public_key() {
            return Err(Error::BadInput(format!(
                "the private key does not belong to the certificate {} (their public keys \
                 differ): give the key that was made with this certificate",
                cert.subject
            )));
        }
        Ok(Self { cert, key })
    }

    /// The key and certificate of a PKCS#12 file (what CUCM and most tools export), opened
    /// with `password`.
    pub fn from_pkcs12(data: &[u8], password: &str) -> Result<Self, Error> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            data,
            password,
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
        .map_err(|e| {
            Error::BadInput(format!(
                "the PKCS#12 file cannot be opened ({e}): check the password, or convert it \
                 with openssl pkcs12 -in FILE.p12 -nodes -out FILE.pem"
            ))
        })?;
        let (_, chain) = store.private_key_chain().ok_or_else(|| {
            Error::BadInput("the PKCS#12 file holds no private key with its certificate".into())
        })?;
        let cert = chain.certs().first().ok_or_else(|| {
            Error::BadInput("the PKCS#12 file's key comes without its certificate".into())
        })?;
        let cert = Certificate::from_der(cert.as_der())?;
        let key = PrivateKey::from_pkcs8_der(chain.key().as_der()).map_err(|e| {
            Error::BadInput(format!(
                "the PKCS#12 file's key cannot be read as an RSA key ({e}); phoneboot signs \
                 with RSA"
            ))
        })?;
        check_bits(key.size() * 8)?;
        if key.as_public_key() != cert.public_key() {
            return Err(Error::BadInput(format!(
                "the PKCS#12 file's key does not belong to its certificate {}",
                cert.subject
            )));
        }
        Ok(Self { cert, key })
    }

    /// A new RSA key of `bits` and a self-signed certificate for `common_name`, valid from a
    /// day before `now` (clocks differ) for `valid_for`. `unit` goes into the OU.
    pub fn generate(
        common_name: &str,
        unit: &str,
        bits: usize,
        now: SystemTime,
        valid_for: Duration,
    ) -> Result<Self, Error> {
        check_bits(bits)?;
        if bits < 2048 {
            return Err(Error::BadInput(format!(
                "a new key of {bits} bits would be too weak: use 2048 or 4096"
            )));
        }
        let key = PrivateKey::new(&mut getrandom::SysRng, bits)
            .map_err(|e| Error::Crypto(format!("making an RSA key: {e}")))?;
        Self::certify(key, common_name, unit, now, valid_for)
    }

    /// A self-signed certificate for an existing key (tests give fixed keys: making one in a
    /// debug build takes seconds).
    pub fn certify(
        key: PrivateKey,
        common_name: &str,
        unit: &str,
        now: SystemTime,
        valid_for: Duration,
    ) -> Result<Self, Error> {
        let crypto = |e: rcgen::Error| Error::Crypto(format!("making a certificate: {e}"));
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::Crypto(format!("encoding the key: {e}")))?;
        let pair = rcgen::KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256)
            .map_err(crypto)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        // Encoded O, OU, CN, so that the RFC 4514 string reads CN first.
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "phoneboot");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, unit);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let day = Duration::from_secs(86_400);
        params.not_before = offset(now.checked_sub(day).unwrap_or(UNIX_EPOCH));
        params.not_after = offset(now + valid_for);
        let mut serial = [0u8; 16];
        getrandom::fill(&mut serial).map_err(|e| Error::Crypto(format!("randomness: {e}")))?;
        serial[0] &= 0x7f; // a positive INTEGER
        serial[0] |= 0x40; // and always 16 bytes long
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let made = params.self_signed(&pair).map_err(crypto)?;
        let cert = Certificate::from_der(made.der())?;
        Ok(Self { cert, key })
    }

    pub fn cert(&self) -> &Certificate {
        &self.cert
    }

    /// The private key as PKCS#8 PEM, for the key file (0600) and nowhere else.
    pub fn key_pem(&self) -> Result<String, Error> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| Error::Crypto(format!("encoding the key: {e}")))
    }

    /// The private key as PKCS#8 DER, for the TLS listeners (6971, 6972) and nowhere else.
    pub fn key_pkcs8_der(&self) -> Result<Vec<u8>, Error> {
        self.key
            .to_pkcs8_der()
            .map(|der| der.as_bytes().to_vec())
            .map_err(|e| Error::Crypto(format!("encoding the key: {e}")))
    }

    /// RSA PKCS#1 v1.5 signature of `data`.
    pub fn sign(&self, hash: HashAlg, data: &[u8]) -> Result<Vec<u8>, Error> {
        hash.sign(&self.key, data)
    }

    /// Decrypts a secret encrypted to this identity's certificate (what a phone does with
    /// the AES key of its `.enc.sgn`).
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
        self.key
            .pkcs1v15_decrypt(ciphertext)
            .map_err(|_| Error::Crypto("the key was not encrypted to this certificate".into()))
    }
}

/// Reads an RSA private key from PEM text, telling each wrong kind apart.
pub fn read_key(text: &str) -> Result<PrivateKey, Error> {
    if pem_block(text, "ENCRYPTED PRIVATE KEY").is_some() {
        return Err(Error::BadInput(
            "the private key is encrypted: decrypt it first (openssl pkey -in KEY -out \
             PLAIN.pem) and import PLAIN.pem; phoneboot keeps it with 0600 permissions"
                .into(),
        ));
    }
    if pem_block(text, "EC PRIVATE KEY").is_some() {
        return Err(Error::BadInput(
            "the private key is an EC key; phoneboot signs with RSA: use the RSA key of \
             the TFTP certificate"
                .into(),
        ));
    }
    let bad =
        |e: &dyn fmt::Display| Error::BadInput(format!("the private key cannot be read: {e}"));
    let key = if let Some(block) = pem_block(text, "RSA PRIVATE KEY") {
        PrivateKey::from_pkcs1_pem(block).map_err(|e| bad(&e))?
    } else if let Some(block) = pem_block(text, "PRIVATE KEY") {
        PrivateKey::from_pkcs8_pem(block).map_err(|e| {
            let e = e.to_string();
            Error::BadInput(if e.contains(EC_PUBLIC_KEY) {
                "the private key is an EC key; phoneboot signs with RSA: use the RSA key of \
                 the TFTP certificate"
                    .to_owned()
            } else {
                format!(
                    "the private key cannot be read as an RSA key ({e}); phoneboot signs with RSA"
                )
            })
        })?
    } else {
        return Err(Error::BadInput(format!(
            "no private key found (no \"-----BEGIN PRIVATE KEY-----\" or \"-----BEGIN RSA \
             PRIVATE KEY-----\" block){}",
            pkcs12_hint(text)
        )));
    };
    check_bits(key.size() * 8)?;
    Ok(key)
}

fn check_bits(bits: usize) -> Result<(), Error> {
    if KEY_BITS.contains(&bits) {
        Ok(())
    } else {
        Err(Error::BadInput(format!(
            "an RSA key of {bits} bits cannot be named in a trust list (512, 1024, 2048 or \
             4096): use 2048"
        )))
    }
}

/// The first `-----BEGIN label-----` … `-----END label-----` block of `text`, whole.
pub(crate) fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(&text[start..stop])
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// A PKCS#12 file is binary; PEM is text. Say how to convert, since a file that is not text
/// is most likely one.
fn pkcs12_hint(text: &str) -> &'static str {
    if text.contains('\u{fffd}') || text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        "; this looks like a binary (PKCS#12 or DER) file: convert it with openssl pkcs12 \
         -in FILE.p12 -nodes -out FILE.pem (or openssl x509 -inform der)"
    } else {
        ""
    }
}

fn offset(at: SystemTime) -> time::OffsetDateTime {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn date(at: SystemTime) -> String {
    let t = offset(at);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// A serial number's DER INTEGER bytes in their minimal unsigned form (no leading 0x00 for
/// a high bit), as trust lists carry it.
fn unsigned(bytes: &[u8]) -> Vec<u8> {
    match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest.to_vec(),
        _ => bytes.to_vec(),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
