//! What a write can be refused for, said so that the CLI, the importer and the API can each
//! tell a person exactly what to change.

use std::fmt;

use phoneboot_model::{FieldError, Kind};
use phoneboot_store::{StoreError, Version, Violation};

/// Why a write to the database was refused. Nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// An object of that name exists already.
    #[error("{kind} {key:?} exists already")]
    Exists { kind: Kind, key: String },
    /// No object of that name.
    #[error("{kind} {key:?} does not exist")]
    NotFound { kind: Kind, key: String },
    /// Others name the object, so it cannot go.
    #[error("{kind} {key:?} is used by {}; change those first", Users(.by))]
    InUse {
        kind: Kind,
        key: String,
        by: Vec<(Kind, String)>,
    },
    /// The object changed since it was read (optimistic concurrency).
    #[error(
        "{kind} {key:?} was changed by someone else meanwhile (it is at version {found}, the \
         change was made against {expected}): read it again and repeat the change"
    )]
    Conflict {
        kind: Kind,
        key: String,
        expected: Version,
        found: Version,
    },
    /// A value the model, a file format or a rule of the database does not accept.
    #[error("{object}: {}{reason}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
    Invalid {
        /// The object, as `device "SEP001122334455"`.
        object: String,
        field: String,
        reason: String,
    },
    #[error(transparent)]
    Store(StoreError),
}

impl WriteError {
    /// `error` of the object `kind`/`key`.
    pub fn invalid(kind: Kind, key: &str, error: FieldError) -> Self {
        Self::Invalid {
            object: if kind == Kind::Params {
                "params".to_owned()
            } else {
                format!("{kind} {key:?}")
            },
            field: error.field,
            reason: error.reason,
        }
    }

    /// The field a person must change, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// "device "SEP…", device "SEP…" and more".
struct Users<'a>(&'a [(Kind, String)]);

/// How many of an object's users a message names.
const USERS_SHOWN: usize = 3;

impl fmt::Display for Users<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (kind, key)) in self.0.iter().take(USERS_SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{kind} {key:?}")?;
        }
        if self.0.len() > USERS_SHOWN {
            f.write_str(" and more")?;
        }
        Ok(())
    }
}

/// One step's violation as a person reads it: `object` is the object the step writes.
pub(crate) fn from_violation(
    violation: Violation,
    object: Option<&phoneboot_model::Object>,
) -> WriteError {
    match violation {
        Violation::Exists { kind, key } => WriteError::Exists { kind, key },
        Violation::Missing { kind, key } => WriteError::NotFound { kind, key },
        Violation::Moved {
            kind,
            key,
            expected,
            found,
        } => WriteError::Conflict {
            kind,
            key,
            expected,
            found,
        },
        Violation::InUse { kind, key, by } => WriteError::InUse { kind, key, by },
        Violation::Dangling { kind, key } => {
            let field = object
                .and_then(|o| o.field_naming(kind, &key))
                .unwrap_or_else(|| kind.as_str().to_owned());
            let error = FieldError::new(
                field,
                format!("{kind} {key:?} does not exist; add it first"),
            );
            match object {
                Some(o) => WriteError::invalid(o.kind(), o.key(), error),
                None => WriteError::Invalid {
                    object: kind.to_string(),
                    field: error.field,
                    reason: error.reason,
                },
            }
        }
        Violation::Taken { kind, alt, holder } => {
            let key = object.map_or("", |o| o.key());
            WriteError::invalid(
                kind,
                key,
                FieldError::new("mac", format!("{alt} already belongs to {kind} {holder:?}")),
            )
        }
    }
}
