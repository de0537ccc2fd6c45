//! Requested names: bytes from the network, normalised once ([`FileName::parse`]) into a
//! confined relative name, or refused with the reason ([`Denied`]).
//!
//! `\` counts as `/`, a leading `/` means the root (boot ROMs send such names), empty and `.`
//! components vanish; `..` components, control characters, NUL and non-UTF-8 are refused.
//! Nothing is percent-decoded: `%2e%2e` is a file of that name.

/// Longest name accepted, in bytes. Cisco's names are short; CVE-2009-2957 and friends were
/// overflows on long names.
pub const MAX_NAME_LEN: usize = 1024;
/// Deepest path accepted.
pub const MAX_COMPONENTS: usize = 32;

/// Why a name is refused (answered with ERROR 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("name longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    #[error("name with more than {MAX_COMPONENTS} components")]
    TooDeep,
    #[error("name is not UTF-8")]
    NotUtf8,
    #[error("name contains a control character")]
    ControlCharacter,
    #[error("name contains a '..' component")]
    ParentComponent,
    #[error("name resolves outside the root (symlink)")]
    OutsideRoot,
    #[error("name is not a regular file")]
    NotAFile,
    #[error("name uses the reserved prefix {PARTIAL_PREFIX}")]
    Reserved,
}

/// Prefix of the temporary files [`FileRoots::put`] writes before renaming them into place.
/// Names with it are never served, so a half-written upload cannot be fetched.
pub const PARTIAL_PREFIX: &str = ".phoneboot-partial-";

/// A normalised, confined name: non-empty components without `/`, `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileName {
    pub(crate) components: Vec<String>,
}

impl FileName {
    /// Normalises a requested name. See the module documentation for the rules.
    pub fn parse(raw: &[u8]) -> Result<Self, Denied> {
        if raw.len() > MAX_NAME_LEN {
            return Err(Denied::TooLong);
        }
        let text = std::str::from_utf8(raw).map_err(|_| Denied::NotUtf8)?;
        if text.chars().any(char::is_control) {
            return Err(Denied::ControlCharacter);
        }
        let mut components = Vec::new();
        for part in text.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => return Err(Denied::ParentComponent),
                p if p.starts_with(PARTIAL_PREFIX) => return Err(Denied::Reserved),
                _ => components.push(part.to_owned()),
            }
        }
        if components.len() > MAX_COMPONENTS {
            return Err(Denied::TooDeep);
        }
        Ok(Self { components })
    }

    /// The components, in order.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.components.iter().map(String::as_str)
    }

    /// The last component (empty for the root).
    pub fn base(&self) -> &str {
        self.components.last().map_or("", String::as_str)
    }

    /// The name as a relative path, for logs.
    pub fn display(&self) -> String {
        self.components.join("/")
    }

    pub(crate) fn is_root(&self) -> bool {
        self.components.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> FileName {
        FileName::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(name("/a/b"), name("a/b"));
        assert_eq!(name("\\a\\b"), name("a/b"));
        assert_eq!(name("a//./b"), name("a/b"));
        assert_eq!(name("%2e%2e/x").display(), "%2e%2e/x");
    }

    #[test]
    fn hostile_names_are_refused() {
        for (raw, why) in [
            (&b"../etc/passwd"[..], Denied::ParentComponent),
            (b"/../x", Denied::ParentComponent),
            (b"a\\..\\..\\x", Denied::ParentComponent),
            (b"a\x01b", Denied::ControlCharacter),
            (b"a\nb", Denied::ControlCharacter),
            (b"a\x7fb", Denied::ControlCharacter),
            (b"\xff\xfe", Denied::NotUtf8),
            (b".phoneboot-partial-1-2", Denied::Reserved),
        ] {
            assert_eq!(FileName::parse(raw), Err(why), "{raw:?}");
        }
        assert_eq!(
            FileName::parse(&[b'a'; MAX_NAME_LEN + 1]),
            Err(Denied::TooLong)
        );
        assert_eq!(
            FileName::parse("a/".repeat(40).as_bytes()),
            Err(Denied::TooDeep)
        );
    }
}
