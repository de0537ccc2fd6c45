//! Trust lists: `ITLFile.tlv` (and `ITLSEP<MAC>.tlv`, the same list for one phone) and
//! `CTLFile.tlv` (spec §1.9). A header of version 1.2 signed by a SAST certificate, then one
//! record per certificate and the role it is trusted for.

use std::fmt;
use std::net::Ipv4Addr;

use crate::identity::Certificate;
use crate::signed::{Header, SignedFile, Signer, write_header};
use crate::tlv::{Reader, Writer};
use crate::{Error, HashAlg};

/// A trust list's header version.
pub const TRUST_LIST_VERSION: [u8; 2] = [1, 2];

const RECORD_LENGTH: u8 = 1;
const DNS_NAME: u8 = 2;
const SUBJECT: u8 = 3;
const ROLE: u8 = 4;
const ISSUER: u8 = 5;
const SERIAL: u8 = 6;
const PUBLIC_KEY: u8 = 7;
const CERT_SIGNATURE: u8 = 8;
const CERTIFICATE: u8 = 9;
const IP_ADDRESS: u8 = 10;

/// What a certificate is trusted for (record tag 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// System Administrator Security Token: signs the trust lists themselves.
    Sast,
    Ccm,
    CcmTftp,
    /// Signs configuration files.
    Tftp,
    Capf,
    AppServer,
    Tvs,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Sast,
        Role::Ccm,
        Role::CcmTftp,
        Role::Tftp,
        Role::Capf,
        Role::AppServer,
        Role::Tvs,
    ];

    pub fn code(self) -> u16 {
        match self {
            Self::Sast => 0,
            Self::Ccm => 1,
            Self::CcmTftp => 2,
            Self::Tftp => 3,
            Self::Capf => 4,
            Self::AppServer => 7,
            Self::Tvs => 21,
        }
    }

    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The spelling of configuration and the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sast => "sast",
            Self::Ccm => "ccm",
            Self::CcmTftp => "ccm-tftp",
            Self::Tftp => "tftp",
            Self::Capf => "capf",
            Self::AppServer => "app-server",
            Self::Tvs => "tvs",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(text))
    }

    /// Whether a file signed by a certificate in this role is a configuration a phone takes.
    pub fn signs_files(self) -> bool {
        matches!(self, Self::Tftp | Self::CcmTftp)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One certificate in a trust list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub role: Role,
    pub cert: Certificate,
    pub dns_name: Option<String>,
    pub ip: Option<Ipv4Addr>,
}

impl Record {
    pub fn new(role: Role, cert: Certificate) -> Self {
        Self {
            role,
            cert,
            dns_name: None,
            ip: None,
        }
    }

    fn write(&self, out: &mut Writer) -> Result<(), Error> {
        let mut w = Writer::default();
        if let Some(dns) = &self.dns_name {
            w.text(DNS_NAME, dns)?;
        }
        w.text(SUBJECT, self.cert.subject())?;
        w.u16(ROLE, self.role.code())?;
        w.text(ISSUER, self.cert.issuer())?;
        w.put(SERIAL, self.cert.serial())?;
        w.put(PUBLIC_KEY, &self.cert.public_key_der())?;
        w.put(CERT_SIGNATURE, self.cert.signature())?;
        w.put(CERTIFICATE, self.cert.der())?;
        if let Some(ip) = self.ip {
            w.put(IP_ADDRESS, &ip.octets())?;
        }
        let body = w.into_bytes();
        // The record length counts its own element (5 bytes) too.
        let total = body.len() + 5;
        let total = u16::try_from(total).map_err(|_| Error::TooLong {
            what: "a trust list record",
            len: total,
        })?;
        out.u16(RECORD_LENGTH, total)?;
        out.extend(&body);
        Ok(())
    }
}

/// Builds a trust list: the header signed by `signer` (a SAST), then `records`. `file_name`
/// is what the header names, `ITLFile.tlv` or `CTLFile.tlv` (a per-phone `ITLSEP<MAC>.tlv`
/// says `ITLFile.tlv` inside, spec §1.9). `signer_version` 1.1 tells phones to fetch their
/// configuration over HTTPS (spec §1.9, §6).
pub fn build(
    signer: Signer<'_>,
    file_name: &str,
    timestamp: u32,
    signer_version: [u8; 2],
    records: &[Record],
) -> Result<Vec<u8>, Error> {
    let mut body = Writer::default();
    for record in records {
        record.write(&mut body)?;
    }
    let body = body.into_bytes();
    let mut file = write_header(
        signer,
        &Header {
            version: TRUST_LIST_VERSION,
            signer_version: Some(signer_version),
            file_name,
            timestamp,
            encryption: None,
        },
        &body,
    )?;
    file.extend_from_slice(&body);
    Ok(file)
}

