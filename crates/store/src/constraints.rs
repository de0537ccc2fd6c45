//! The database's integrity rules, checked inside a write's transaction against facts the
//! backend loads at its start, so that a batch of thousands of rows costs a few queries, not
//! one per row. The facts follow the batch as it goes: one batch may add a pool and then the
//! devices in it, or move a MAC from one device to another.
//!
//! Only what the facts can tell is checked here; whether a deleted object is still in use is
//! asked of the database by the backend, after the steps before it have been written.

use std::collections::HashMap;

use phoneboot_model::{Kind, Object};

use crate::{Version, Violation, Write};

/// Names are unique case-insensitively (file names are matched that way).
pub(crate) fn fold(key: &str) -> String {
    key.to_ascii_lowercase()
}

/// What the write's steps need to know of the database, as it stands at each step.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// (kind, folded key) -> (version, key as stored), for every object the write touches or
    /// names that exists.
    present: HashMap<(Kind, String), (Version, String)>,
    /// (kind, second key) -> (folded key, key as stored) of its holder.
    alt_owner: HashMap<(Kind, String), (String, String)>,
    /// (kind, folded key) -> the second key it holds.
    alt_of: HashMap<(Kind, String), String>,
}

/// The objects and second keys a backend must load for [`Facts`].
#[derive(Debug, Default)]
pub(crate) struct Wanted {
    /// (kind, folded key): every step's target and every object a written one names.
    pub(crate) keys: Vec<(Kind, String)>,
    /// (folded key of the holder, second key): the written objects' second keys.
    pub(crate) alts: Vec<(String, String)>,
}

impl Wanted {
    pub(crate) fn of(writes: &[Write]) -> Self {
        let mut keys: Vec<(Kind, String)> = Vec::new();
        let mut alts = Vec::new();
        for write in writes {
            let (kind, key) = write.target();
            keys.push((kind, fold(key)));
            if let Some(object) = write.object() {
                keys.extend(object.refs().into_iter().map(|(k, key)| (k, fold(&key))));
                if let Some(alt) = object.alt_key() {
                    alts.push((fold(object.key()), alt));
                }
            }
        }
        keys.sort();
        keys.dedup();
        Self { keys, alts }
    }
}

impl Facts {
    /// An object that exists, with its version and key as stored.
    pub(crate) fn exists(&mut self, kind: Kind, folded: String, version: Version, key: String) {
        self.present.insert((kind, folded), (version, key));
    }

    /// `holder` (folded key, key as stored) holds second key `alt`.
    pub(crate) fn holds(&mut self, kind: Kind, holder: (String, String), alt: String) {
        self.alt_of.insert((kind, holder.0.clone()), alt.clone());
        self.alt_owner.insert((kind, alt), holder);
    }

    /// Checks one step against the database as the earlier steps left it, and records it
    /// (a delete is recorded by [`forget`](Self::forget), once it is known to be allowed).
    pub(crate) fn admit(&mut self, write: &Write, version: Version) -> Result<(), Violation> {
        let (kind, key) = write.target();
        let folded = fold(key);
        let current = self.present.get(&(kind, folded.clone())).cloned();
        let missing = || Violation::Missing {
            kind,
            key: key.to_owned(),
        };
        let at = |expected: Version, (found, stored): (Version, String)| {
            if found == expected {
                Ok(())
            } else {
                Err(Violation::Moved {
                    kind,
                    key: stored,
                    expected,
                    found,
                })
            }
        };
        match write {
            Write::Insert(_) => {
                if let Some((_, stored)) = current {
                    return Err(Violation::Exists { kind, key: stored });
                }
            }
            Write::Update { expected, .. } => at(*expected, current.ok_or_else(missing)?)?,
            Write::Put(_) => {}
            Write::Delete { expected, .. } => {
                let current = current.ok_or_else(missing)?;
                if let Some(expected) = expected {
                    at(*expected, current)?;
                }
                return Ok(());
            }
        }
        let Some(object) = write.object() else {
            return Ok(());
        };
        self.admit_object(object, folded, version)
    }

    fn admit_object(
        &mut self,
        object: &Object,
        folded: String,
        version: Version,
    ) -> Result<(), Violation> {
        let kind = object.kind();
        for (to_kind, to_key) in object.refs() {
            if !self.present.contains_key(&(to_kind, fold(&to_key))) {
                return Err(Violation::Dangling {
                    kind: to_kind,
                    key: to_key,
                });
            }
        }
        if let Some(alt) = object.alt_key() {
            if let Some((holder, stored)) = self.alt_owner.get(&(kind, alt.clone()))
                && *holder != folded
            {
                return Err(Violation::Taken {
                    kind,
                    alt,
                    holder: stored.clone(),
                });
            }
            if let Some(old) = self.alt_of.insert((kind, folded.clone()), alt.clone()) {
                self.alt_owner.remove(&(kind, old));
            }
            self.alt_owner
                .insert((kind, alt), (folded.clone(), object.key().to_owned()));
        }
        self.present
            .insert((kind, folded), (version, object.key().to_owned()));
        Ok(())
    }

    /// The object is deleted.
    pub(crate) fn forget(&mut self, kind: Kind, key: &str) {
        let key = fold(key);
        if let Some(alt) = self.alt_of.remove(&(kind, key.clone())) {
            self.alt_owner.remove(&(kind, alt));
        }
        self.present.remove(&(kind, key));
    }
}
