//! Service and enterprise parameters.

use serde::{Deserialize, Serialize};

use super::{Protocol, Urls};
use crate::error::{FieldError, Valid};
use crate::value;

/// Service parameter "Build CNF Files".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildCnf {
    /// `.cnf` only for the device types of the seed's Table 1.
    #[default]
    Selective,
    /// `.cnf` for every device.
    All,
    /// No `.cnf` at all.
    None,
}

/// Enterprise parameter "Multiple Login Behavior": what a second Extension Mobility login of
/// a user already logged in elsewhere does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MultipleLogin {
    /// Refused (CUCM's default).
    #[default]
    NotAllowed,
    /// The user is logged in on both devices.
    Allowed,
    /// The user is logged out of the other device.
    AutoLogout,
}

/// Enterprise parameter "TFTP File Signature Algorithm": the hash of every signature on
/// `.sgn`, `.enc.sgn` and trust lists. SHA-1 is the default because every phone model
/// checks it; SHA-512 only newer firmware (spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileSignatureAlgorithm {
    #[default]
    Sha1,
    Sha512,
}

/// Service and enterprise parameters (one row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub build_cnf: BuildCnf,
    #[serde(default = "yes")]
    pub auto_registration: bool,
    #[serde(default = "sccp")]
    pub auto_registration_protocol: Protocol,
    #[serde(default = "max_serving_count")]
    pub max_serving_count: u32,
    /// Enterprise default phone URLs.
    #[serde(default)]
    pub urls: Urls,
    /// `sshUserId`/`sshPassword` written for phones that take them (empty: none).
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub ssh_user: String,
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub ssh_password: String,
    /// Extension Mobility's "Multiple Login Behavior".
    #[serde(default)]
    pub em_multiple_login: MultipleLogin,
    /// "TFTP File Signature Algorithm".
    #[serde(default)]
    pub file_signature_algorithm: FileSignatureAlgorithm,
}

fn yes() -> bool {
    true
}
fn sccp() -> Protocol {
    Protocol::Sccp
}
fn max_serving_count() -> u32 {
    200
}

impl Default for Params {
    fn default() -> Self {
        Self {
            build_cnf: BuildCnf::Selective,
            auto_registration: true,
            auto_registration_protocol: Protocol::Sccp,
            max_serving_count: max_serving_count(),
            urls: Urls::default(),
            ssh_user: String::new(),
            ssh_password: String::new(),
            em_multiple_login: MultipleLogin::NotAllowed,
            file_signature_algorithm: FileSignatureAlgorithm::Sha1,
        }
    }
}

impl Params {
    pub fn validate(&self) -> Valid {
        if !(1..=100_000).contains(&self.max_serving_count) {
            return Err(FieldError::new("max_serving_count", "must be 1 to 100000"));
        }
        value::text("ssh_user", &self.ssh_user, 50)?;
        value::text("ssh_password", &self.ssh_password, 50)?;
        self.urls.validate()
    }
}
