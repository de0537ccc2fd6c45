//! Small values with rules: MAC addresses, directory numbers, names, host names, free text.
//!
//! Everything here ends up inside a file a phone parses, so the rules are the formats' rules
//! (spec cisco-tftp.md §9): no control characters (XML 1.0 cannot carry most of them, and a
//! phone's `key: value` parser stops at a newline), and the byte limits of Cisco's parser.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{FieldError, Valid};

/// A MAC address. Accepts `0011.2233.44aa` (Cisco), `00:11:22:33:44:AA`, `00-11-...`,
/// bare hex and a device name `SEP001122334455`; shows as 12 upper-case hex digits, the form
/// file names use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac([u8; 6]);

impl Mac {
    pub const fn new(octets: [u8; 6]) -> Self {
        Self(octets)
    }

    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// Lower-case hex, as the 7902/7905/7912 profile names use it (`ld001122334455`).
    pub fn lower(self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

/// Why a text is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacError(pub String);

impl std::error::Error for MacError {}

impl fmt::Display for MacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.trim();
        let body = text
            .get(..3)
            .filter(|p| p.eq_ignore_ascii_case("SEP"))
            .map_or(text, |_| &text[3..]);
        let hex = body.bytes().filter(u8::is_ascii_hexdigit).count();
        let other = body
            .chars()
            .find(|c| !c.is_ascii_hexdigit() && !matches!(c, ':' | '-' | '.'));
        write!(f, "{:?} is not a MAC address: ", self.0)?;
        match other {
            Some(c) => write!(f, "{c:?} is not a hex digit")?,
            None if hex < 12 => write!(f, "it is short ({hex} hex digits of 12)")?,
            None if hex > 12 => write!(f, "it is long ({hex} hex digits of 12)")?,
            None => f.write_str("its separators are out of place")?,
        }
        f.write_str(
            "; write 12 hex digits, optionally grouped as 00:11:22:33:44:55, \
             00-11-22-33-44-55 or 0011.2233.4455, or a device name SEP001122334455",
        )
    }
}

impl FromStr for Mac {
    type Err = MacError;

    fn from_str(text: &str) -> Result<Self, MacError> {
        let err = || MacError(text.to_owned());
        let trimmed = text.trim();
        let body = trimmed
            .get(..3)
            .filter(|p| p.eq_ignore_ascii_case("SEP"))
            .map_or(trimmed, |_| &trimmed[3..]);
        let hex: String = match body.len() {
            12 => body.to_owned(),
            // 00:11:22:33:44:55 or 00-11-22-33-44-55: one separator kind, every third char.
            17 => {
                let sep = body.as_bytes()[2];
                if !(sep == b':' || sep == b'-')
                    || body.bytes().skip(2).step_by(3).any(|b| b != sep)
                {
                    return Err(err());
                }
                body.split(sep as char).collect()
            }
            // 0011.2233.4455
            14 => {
                let b = body.as_bytes();
                if b[4] != b'.' || b[9] != b'.' {
                    return Err(err());
                }
                body.split('.').collect()
            }
            _ => return Err(err()),
        };
        if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err());
        }
        let mut octets = [0u8; 6];
        for (i, octet) in octets.iter_mut().enumerate() {
            *octet = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| err())?;
        }
        Ok(Self(octets))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for octet in self.0 {
            write!(f, "{octet:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({self})")
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Reads a text field that may have been given as a number (`dn = 1001` in TOML, `dn=1001` on
/// the command line): directory numbers and passwords are digits more often than not.
pub fn flexible_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flex {
        Text(String),
        Int(i64),
        Float(f64),
    }
    Ok(match Flex::deserialize(d)? {
        Flex::Text(s) => s,
        Flex::Int(i) => i.to_string(),
        Flex::Float(f) => f.to_string(),
    })
}

/// Checks free text that goes into a file: at most `max` bytes, no control characters, and
/// nothing outside XML 1.0's `Char` production (U+FFFE and U+FFFF: the phone's XML parser
/// refuses the whole file for one, spec §9). `max` is the limit of the field's reader
/// (spec §9), or 255 where none is known.
pub fn text(field: &str, value: &str, max: usize) -> Valid {
    if value.len() > max {
        return Err(FieldError::new(
            field,
            format!(
                "{} bytes; at most {max} fit the phone's parser",
                value.len()
            ),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(FieldError::new(
            field,
            format!(
                "contains the control character U+{:04X}; configuration files cannot carry it",
                u32::from(c)
            ),
        ));
    }
    if let Some(c) = value.chars().find(|c| !xml_char(*c)) {
        return Err(FieldError::new(
            field,
            format!(
                "contains U+{:04X}, which XML cannot carry: the phone would refuse its whole \
                 configuration file",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// XML 1.0's `Char`: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
/// (surrogates cannot occur in a Rust string).
pub fn xml_char(c: char) -> bool {
    matches!(u32::from(c), 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10_FFFF)
}

/// The largest value the phone's `atoi` reads back as written: a C `int` (spec §9: above it a
/// number reads negative).
pub const MAX_PHONE_INT: u32 = i32::MAX as u32;

/// A number that goes into a file the phone reads with `atoi`.
pub fn phone_int(field: &str, value: u32) -> Valid {
    if value > MAX_PHONE_INT {
        return Err(FieldError::new(
            field,
            format!(
                "{value} is more than {MAX_PHONE_INT}: the phone reads it as a negative number"
            ),
        ));
    }
    Ok(())
}

/// Like [`text`], and not empty.
pub fn required_text(field: &str, value: &str, max: usize) -> Valid {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    text(field, value, max)
}

/// Names of objects that appear inside file names (`DR<name>.xml`, `SK<name>.xml`) or as keys:
/// letters, digits, `_`, `-`, `.`, 1 to 50 characters, not starting with `.`.
pub fn token(field: &str, value: &str) -> Valid {
    if value.is_empty() || value.len() > 50 {
        return Err(FieldError::new(field, "must be 1 to 50 characters"));
    }
    if value.starts_with('.')
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(FieldError::new(
            field,
            format!("{value:?}: use letters, digits, '_', '-' and '.' (not first)"),
        ));
    }
    Ok(())
}

/// Display names of objects (call managers, groups, pools): free text, 1 to 50 characters.
pub fn name(field: &str, value: &str) -> Valid {
    required_text(field, value, 50)
}

/// A directory number: digits, `*`, `#`, and a leading `+`; 1 to 24 characters.
pub fn directory_number(field: &str, value: &str) -> Valid {
    let body = value.strip_prefix('+').unwrap_or(value);
    if body.is_empty() || value.len() > 24 {
        return Err(FieldError::new(field, "must be 1 to 24 characters"));
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
    {
        return Err(FieldError::new(
            field,
            format!("{value:?}: a directory number has digits, '*', '#' and a leading '+'"),
        ));
    }
    Ok(())
}

/// The longest call manager name a phone keeps: `processNodeName` is read into a 48-byte
/// field; a longer one is dropped, and that member of the group with it (spec §9).
pub const MAX_PROCESS_NODE_NAME: usize = 47;

/// A host name or an IP address of at most `max` bytes.
pub fn host(field: &str, value: &str, max: usize) -> Valid {
    if value.is_empty() || value.len() > max {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {max} characters, here {}", value.len()),
        ));
    }
    if value.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if value.trim_end_matches('.').split('.').all(label_ok) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{value:?} is neither an IP address nor a host name"),
        ))
    }
}

/// A TCP or UDP port: 1 to 65535.
pub fn port(field: &str, value: u16) -> Valid {
    if value == 0 {
        Err(FieldError::new(field, "a port is 1 to 65535"))
    } else {
        Ok(())
    }
}

/// A URL for a phone button: empty, or `http://`/`https://` and ≤ 255 characters.
pub fn url(field: &str, value: &str) -> Valid {
    text(field, value, 255)?;
    if value.is_empty() || value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{value:?}: phone URLs start with http:// or https://"),
        ))
    }
}

