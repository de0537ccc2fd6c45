//! The cluster's keys and certificates on disk (`[database] security_dir`, by default
//! `<state_dir>/security`):
//!
//! ```text
//! sast.key sast.crt     the SAST: signs the trust lists
//! tftp.key tftp.crt     the TFTP certificate: signs every .sgn and .enc.sgn
//! next/…                the pair a rotation moves to (listed in the ITL meanwhile)
//! trust/ROLE-ID.crt     further records of the trust lists (ccm, capf, tvs, app-server)
//! phones/SEP<MAC>.crt   a phone's own certificate (LSC or MIC): what .enc.sgn encrypts to
//! ```
//!
//! Private keys are written 0600 in a 0700 directory, by a rename (never half-written), and a
//! key file that others may read is refused at load. Nothing here prints or exports a key.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use phoneboot_model::Mac;
use phoneboot_secure::{Certificate, Identity, Record, Role};

/// Ten years: what CUCM gives its self-signed certificates ... and a phone fleet's lifetime.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(10 * 365 * 86_400);
pub const DEFAULT_KEY_BITS: usize = 2048;

/// Why the key store could not be read or written; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("{path}: {error}")]
    Io { path: String, error: io::Error },
    #[error("{path}: {reason}")]
    Bad { path: String, reason: String },
    #[error("{0}")]
    Refused(String),
}

impl KeystoreError {
    fn io(path: &Path, error: io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            error,
        }
    }

    fn bad(path: &Path, reason: &dyn std::fmt::Display) -> Self {
        Self::Bad {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Which signing identity: the SAST (trust lists) or the TFTP certificate (files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Sast,
    Tftp,
}

impl Signing {
    /// As the trust lists name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sast => "SAST",
            Self::Tftp => "TFTP",
        }
    }

    fn stem(self) -> &'static str {
        match self {
            Self::Sast => "sast",
            Self::Tftp => "tftp",
        }
    }

    fn role(self) -> Role {
        match self {
            Self::Sast => Role::Sast,
            Self::Tftp => Role::Tftp,
        }
    }
}

/// A SAST and a TFTP identity.
#[derive(Debug, Clone)]
pub struct Pair {
    pub sast: Identity,
    pub tftp: Identity,
}

/// Everything the key store holds, loaded and checked.
#[derive(Debug, Clone)]
pub struct Keys {
    pub current: Pair,
    /// During a rotation: the pair to move to. The trust lists list both; the current pair
    /// still signs until the rotation is finished, so that phones holding the old list take
    /// the new one.
    pub next: Option<Pair>,
    /// Further trust-list records (CCM, CAPF, TVS, application servers).
    pub trust: Vec<Record>,
    pub phones: BTreeMap<Mac, Certificate>,
    /// The signing TFTP certificate's fingerprint: what a kept signature was made with.
    pub signer_id: String,
}

impl Keys {
    /// The records of `ITLFile.tlv`: the SAST and TFTP certificates (both pairs during a
    /// rotation; at most two SAST records, spec §1.9), then the configured ones.
    pub fn itl_records(&self) -> Vec<Record> {
        let mut records = vec![Record::new(Role::Sast, self.current.sast.cert().clone())];
        if let Some(next) = &self.next {
            records.push(Record::new(Role::Sast, next.sast.cert().clone()));
        }
        records.push(Record::new(Role::Tftp, self.current.tftp.cert().clone()));
        if let Some(next) = &self.next {
            records.push(Record::new(Role::Tftp, next.tftp.cert().clone()));
        }
        records.extend(self.trust.iter().cloned());
        records
    }

    pub fn phone(&self, mac: Mac) -> Option<&Certificate> {
        self.phones.get(&mac)
    }
}

/// The key store's directory.
#[derive(Debug, Clone)]
pub struct Keystore {
    dir: PathBuf,
}

impl Keystore {
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the cluster has signing keys (`security init` or `import` ran).
    pub fn is_initialised(&self) -> bool {
        self.dir.join("sast.crt").exists() && self.dir.join("tftp.crt").exists()
    }

