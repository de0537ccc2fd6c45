//! The device database as every writer uses it — the CLI, the CSV import, the admin API and
//! every node of a cluster: the one place the rules of a write live.
//!
//! A write is checked in three layers, each in one place:
//!
//! 1. the model: every value of the object (`Object::validate`, field limits, catalogue);
//! 2. the files: every file the object lands in can be built as a phone reads it
//!    (`phoneboot_render::check`, on a snapshot with the change applied);
//! 3. the database, inside the write's transaction: an insert finds no object, an update or
//!    delete finds the version it was made against, every name used exists, nothing deleted
//!    is in use, a MAC belongs to one device (the store's [`Violation`]s, said here as
//!    [`WriteError`]s that name the field).
//!
//! The rules of the domain itself are here too: what a device named by its MAC is called,
//! the default protocol, that a name never changes (but a phone's MAC may: it is replaced in
//! place), Extension Mobility's login rules, and what an import may replace.

mod error;
pub mod exchange;
mod write;

use std::path::Path;
use std::sync::Arc;

use phoneboot_model::{Catalogue, Kind, Mac, Object, PARAMS_KEY, Params, Snapshot};
use phoneboot_store::{Actor, Create, Location, Store, StoreError, Stored, Version, Write};

pub use error::WriteError;
pub use phoneboot_store::Violation;
pub use write::{Refused, What, Written, key_field};

use crate::config::DatabaseConfig;

/// Why the database could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the device database {location} does not exist{hint}")]
    Absent { location: Location, hint: String },
    #[error("cannot open the device database {location}: {error}")]
    Open {
        location: Location,
        error: StoreError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("model catalogue {path}: {reason}")]
    Catalogue { path: String, reason: String },
}

impl DbError {
    /// The database did not answer (see [`StoreError::is_unreachable`]).
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Open { error, .. } | Self::Store(error) => error.is_unreachable(),
            _ => false,
        }
    }
}

/// The database a server is following now, shared by the follower (which changes it when a
/// node started from its copy reaches the real one), the admin routes and shutdown.
#[derive(Debug, Clone, Default)]
pub struct Slot(Arc<std::sync::RwLock<Option<Database>>>);

impl Slot {
    pub fn new(database: Option<Database>) -> Self {
        Self(Arc::new(std::sync::RwLock::new(database)))
    }

    pub fn get(&self) -> Option<Database> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts `database` in; the one it replaces.
    pub fn replace(&self, database: Database) -> Option<Database> {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .replace(database)
    }
}

/// The store plus the model catalogue it is read with.
#[derive(Debug, Clone)]
pub struct Database {
    store: Arc<dyn Store>,
    catalogue: Arc<Catalogue>,
    /// The cluster's key store: a device's security mode needs the keys it names.
    keystore: Option<crate::security::Keystore>,
    /// Who writes through this handle, for the audit log.
    actor: Actor,
}

