//! Where a database is: a URL (`sqlite:phoneboot.db`, `sqlite:///var/lib/phoneboot.db`,
//! `postgres://user@host/db`) or, for the embedded default, a bare path.

use std::fmt;
use std::path::PathBuf;

/// A database's location.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server, by its connection URL.
    Postgres(String),
}

/// Why a text is not a database location.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{:?} is not a database location: use a file path, sqlite:PATH, or postgres://USER@HOST/DB",
    redact(.0)
)]
pub struct LocationError(pub String);

impl fmt::Debug for LocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocationError({:?})", redact(&self.0))
    }
}

/// A URL as it may be shown: the password of `user:password@` and of a `password=` query
/// parameter replaced by `***`. Text that is no URL comes back unchanged.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (rest, query) = rest
        .split_once('?')
        .map_or((rest, None), |(r, q)| (r, Some(q)));
    let mut out = format!("{scheme}://");
    match rest.rsplit_once('@') {
        Some((auth, host)) if auth.contains(':') => {
            let user = auth.split_once(':').map_or(auth, |(u, _)| u);
            out.push_str(&format!("{user}:***@{host}"));
        }
        _ => out.push_str(rest),
    }
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

impl Location {
    /// Reads a location. A text without a scheme is a SQLite file's path (a path may contain
    /// ':'; only `sqlite:` and `postgres(ql)://` are schemes here).
    pub fn parse(text: &str) -> Result<Self, LocationError> {
        let err = || LocationError(text.to_owned());
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(err());
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Self::Postgres(trimmed.to_owned()));
        }
        if let Some(rest) = strip_scheme(trimmed, "sqlite:") {
            // sqlite://relative/path, sqlite:///absolute/path, sqlite:path
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(err());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if lower.contains("://") {
            return Err(err());
        }
        Ok(Self::Sqlite(PathBuf::from(trimmed)))
    }

    /// The SQLite file, if it is one.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Sqlite(path) => Some(path),
            Self::Postgres(_) => None,
        }
    }
}

fn strip_scheme<'a>(text: &'a str, scheme: &str) -> Option<&'a str> {
    let head = text.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &text[scheme.len()..])
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            // Never show a password that the URL may carry.
            Self::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls_name_the_same_kinds_of_database() {
        let sqlite = |p: &str| Location::Sqlite(PathBuf::from(p));
        assert_eq!(Location::parse("phoneboot.db"), Ok(sqlite("phoneboot.db")));
        assert_eq!(
            Location::parse("sqlite:phoneboot.db"),
            Ok(sqlite("phoneboot.db"))
        );
        assert_eq!(
            Location::parse("sqlite://data/phoneboot.db"),
            Ok(sqlite("data/phoneboot.db"))
        );
        assert_eq!(
            Location::parse("SQLITE:///var/lib/pb.db?mode=rwc"),
            Ok(sqlite("/var/lib/pb.db"))
        );
        assert_eq!(Location::parse("/srv/a:b.db"), Ok(sqlite("/srv/a:b.db")));
        assert!(matches!(
            Location::parse("postgres://pb@db1/phoneboot"),
            Ok(Location::Postgres(_))
        ));
        for bad in ["", "  ", "sqlite:", "sqlite://", "mysql://x/y"] {
            assert!(Location::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_password_in_a_url_is_never_shown() {
        let l = Location::parse("postgres://pb:s3cret@db1:5432/phoneboot").unwrap();
        assert_eq!(l.to_string(), "postgres://pb:***@db1:5432/phoneboot");
        assert!(!format!("{l:?}").contains("s3cret"));
        let plain = Location::parse("postgres://pb@db1/phoneboot").unwrap();
        assert_eq!(plain.to_string(), "postgres://pb@db1/phoneboot");
        let odd = Location::parse("postgres://pb:p@ss@db1/x").unwrap();
        assert_eq!(odd.to_string(), "postgres://pb:***@db1/x");
        let query = Location::parse("postgres://pb@db1/x?sslmode=off&password=s3cret").unwrap();
        assert_eq!(
            query.to_string(),
            "postgres://pb@db1/x?sslmode=off&password=***"
        );
        let typo = Location::parse("postgress://pb:s3cret@db1/x").unwrap_err();
        assert!(!typo.to_string().contains("s3cret") && !format!("{typo:?}").contains("s3cret"));
    }
}