/// A trust list read back.
#[derive(Debug, Clone)]
pub struct TrustList {
    pub file_name: String,
    pub timestamp: u32,
    pub signer_version: Option<[u8; 2]>,
    pub hash: HashAlg,
    pub records: Vec<Record>,
    /// Who signed it (name, serial), checked by [`TrustList::verify_with`].
    signer_name: String,
    signer_serial: Vec<u8>,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

impl TrustList {
    /// Reads a trust list and every record's certificate. A record whose fields disagree
    /// with its own certificate is refused: a phone trusts the certificate it holds.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let header = SignedFile::parse(bytes)?;
        if header.version != TRUST_LIST_VERSION {
            return Err(Error::malformed(
                "the trust list's version",
                format!("is {}.{}, not 1.2", header.version[0], header.version[1]),
            ));
        }
        let mut records = Vec::new();
        let mut elements = Reader::records(bytes, header.header_len, bytes.len());
        while let Some(first) = elements.next() {
            let first = first?;
            if first.tag != RECORD_LENGTH {
                return Err(Error::malformed(
                    "a record",
                    "does not start with its length",
                ));
            }
            let end = first.span.0 + usize::from(first.u16("a record's length")?);
            if end > bytes.len() || end <= first.span.1 {
                return Err(Error::malformed(
                    "a record's length",
                    "runs past the end of the file",
                ));
            }
            let (mut role, mut cert, mut dns_name, mut ip, mut subject) =
                (None, None, None, None, String::new());
            for element in Reader::records(bytes, first.span.1, end) {
                let element = element?;
                match element.tag {
                    DNS_NAME => dns_name = Some(element.text()).filter(|s| !s.is_empty()),
                    SUBJECT => subject = element.text(),
                    ROLE => {
                        let code = element.u16("a record's role")?;
                        role = Some(Role::from_code(code).ok_or_else(|| {
                            Error::malformed("a record's role", format!("{code} is unknown"))
                        })?);
                    }
                    CERTIFICATE => cert = Some(Certificate::from_der(element.value)?),
                    IP_ADDRESS => {
                        ip = <[u8; 4]>::try_from(element.value).ok().map(Ipv4Addr::from);
                    }
                    _ => {}
                }
            }
            let (Some(role), Some(cert)) = (role, cert) else {
                return Err(Error::malformed(
                    "a record",
                    "has no role or no certificate",
                ));
            };
            if subject != cert.subject() {
                return Err(Error::malformed(
                    "a record's subject",
                    format!("{subject:?} is not its certificate's {:?}", cert.subject()),
                ));
            }
            records.push(Record {
                role,
                cert,
                dns_name,
                ip,
            });
            elements = Reader::records(bytes, end, bytes.len());
        }
        Ok(Self {
            file_name: header.file_name.clone(),
            timestamp: header.timestamp,
            signer_version: header.signer_version,
            hash: header.hash,
            records,
            signer_name: header.signer.name.clone(),
            signer_serial: header.signer.serial.clone(),
            signed: header.signed_bytes(),
            signature: header.signature().to_vec(),
        })
    }

    /// The list's signature: different for every list a SAST signed, so it names the list.
    pub fn id(&self) -> &[u8] {
        &self.signature
    }

    /// The record of the certificate that signed this list (named by subject and serial).
    pub fn signer(&self) -> Option<&Record> {
        self.find(&self.signer_name, &self.signer_serial)
    }

    /// The record of `name` and `serial`, if the list holds it.
    pub fn find(&self, name: &str, serial: &[u8]) -> Option<&Record> {
        self.records
            .iter()
            .find(|r| r.cert.subject() == name && r.cert.serial() == serial)
    }

    /// Checks that this list is signed by a SAST of `trusted` (the list a phone holds; a
    /// phone without one trusts the first list it gets, signed by a SAST of its own).
    pub fn verify_with(&self, trusted: &TrustList) -> Result<(), Error> {
        let untrusted = || Error::Untrusted {
            signer: self.signer_name.clone(),
            serial: crate::identity::hex(&self.signer_serial),
            role: "SAST",
        };
        let sast = trusted
            .find(&self.signer_name, &self.signer_serial)
            .filter(|r| r.role == Role::Sast)
            .ok_or_else(untrusted)?;
        sast.cert
            .verify(self.hash, &self.signed, &self.signature)
            .map_err(|_| Error::BadSignature {
                signer: self.signer_name.clone(),
            })
    }

    /// Checks that `file` is signed by a certificate this list trusts to sign files.
    pub fn verify_file(&self, file: &SignedFile<'_>) -> Result<(), Error> {
        let record = self
            .find(&file.signer.name, &file.signer.serial)
            .filter(|r| r.role.signs_files())
            .ok_or_else(|| Error::Untrusted {
                signer: file.signer.name.clone(),
                serial: crate::identity::hex(&file.signer.serial),
                role: "TFTP",
            })?;
        file.verify(&record.cert)
    }
}