    /// Whether a phone's certificate is stored.
    pub fn has_phone(&self, mac: Mac) -> bool {
        self.phone_path(mac).exists()
    }

    /// Reads everything; `None` when the cluster has no keys. Expired or mismatched keys are
    /// errors at load: a server that signs with them would lock every phone out.
    pub fn load(&self, now: SystemTime) -> Result<Option<Keys>, KeystoreError> {
        if !self.is_initialised() {
            if self.dir.join("sast.crt").exists() || self.dir.join("tftp.crt").exists() {
                return Err(KeystoreError::Refused(format!(
                    "{} holds only one of the SAST and TFTP identities: run phoneboot \
                     security init to make the missing one",
                    self.dir.display()
                )));
            }
            return Ok(None);
        }
        let current = self.load_pair(&self.dir, now)?;
        let next_dir = self.dir.join("next");
        let next = if next_dir.join("tftp.crt").exists() {
            Some(self.load_pair(&next_dir, now)?)
        } else {
            None
        };
        let mut trust = Vec::new();
        for (path, text) in read_dir_texts(&self.dir.join("trust"), "crt")? {
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let role = name
                .split_once('-')
                .and_then(|(role, _)| Role::parse(role))
                .ok_or_else(|| {
                    KeystoreError::bad(&path, &"the file name does not start with a role")
                })?;
            let cert = Certificate::from_pem(&text).map_err(|e| KeystoreError::bad(&path, &e))?;
            trust.push(Record::new(role, cert));
        }
        let mut phones = BTreeMap::new();
        for (path, text) in read_dir_texts(&self.dir.join("phones"), "crt")? {
            let mac = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.strip_prefix("SEP"))
                .and_then(|s| s.parse::<Mac>().ok())
                .ok_or_else(|| KeystoreError::bad(&path, &"not named SEP<MAC>.crt"))?;
            let cert = Certificate::from_pem(&text).map_err(|e| KeystoreError::bad(&path, &e))?;
            phones.insert(mac, cert);
        }
        let signer_id = current.tftp.cert().fingerprint();
        Ok(Some(Keys {
            current,
            next,
            trust,
            phones,
            signer_id,
        }))
    }

    fn load_pair(&self, dir: &Path, now: SystemTime) -> Result<Pair, KeystoreError> {
        let load = |which: Signing| -> Result<Identity, KeystoreError> {
            let key_path = dir.join(format!("{}.key", which.stem()));
            let cert_path = dir.join(format!("{}.crt", which.stem()));
            let mode = fs::metadata(&key_path)
                .map_err(|e| KeystoreError::io(&key_path, e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeystoreError::bad(
                    &key_path,
                    &format_args!(
                        "the private key may be read by others (mode {:o}): chmod 600 it",
                        mode & 0o777
                    ),
                ));
            }
            let key = fs::read_to_string(&key_path).map_err(|e| KeystoreError::io(&key_path, e))?;
            let cert =
                fs::read_to_string(&cert_path).map_err(|e| KeystoreError::io(&cert_path, e))?;
            let identity =
                Identity::from_pem(&key, &cert).map_err(|e| KeystoreError::bad(&cert_path, &e))?;
            identity
                .cert()
                .check_valid_at(now)
                .map_err(|e| KeystoreError::bad(&cert_path, &e))?;
            Ok(identity)
        };
        Ok(Pair {
            sast: load(Signing::Sast)?,
            tftp: load(Signing::Tftp)?,
        })
    }

    /// Makes the identities that are missing (all of them with `force`). Returns which
    /// were made.
    pub fn init(
        &self,
        cluster: &str,
        bits: usize,
        force: bool,
        now: SystemTime,
    ) -> Result<Vec<Signing>, KeystoreError> {
        let mut made = Vec::new();
        for which in [Signing::Sast, Signing::Tftp] {
            if !force && self.dir.join(format!("{}.crt", which.stem())).exists() {
                continue;
            }
            let identity = generate(cluster, which, bits, now)?;
            self.write_identity(&self.dir, which, &identity)?;
            made.push(which);
        }
        Ok(made)
    }

    /// Takes an existing cluster's identity (its TFTP certificate, and its SAST if given),
    /// so that phones holding that cluster's trust list accept what this one signs.
    pub fn import(
        &self,
        roles: &[Signing],
        key_pem: &str,
        cert_pem: &str,
        now: SystemTime,
    ) -> Result<Identity, KeystoreError> {
        let identity = Identity::from_pem(key_pem, cert_pem)
            .map_err(|e| KeystoreError::Refused(e.to_string()))?;
        self.take(roles, identity, now)
    }

    /// [`Keystore::import`] from a PKCS#12 file.
    pub fn import_pkcs12(
        &self,
        roles: &[Signing],
        data: &[u8],
        password: &str,
        now: SystemTime,
    ) -> Result<Identity, KeystoreError> {
        let identity = Identity::from_pkcs12(data, password)
            .map_err(|e| KeystoreError::Refused(e.to_string()))?;
        self.take(roles, identity, now)
    }

    fn take(
        &self,
        roles: &[Signing],
        identity: Identity,
        now: SystemTime,
    ) -> Result<Identity, KeystoreError> {
        identity
            .cert()
            .check_valid_at(now)
            .map_err(|e| KeystoreError::Refused(e.to_string()))?;
        for which in roles {
            self.write_identity(&self.dir, *which, &identity)?;
        }
        Ok(identity)
    }

    /// Starts a rotation: a new pair in `next/`, listed in the trust lists beside the
    /// current one, which still signs.
    pub fn begin_rotation(
        &self,
        cluster: &str,
        bits: usize,
        now: SystemTime,
    ) -> Result<Pair, KeystoreError> {
        if !self.is_initialised() {
            return Err(KeystoreError::Refused(
                "nothing to rotate: run phoneboot security init first".into(),
            ));
        }
        let next_dir = self.dir.join("next");
        if next_dir.join("tftp.crt").exists() {
            return Err(KeystoreError::Refused(
                "a rotation is under way: finish it with phoneboot security rotate --finish \
                 (once the phones hold the new trust list)"
                    .into(),
            ));
        }
        let pair = Pair {
            sast: generate(cluster, Signing::Sast, bits, now)?,
            tftp: generate(cluster, Signing::Tftp, bits, now)?,
        };
        self.write_identity(&next_dir, Signing::Sast, &pair.sast)?;
        self.write_identity(&next_dir, Signing::Tftp, &pair.tftp)?;
        Ok(pair)
    }

    /// Ends a rotation: the new pair signs from now on; the old one is kept in `retired/`.
    pub fn finish_rotation(&self) -> Result<(), KeystoreError> {
        let next_dir = self.dir.join("next");
        if !next_dir.join("tftp.crt").exists() {
            return Err(KeystoreError::Refused(
                "no rotation is under way: start one with phoneboot security rotate".into(),
            ));
        }
        let retired = self.dir.join("retired");
        make_dir(&retired)?;
        for stem in ["sast", "tftp"] {
            for ext in ["key", "crt"] {
                let name = format!("{stem}.{ext}");
                let old = self.dir.join(&name);
                fs::rename(&old, retired.join(&name)).map_err(|e| KeystoreError::io(&old, e))?;
                let new = next_dir.join(&name);
                fs::rename(&new, &old).map_err(|e| KeystoreError::io(&new, e))?;
            }
        }
        fs::remove_dir(&next_dir).map_err(|e| KeystoreError::io(&next_dir, e))
    }

    /// Adds a certificate to the trust lists in `role`. Returns its file.
    pub fn add_trust(&self, role: Role, cert_pem: &str) -> Result<PathBuf, KeystoreError> {
        if matches!(role, Role::Sast | Role::Tftp) {
            return Err(KeystoreError::Refused(format!(
                "the {role} records come from the cluster's own identities: use phoneboot \
                 security import --as {role}"
            )));
        }
        let cert =
            Certificate::from_pem(cert_pem).map_err(|e| KeystoreError::Refused(e.to_string()))?;
        let dir = self.dir.join("trust");
        make_dir(&dir)?;
        let path = dir.join(format!("{role}-{}.crt", &cert.fingerprint()[..16]));
        write_atomically(&path, cert.to_pem().as_bytes(), 0o644)?;
        Ok(path)
    }

    pub fn remove_trust(&self, id: &str) -> Result<PathBuf, KeystoreError> {
        for (path, _) in read_dir_texts(&self.dir.join("trust"), "crt")? {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            if stem
                .split_once('-')
                .is_some_and(|(_, fp)| fp.starts_with(id))
                || stem == id
            {
                fs::remove_file(&path).map_err(|e| KeystoreError::io(&path, e))?;
                return Ok(path);
            }
        }
        Err(KeystoreError::Refused(format!(
            "no trust-list record {id:?}: phoneboot security show lists them"
        )))
    }

    /// Stores a phone's certificate (what its `.enc.sgn` is encrypted to).
    pub fn set_phone(
        &self,
        mac: Mac,
        cert_pem: &str,
        now: SystemTime,
    ) -> Result<Certificate, KeystoreError> {
        let cert =
            Certificate::from_pem(cert_pem).map_err(|e| KeystoreError::Refused(e.to_string()))?;
        cert.check_valid_at(now)
            .map_err(|e| KeystoreError::Refused(e.to_string()))?;
        let dir = self.dir.join("phones");
        make_dir(&dir)?;
        write_atomically(&self.phone_path(mac), cert.to_pem().as_bytes(), 0o644)?;
        Ok(cert)
    }

    pub fn remove_phone(&self, mac: Mac) -> Result<(), KeystoreError> {
        let path = self.phone_path(mac);
        fs::remove_file(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                KeystoreError::Refused(format!("no certificate is stored for SEP{mac}"))
            }
            _ => KeystoreError::io(&path, e),
        })
    }

    fn phone_path(&self, mac: Mac) -> PathBuf {
        self.dir.join("phones").join(format!("SEP{mac}.crt"))
    }

    fn write_identity(
        &self,
        dir: &Path,
        which: Signing,
        identity: &Identity,
    ) -> Result<(), KeystoreError> {
        make_dir(dir)?;
        let key = identity
            .key_pem()
            .map_err(|e| KeystoreError::Refused(e.to_string()))?;
        // The key first: a certificate without its key would read as "initialised".
        write_atomically(
            &dir.join(format!("{}.key", which.stem())),
            key.as_bytes(),
            0o600,
        )?;
        write_atomically(
            &dir.join(format!("{}.crt", which.stem())),
            identity.cert().to_pem().as_bytes(),
            0o644,
        )
    }
}

fn generate(
    cluster: &str,
    which: Signing,
    bits: usize,
    now: SystemTime,
) -> Result<Identity, KeystoreError> {
    let role = which.role();
    Identity::generate(
        &format!("{cluster} {}", role.as_str().to_uppercase()),
        role.as_str(),
        bits,
        now,
        DEFAULT_VALIDITY,
    )
    .map_err(|e| KeystoreError::Refused(e.to_string()))
}

fn make_dir(dir: &Path) -> Result<(), KeystoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| KeystoreError::io(dir, e))
}

/// Writes `bytes` to a temporary file beside `path` with `mode`, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeystoreError> {
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        KeystoreError::io(path, e)
    })
}

/// The `*.ext` files of `dir` with their text, sorted by name; none when it does not exist.
fn read_dir_texts(dir: &Path, ext: &str) -> Result<Vec<(PathBuf, String)>, KeystoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KeystoreError::io(dir, e)),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).map_err(|e| KeystoreError::io(&p, e))?;
            Ok((p, text))
        })
        .collect()
}
