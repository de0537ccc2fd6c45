//! The device database as the admin tools use it: every write validated by the model, checked
//! against every file it would end up in, then committed in one transaction.

use std::sync::Arc;

use phoneboot_model::{Catalogue, FieldError, Kind, Object, Snapshot};
use phoneboot_store::{SqliteStore, Store, StoreError, Version, Write};

use crate::config::DatabaseConfig;

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// An object was refused; nothing was written.
    #[error("{what}: {error}")]
    Invalid { what: String, error: FieldError },
    #[error("cannot open or create {path}: {error}")]
    Open { path: String, error: StoreError },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("model catalogue {path}: {reason}")]
    Catalogue { path: String, reason: String },
}

impl DbError {
    fn invalid(object: &Object, error: FieldError) -> Self {
        Self::Invalid {
            what: format!("{} {:?}", object.kind(), object.key()),
            error,
        }
    }
}

/// The store plus the model catalogue it is read with.
#[derive(Debug, Clone)]
pub struct Database {
    store: SqliteStore,
    catalogue: Arc<Catalogue>,
}

/// The catalogue: the built-in one, extended by the operator's file if configured.
pub fn catalogue(config: &DatabaseConfig) -> Result<Arc<Catalogue>, DbError> {
    let mut catalogue = Catalogue::builtin().clone();
    if let Some(path) = &config.models {
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
    /// Opens (creating if needed) the database of `config`.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, DbError> {
        let catalogue = catalogue(config)?;
        let store = SqliteStore::open(&config.path)
            .await
            .map_err(|error| DbError::Open {
                path: config.path.display().to_string(),
                error,
            })?;
        Ok(Self { store, catalogue })
    }

    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.catalogue
    }

    /// What checking `writes` needs to see: every object but the devices (they are many, and
    /// a device's files depend on the others, not on other devices), plus the devices whose
    /// files a written user appears in (Extension Mobility).
    async fn context(&self, writes: &[Write]) -> Result<Snapshot, DbError> {
        let mut snapshot = Snapshot::new(Arc::clone(&self.catalogue));
        for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Device) {
            for object in self.store.list(kind).await? {
                snapshot.put(object);
            }
        }
        for write in writes {
            if let Write::Put(Object::User(user)) = write {
                for object in self.store.referrers(Kind::User, &user.id).await? {
                    snapshot.put(object);
                }
            }
        }
        Ok(snapshot)
    }

    /// Every object, at one version.
    pub async fn snapshot(&self) -> Result<(Snapshot, Version), DbError> {
        Ok(phoneboot_store::snapshot(&self.store, Arc::clone(&self.catalogue)).await?)
    }

    /// Validates and commits `writes` as one transaction. Refused as a whole if any object
    /// breaks a rule of the model, or would make a file a phone cannot read (a dial plan past
    /// 8 KiB, a `"` in a 7940 SIP line, …), or names an object that does not exist.
    pub async fn apply(&self, writes: Vec<Write>) -> Result<Version, DbError> {
        for write in &writes {
            if let Write::Put(object) = write {
                object
                    .validate(&self.catalogue)
                    .map_err(|e| DbError::invalid(object, e))?;
            }
        }
        let mut snapshot = self.context(&writes).await?;
        for write in &writes {
            match write {
                Write::Put(object) => snapshot.put(object.clone()),
                Write::Delete(kind, key) => snapshot.remove(*kind, key),
            }
        }
        for write in &writes {
            if let Write::Put(object) = write {
                phoneboot_render::check(&snapshot, object)
                    .map_err(|e| DbError::invalid(object, e))?;
            }
        }
        Ok(self.store.write(writes).await?)
    }
}
