//! The rules of administrator accounts, for `phoneboot admin user` and the admin API alike:
//! what a name and a password may be, what each role may do, how a password is hashed, and
//! the bearer secrets (API tokens, browser sessions) that stand for an account.

use std::fmt;
use std::str::FromStr;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use phoneboot_model::{FieldError, Kind};
use phoneboot_store::{Account, unix_seconds};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Also changes devices (their lines and speed dials), Extension Mobility logins and
    /// custom files: the day-to-day work of a voice team.
    Operator,
    /// Everything: every object kind, the parameters, imports, accounts.
    Admin,
}

impl Role {
    pub const ALL: [Self; 3] = [Self::Admin, Self::Operator, Self::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Viewer => "viewer",
        }
    }

    /// True when this role may do what `access` asks.
    pub fn may(self, access: Access) -> bool {
        match access {
            Access::Public | Access::Read => true,
            Access::Operate => self >= Self::Operator,
            Access::Write(kind) => match kind {
                Kind::Device => self >= Self::Operator,
                _ => self == Self::Admin,
            },
            Access::Admin => self == Self::Admin,
        }
    }

    /// The least role that may do what `access` asks.
    pub fn least_for(access: Access) -> Self {
        Self::ALL
            .into_iter()
            .rev()
            .find(|r| r.may(access))
            .unwrap_or(Self::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                FieldError::new("role", format!("{s:?} is none of admin, operator, viewer"))
            })
    }
}

/// What a request needs: the one table of who may do what (see [`Role::may`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (logging in, the API's description).
    Public,
    /// Any account.
    Read,
    /// Writing objects of this kind.
    Write(Kind),
    /// Extension Mobility and custom files.
    Operate,
    /// Accounts, imports, exports with secrets.
    Admin,
}

/// Longest account name.
pub const NAME_MAX: usize = 64;
/// Shortest password accepted.
pub const PASSWORD_MIN: usize = 10;
/// Longest password accepted (argon2 takes any length; a megabyte of it is an attack).
pub const PASSWORD_MAX: usize = 1024;