/// The catalogue: the built-in one, extended by the operator's file if configured.
pub fn catalogue(models: Option<&Path>) -> Result<Arc<Catalogue>, DbError> {
    let mut catalogue = Catalogue::builtin().clone();
    if let Some(path) = models {
        let err = |reason: String| DbError::Catalogue {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        catalogue.extend(&text).map_err(|e| err(e.to_string()))?;
    }
    Ok(Arc::new(catalogue))
}

impl Database {
    /// Opens the database of `config`; `create` says whether a missing one may be made.
    pub async fn open(config: &DatabaseConfig, create: Create) -> Result<Self, DbError> {
        let catalogue = catalogue(config.models.as_deref())?;
        let location = &config.location;
        let store = phoneboot_store::open(location, create)
            .await
            .map_err(|error| match error {
                StoreError::Absent(_) => DbError::Absent {
                    location: location.clone(),
                    hint: String::new(),
                },
                error => DbError::Open {
                    location: location.clone(),
                    error,
                },
            })?;
        Ok(Self {
            store,
            catalogue,
            keystore: Some(crate::security::Keystore::at(config.security_dir())),
            actor: Actor::default(),
        })
    }

    /// A database over a store opened elsewhere (no key store: secure modes are refused).
    pub fn new(store: Arc<dyn Store>, catalogue: Arc<Catalogue>) -> Self {
        Self {
            store,
            catalogue,
            keystore: None,
            actor: Actor::default(),
        }
    }

    /// The same database, its writes logged as made `by` (an account from an address, a
    /// command).
    #[must_use]
    pub fn by(&self, actor: Actor) -> Self {
        Self {
            actor,
            ..self.clone()
        }
    }

    /// Who writes through this handle.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The key store secure devices are checked against.
    #[must_use]
    pub fn with_keystore(mut self, keystore: crate::security::Keystore) -> Self {
        self.keystore = Some(keystore);
        self
    }

    pub fn keystore(&self) -> Option<&crate::security::Keystore> {
        self.keystore.as_ref()
    }

    /// Every rule a file a phone reads must obey, for `object` in `context`: the builder's,
    /// and for a device the keys its security mode needs.
    pub(crate) fn check_files(
        &self,
        context: &phoneboot_model::Snapshot,
        object: &phoneboot_model::Object,
    ) -> Result<(), phoneboot_model::FieldError> {
        phoneboot_render::check(context, object)?;
        if let phoneboot_model::Object::Device(device) = object {
            crate::security::check_mode(self.keystore.as_ref(), device)?;
            // Only SEP<MAC>.cnf.xml has an encrypted form (spec §1.10).
            if device.security_mode == phoneboot_model::SecurityMode::Encrypted
                && !phoneboot_render::device_files(context, device)
                    .contains(&phoneboot_render::Built::SepXml(device.mac))
            {
                return Err(phoneboot_model::FieldError::new(
                    "security_mode",
                    "only a phone that reads SEP<MAC>.cnf.xml takes an encrypted configuration; \
                     this device's files have no encrypted form: use authenticated",
                ));
            }
        }
        Ok(())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn location(&self) -> &Location {
        self.store.location()
    }

    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.catalogue
    }

    /// Every object, at one version.
    pub async fn snapshot(&self) -> Result<(Snapshot, Version), DbError> {
        Ok(phoneboot_store::snapshot(&*self.store, Arc::clone(&self.catalogue)).await?)
    }

    /// The key an object of `kind` is stored under when a person names it `name`: a device
    /// named by its MAC (any notation) is `SEP<MAC>`; the parameters have one key.
    pub fn key_of(kind: Kind, name: &str) -> String {
        match kind {
            Kind::Params => PARAMS_KEY.to_owned(),
            Kind::Device => match name.parse::<Mac>() {
                Ok(mac) => format!("SEP{mac}"),
                Err(_) => name.to_owned(),
            },
            _ => name.to_owned(),
        }
    }

    /// One object, named as a person names it. The parameters always exist (their defaults
    /// until first set, at version 0).
    pub async fn get(&self, kind: Kind, name: &str) -> Result<Stored, WriteError> {
        let key = Self::key_of(kind, name);
        match self.store.get(kind, &key).await? {
            Some(stored) => Ok(stored),
            None if kind == Kind::Params => Ok(Stored {
                object: Object::Params(Params::default()),
                version: 0,
            }),
            None => Err(WriteError::NotFound { kind, key }),
        }
    }

    /// Every object of `kind`, in name order.
    pub async fn list(&self, kind: Kind) -> Result<Vec<Stored>, DbError> {
        Ok(self.store.list(kind).await?)
    }

    /// A consistent copy into `to` (a new file), taken while serving.
    pub async fn backup(&self, to: &Path) -> Result<(), DbError> {
        Ok(self.store.backup(to).await?)
    }

    /// Makes this database hold exactly what `backup` holds, in one write: a server following
    /// it takes the change in like any other, and the change feed goes on (versions are not
    /// rewound). Everything restored is checked as any write is.
    pub async fn restore(&self, backup: &Database) -> Result<Version, Refused> {
        let (from, _) = backup.store.load().await.map_err(WriteError::from)?;
        let (here, _) = self.store.load().await.map_err(WriteError::from)?;
        let key = |o: &Object| (o.kind(), o.key().to_ascii_lowercase());
        let wanted: std::collections::HashMap<(Kind, String), Object> = from
            .into_iter()
            .map(|s| (key(&s.object), s.object))
            .collect();
        let present: std::collections::HashMap<(Kind, String), Object> = here
            .into_iter()
            .map(|s| (key(&s.object), s.object))
            .collect();
        let delete = |o: &Object| Write::Delete {
            kind: o.kind(),
            key: o.key().to_owned(),
            expected: None,
        };
        let mut writes = Vec::new();
        // Devices that differ go first and come back last: nothing names a device, and a MAC
        // moving between two of them must be free when it is taken.
        let mut devices_here: Vec<&Object> = present
            .values()
            .filter(|o| o.kind() == Kind::Device && wanted.get(&key(o)) != Some(*o))
            .collect();
        devices_here.sort_by_key(|o| key(o));
        writes.extend(devices_here.into_iter().map(delete));
        let mut puts: Vec<&Object> = wanted
            .values()
            .filter(|o| present.get(&key(o)) != Some(*o))
            .collect();
        puts.sort_by_key(|o| key(o));
        writes.extend(puts.into_iter().map(|o| {
            if o.kind() == Kind::Device {
                Write::Insert(o.clone())
            } else {
                Write::Put(o.clone())
            }
        }));
        // Then what the backup does not have, users before what they use.
        let mut gone: Vec<&Object> = present
            .values()
            .filter(|o| o.kind() != Kind::Device && !wanted.contains_key(&key(o)))
            .collect();
        gone.sort_by_key(|o| std::cmp::Reverse(key(o)));
        writes.extend(gone.into_iter().map(delete));
        let version = if writes.is_empty() {
            self.store.head().await.map_err(WriteError::from)?
        } else {
            self.apply(writes, phoneboot_store::Mode::Commit).await?
        };
        self.restore_files(backup).await.map_err(WriteError::from)?;
        Ok(version)
    }

    /// Makes the stored files those of `backup`, each with the time it was stored.
    async fn restore_files(&self, backup: &Database) -> Result<(), StoreError> {
        let (wanted, _) = backup.store.files().await?;
        let (present, _) = self.store.files().await?;
        for file in &wanted {
            if present.contains(file) {
                continue;
            }
            let content = backup.store.read_file(&file.digest).await?.ok_or_else(|| {
                StoreError::Differs(format!(
                    "{}: its content is missing from the backup",
                    file.name
                ))
            })?;
            self.store
                .put_file(&file.name, &content, Some(file.at))
                .await?;
        }
        for file in present {
            if !wanted
                .iter()
                .any(|w| w.name.eq_ignore_ascii_case(&file.name))
            {
                self.store.remove_file(&file.name).await?;
            }
        }
        Ok(())
    }

    /// Integrity problems of the database and of its objects, none when it is sound: the
    /// store's own checks, then every object against the rules of this version.
    pub async fn check(&self) -> Result<Vec<String>, DbError> {
        let mut problems = self.store.check().await?;
        if !problems.is_empty() {
            return Ok(problems);
        }
        let (snapshot, _) = self.snapshot().await?;
        for kind in Kind::ALL {
            for stored in self.store.list(kind).await? {
                let object = &stored.object;
                if let Err(e) = object.validate(&self.catalogue) {
                    problems.push(format!("{} {:?}: {e}", object.kind(), object.key()));
                } else if let Err(e) = self.check_files(&snapshot, object) {
                    problems.push(format!("{} {:?}: {e}", object.kind(), object.key()));
                }
            }
        }
        Ok(problems)
    }

    /// Makes the main file complete (checkpoints its log) and closes the handle: what a
    /// command does before it ends, so that a copy of the file alone is the whole database.
    pub async fn close(&self) -> Result<(), DbError> {
        Ok(self.store.close().await?)
    }

    /// What checking `writes` needs to see: every object but the devices (they are many, and
    /// a device's files depend on the others, not on other devices), plus the devices whose
    /// files a written user appears in (Extension Mobility), with the writes applied.
    async fn context<'w>(
        &self,
        writes: impl Iterator<Item = &'w Write> + Clone,
    ) -> Result<Snapshot, WriteError> {
        let mut snapshot = Snapshot::new(Arc::clone(&self.catalogue));
        for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Device) {
            for stored in self.store.list(kind).await? {
                snapshot.put(stored.object);
            }
        }
        for write in writes.clone() {
            if let Some(Object::User(user)) = write.object() {
                for stored in self.store.referrers(Kind::User, &user.id).await? {
                    snapshot.put(stored.object);
                }
            }
        }
        for write in writes {
            match write {
                Write::Delete { kind, key, .. } => snapshot.remove(*kind, key),
                _ => {
                    if let Some(object) = write.object() {
                        snapshot.put(object.clone());
                    }
                }
            }
        }
        Ok(snapshot)
    }
}
