//! A secure cluster: the key store on disk ([`keystore`]) and what it serves — trust lists,
//! signed and encrypted files ([`serving`]). The formats are `phoneboot-secure`'s.

pub mod keystore;
pub mod serving;

pub use keystore::{Keys, Keystore, KeystoreError};
pub use serving::{SecureState, Secured};

use phoneboot_model::{Device, FieldError, SecurityMode};

impl crate::config::DatabaseConfig {
    /// Where the cluster's keys and certificates are kept: `<state_dir>/security`.
    pub fn security_dir(&self) -> std::path::PathBuf {
        self.state_dir.join("security")
    }
}

/// Whether a device's security mode can be served: the keys it needs exist. Refused with the
/// missing step named, so that no phone is configured into a mode it could never boot in.
pub fn check_mode(keystore: Option<&Keystore>, device: &Device) -> Result<(), FieldError> {
    if device.security_mode == SecurityMode::NonSecure {
        return Ok(());
    }
    let Some(keystore) = keystore.filter(|k| k.is_initialised()) else {
        return Err(FieldError::new(
            "security_mode",
            "the cluster has no signing keys, so a phone in this mode would refuse every \
             file: run phoneboot security init (or security import) first, or use non-secure",
        ));
    };
    if device.security_mode == SecurityMode::Encrypted && !keystore.has_phone(device.mac) {
        return Err(FieldError::new(
            "security_mode",
            format!(
                "an encrypted configuration is encrypted to the phone's own certificate, and \
                 none is stored for SEP{}: phoneboot security phone-cert SEP{} CERT.pem first \
                 (the phone's LSC or MIC), or use authenticated",
                device.mac, device.mac
            ),
        ));
    }
    Ok(())
}