/// An XML element name for `<vendorConfig>` keys: `[A-Za-z_][A-Za-z0-9_.-]*`, ≤ 64.
pub fn element_name(field: &str, value: &str) -> Valid {
    let mut bytes = value.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok
        || value.len() > 64
        || !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        || value
            .get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case("xml"))
    {
        return Err(FieldError::new(
            field,
            format!("{value:?} is not a usable XML element name"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_accepts_every_usual_notation_and_shows_upper_case() {
        for text in [
            "0011223344aa",
            "00:11:22:33:44:aa",
            "00-11-22-33-44-AA",
            "0011.2233.44aa",
            "SEP0011223344AA",
            "sep0011223344aa",
            " 0011223344AA ",
        ] {
            let mac: Mac = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(mac.to_string(), "0011223344AA");
            assert_eq!(mac.lower(), "0011223344aa");
        }
    }

    #[test]
    fn a_bad_mac_is_told_what_is_wrong_with_it() {
        let why = |t: &str| t.parse::<Mac>().unwrap_err().to_string();
        assert!(
            why("0011.2233.44").contains("short (10 hex digits of 12)"),
            "{}",
            why("0011.2233.44")
        );
        assert!(why("0011223344556").contains("long (13 hex digits of 12)"));
        assert!(why("00:11:22:33:44:zz").contains("'z' is not a hex digit"));
        assert!(why("00:11:22-33:44:aa").contains("separators are out of place"));
    }

    #[test]
    fn mac_rejects_near_misses() {
        for text in [
            "",
            "0011223344a",
            "0011223344aaa",
            "00:11:22-33:44:aa",
            "00:11:22:33:44:ag",
            "0011.2233:44aa",
            "SEP",
            "+011223344aa",
            "0x1122334455",
        ] {
            assert!(text.parse::<Mac>().is_err(), "{text:?} accepted");
        }
    }

    #[test]
    fn text_rejects_control_characters_and_names_the_field() {
        let err = text("lines[0].display_name", "a\u{7}b", 127).unwrap_err();
        assert_eq!(err.field, "lines[0].display_name");
        assert!(err.reason.contains("U+0007"), "{err}");
        assert!(text("x", "Zoë <&> \"'", 127).is_ok());
        assert!(
            text("x", "a\u{FFFE}", 127)
                .unwrap_err()
                .reason
                .contains("U+FFFE")
        );
        assert!(text("x", "a\u{FFFF}", 127).is_err());
        assert!(phone_int("t", 2_147_483_647).is_ok());
        assert!(phone_int("t", 2_147_483_648).is_err());
        assert!(text("x", &"a".repeat(128), 127).is_err());
    }

    #[test]
    fn directory_numbers_hosts_and_tokens() {
        assert!(directory_number("dn", "+4930123*#").is_ok());
        assert!(directory_number("dn", "12a").is_err());
        assert!(directory_number("dn", "+").is_err());
        assert!(host("h", "cm1.example.com", 47).is_ok());
        assert!(host("h", "2001:db8::1", 47).is_ok());
        assert!(host("h", "bad host", 47).is_err());
        assert!(host("h", &format!("{}.example.com", "a".repeat(36)), 47).is_err());
        assert!(token("t", "Standard_User-1").is_ok());
        assert!(token("t", "../x").is_err());
        assert!(element_name("k", "pcPort").is_ok());
        assert!(element_name("k", "1pc").is_err());
        assert!(url("u", "ftp://x").is_err());
    }
}