/// Checks an account's name: 1 to 64 letters, digits and `._@-`.
pub fn check_name(name: &str) -> Result<(), FieldError> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(FieldError::new(
            "name",
            format!("must be 1 to {NAME_MAX} characters"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-')))
    {
        return Err(FieldError::new(
            "name",
            format!("{c:?} is not allowed: use letters, digits and . _ @ -"),
        ));
    }
    Ok(())
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> Result<(), FieldError> {
    let n = password.chars().count();
    if n < PASSWORD_MIN {
        return Err(FieldError::new(
            "password",
            format!("is {n} characters; use at least {PASSWORD_MIN}"),
        ));
    }
    if password.len() > PASSWORD_MAX {
        return Err(FieldError::new(
            "password",
            format!("is longer than {PASSWORD_MAX} bytes"),
        ));
    }
    Ok(())
}

/// The argon2id hash of `password` with a fresh salt, as a PHC string (argon2's defaults:
/// 19 MiB, 2 passes, OWASP's recommendation).
pub fn hash_password(password: &str) -> Result<String, FieldError> {
    check_password(password)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| FieldError::new("password", format!("no randomness for a salt: {e}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| FieldError::new("password", format!("salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| FieldError::new("password", format!("cannot be hashed: {e}")))
}

/// True when `password` is the one `account` was given. Oversized input is refused before
/// any hashing.
pub fn verify_password(account: &Account, password: &str) -> bool {
    if password.len() > PASSWORD_MAX {
        return false;
    }
    PasswordHash::new(&account.password).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash to verify against when no account has the name, so that a login's time does not
/// tell which names exist.
pub fn decoy() -> &'static Account {
    static DECOY: std::sync::OnceLock<Account> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| Account {
        name: String::new(),
        role: Role::Viewer.as_str().into(),
        password: hash_password("decoy password, never a real one").unwrap_or_default(),
        created: 0,
        changed: 0,
    })
}

/// A new account, its name and password checked and the password hashed.
pub fn new_account(name: &str, role: Role, password: &str) -> Result<Account, FieldError> {
    check_name(name)?;
    let now = unix_seconds();
    Ok(Account {
        name: name.to_owned(),
        role: role.as_str().to_owned(),
        password: hash_password(password)?,
        created: now,
        changed: now,
    })
}

/// The role an account holds; an unknown one (written by a newer version) grants nothing
/// beyond reading.
pub fn role_of(account: &Account) -> Role {
    account.role.parse().unwrap_or(Role::Viewer)
}

/// A fresh bearer secret (32 random bytes, hex) and the digest it is stored under.
pub fn new_secret(prefix: &str) -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let secret = format!("{prefix}{}", hex(&bytes));
    let digest = digest(&secret);
    Ok((secret, digest))
}

/// What a bearer secret is stored and looked up by: SHA-256, hex.
pub fn digest(secret: &str) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Makes an API token for `account` (which must exist), logged as made `by`: its secret,
/// shown this once, and the credential kept (the secret's digest only).
pub async fn issue_token(
    store: &dyn phoneboot_store::Store,
    account: &str,
    label: &str,
    by: &phoneboot_store::Actor,
) -> Result<(String, phoneboot_store::Credential), phoneboot_store::StoreError> {
    let (secret, digest) = new_secret(TOKEN_PREFIX)
        .map_err(|e| phoneboot_store::StoreError::Io(std::io::Error::other(e.to_string())))?;
    let credential = phoneboot_store::Credential {
        digest,
        account: account.to_owned(),
        kind: phoneboot_store::CredentialKind::Token,
        label: label.to_owned(),
        csrf: None,
        created: unix_seconds(),
        expires: None,
    };
    store.add_credential(&credential, by).await?;
    Ok((secret, credential))
}

/// Ends every session and revokes every token of `account`: its password changed, so whoever
/// knew the old one is out, with any token they made with it. (A script's account keeps its
/// password; give it a new token after a change.)
pub async fn end_sessions(
    store: &dyn phoneboot_store::Store,
    account: &str,
    by: &phoneboot_store::Actor,
) -> Result<usize, phoneboot_store::StoreError> {
    let mut ended = 0;
    for c in store.credentials(account).await? {
        if store.remove_credential(&c.digest, by).await? {
            ended += 1;
        }
    }
    Ok(ended)
}

/// The prefix of every API token, so that a leaked one is recognised (secret scanners).
pub const TOKEN_PREFIX: &str = "pbt_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_may_exactly_what_the_table_says() {
        use Access::*;
        let table = [
            (Read, [true, true, true]),
            (Write(Kind::Device), [true, true, false]),
            (Write(Kind::DevicePool), [true, false, false]),
            (Write(Kind::Params), [true, false, false]),
            (Operate, [true, true, false]),
            (Admin, [true, false, false]),
        ];
        for (access, allowed) in table {
            for (role, may) in Role::ALL.into_iter().zip(allowed) {
                assert_eq!(role.may(access), may, "{role} {access:?}");
            }
        }
        assert_eq!(Role::least_for(Write(Kind::Device)), Role::Operator);
        assert_eq!(Role::least_for(Admin), Role::Admin);
    }

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let account = new_account("alice", Role::Admin, "correct horse battery").unwrap();
        assert!(account.password.starts_with("$argon2id$"));
        assert!(verify_password(&account, "correct horse battery"));
        assert!(!verify_password(&account, "correct horse batterY"));
        assert!(!verify_password(&account, &"x".repeat(PASSWORD_MAX + 1)));
        assert!(!verify_password(decoy(), "correct horse battery"));
    }

    #[test]
    fn names_and_passwords_are_refused_with_the_field_named() {
        for bad in ["", "a b", "ali/ce", &"a".repeat(65)] {
            assert_eq!(check_name(bad).unwrap_err().field, "name", "{bad:?}");
        }
        assert_eq!(
            new_account("bob", Role::Viewer, "short").unwrap_err().field,
            "password"
        );
        assert_eq!("owner".parse::<Role>().unwrap_err().field, "role");
    }

    #[test]
    fn secrets_are_fresh_and_stored_only_as_digests() {
        let (a, da) = new_secret(TOKEN_PREFIX).unwrap();
        let (b, _) = new_secret(TOKEN_PREFIX).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("pbt_") && a.len() == 68);
        assert_eq!(digest(&a), da);
        assert!(!da.contains(&a[4..]));
    }
}
