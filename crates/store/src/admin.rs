//! What the store keeps for the people who manage it: administrator accounts, their bearer
//! secrets (API tokens, browser sessions: only a digest of each), and the audit log.
//!
//! The store keeps these as facts; what a role may do, how a password is hashed and how long
//! a session lives are the admin layer's rules, above it.

use crate::Version;

/// Who makes a write and from where, as the audit log keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// An account's name, `cli <user>`, or empty when nobody is known (a copy, a test).
    pub who: String,
    /// Where from: a client's address, or the command.
    pub origin: String,
}

impl Actor {
    pub fn new(who: impl Into<String>, origin: impl Into<String>) -> Self {
        Self {
            who: who.into(),
            origin: origin.into(),
        }
    }
}

/// An administrator account (not a phone user of Extension Mobility).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Unique case-insensitively.
    pub name: String,
    /// `admin`, `operator` or `viewer`: the admin layer's to define.
    pub role: String,
    /// The password's hash, a PHC string (argon2id). Never shown.
    pub password: String,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds, of the last change.
    pub changed: i64,
}

/// What a guarded change of an account did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    Done,
    /// No such account: nothing written.
    Absent,
    /// It would have left no account holding the guarded role: nothing written.
    LastOfRole,
}

/// What a bearer secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An API token: until removed.
    Token,
    /// A browser session: until it expires or logs out.
    Session,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Session => "session",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "token" => Some(Self::Token),
            "session" => Some(Self::Session),
            _ => None,
        }
    }
}

/// A bearer secret of an account, kept as the digest of the secret only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// SHA-256 of the secret, hex: what a request's secret is looked up by.
    pub digest: String,
    /// The account's name.
    pub account: String,
    pub kind: CredentialKind,
    /// A token's name; a session's client address.
    pub label: String,
    /// A session's CSRF token (sent back by the browser with every change).
    pub csrf: Option<String>,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds; a session's end, none for a token.
    pub expires: Option<i64>,
}

/// An entry of the audit log that is not a write to the objects (those are logged by the
/// write itself): a login, a refused login, a logout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub by: Actor,
    /// `login-refused`, `login-throttled`, ...
    pub action: &'static str,
    /// What it concerns: `account` and the account's name, say.
    pub kind: String,
    pub key: String,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Increasing: the log's order, and the cursor to page it by.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub who: String,
    pub origin: String,
    /// `put`, `delete` (objects), `account`, `account-delete`, `token`, `token-delete`,
    /// `login`, `login-refused`, `logout`.
    pub action: String,
    pub kind: String,
    pub key: String,
    /// The change of the feed, for a write to the objects.
    pub version: Option<Version>,
    /// The object before and after, as JSON (secrets as stored; an account without its
    /// password hash).
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Which entries of the audit log to read: newest first, below a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries with a smaller id (the last id of the previous page).
    pub below: Option<i64>,
    /// Only entries of this kind (`device`, `account`, ...).
    pub kind: Option<String>,
    /// Only entries of the object of this name (any case).
    pub key: Option<String>,
    /// Only entries made by this account or command.
    pub who: Option<String>,
    /// At most this many (the store caps it at [`AUDIT_PAGE_MAX`]).
    pub limit: u32,
}

/// Most entries one read of the audit log returns.
pub const AUDIT_PAGE_MAX: u32 = 1000;

/// An account as the audit log shows it: never the password's hash.
pub(crate) fn account_json(account: &Account) -> String {
    serde_json::json!({ "name": account.name, "role": account.role }).to_string()
}
