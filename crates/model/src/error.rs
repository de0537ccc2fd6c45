//! The one error a validation gives: which field, and why.

use std::fmt;

/// A value the model does not accept, named by its field path (`lines[2].display_name`) so
/// that the CLI, the importer and the API can tell the operator exactly what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error seen from a containing object: `lines[2]` + `name` = `lines[2].name`.
    #[must_use]
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

pub type Valid = Result<(), FieldError>;

/// Reads `T` from a JSON value, and says what is wrong with it the way a person needs to hear
/// it: the field's path (`lines[0].dn`), and the kind of value wanted in words ("a whole
/// number from 1 to 65535"), never a Rust type name.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let said = plain_words(&e.inner().to_string());
        match said.field {
            // A missing field is named inside its parent; an unknown one ends the path.
            Some(field) if said.missing => FieldError::new(join(&path, &field), said.reason),
            Some(field) if !path.ends_with(&field) => {
                FieldError::new(join(&path, &field), said.reason)
            }
            _ => FieldError::new(path, said.reason),
        }
    })
}

/// A serde error message in a person's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain {
    /// The field the message is about, when it names one (missing or unknown).
    pub field: Option<String>,
    /// The field is missing (rather than unknown).
    pub missing: bool,
    pub reason: String,
}

/// serde's messages ("invalid type: string \"x\", expected u16", "unknown field `x`,
/// expected one of ...", "missing field `x`") said for a person: the kind of value wanted in
/// words, the fields or choices there are, never a Rust type name. Shared by every reader of
/// TOML and JSON in phoneboot (objects, the configuration file).
pub fn plain_words(message: &str) -> Plain {
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        return Plain {
            field: Some(missing.to_owned()),
            missing: true,
            reason: "is required".into(),
        };
    }
    if let Some((unknown, known)) = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split_once('`'))
    {
        let known = known
            .trim_start_matches(", expected ")
            .trim_start_matches("one of ")
            .replace('`', "");
        return Plain {
            field: Some(unknown.to_owned()),
            missing: false,
            reason: format!("is not a field here (the fields are {known})"),
        };
    }
    Plain {
        field: None,
        missing: false,
        reason: humane(message),
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// serde's "invalid type: string \"x\", expected u16" as "\"x\" is not a whole number from 0
/// to 65535".
fn humane(message: &str) -> String {
    let (got, wanted) = match message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|m| m.split_once(", expected "))
    {
        Some(parts) => parts,
        None => {
            return match message
                .strip_prefix("unknown variant `")
                .and_then(|m| m.split_once('`'))
            {
                Some((got, choices)) => format!(
                    "{got:?} is not one of {}",
                    choices
                        .trim_start_matches(", expected ")
                        .trim_start_matches("one of ")
                        .replace('`', "")
                ),
                None => message.replace('`', "\""),
            };
        }
    };
    let wanted = match wanted.trim() {
        "u8" => "a whole number from 0 to 255".to_owned(),
        "u16" => "a whole number from 0 to 65535".to_owned(),
        "u32" => "a whole number from 0 to 4294967295".to_owned(),
        "u64" | "usize" => "a whole number, 0 or more".to_owned(),
        "i64" | "i32" => "a whole number".to_owned(),
        "a boolean" => "true or false".to_owned(),
        "a string" => "text".to_owned(),
        "a sequence" => "a list, such as [\"a\", \"b\"]".to_owned(),
        "a map" => "a table, such as {key = \"value\"}".to_owned(),
        other if other.starts_with("struct ") => "a table of its fields".to_owned(),
        other => other.replace('`', "\""),
    };
    let got = got
        .strip_prefix("string ")
        .or_else(|| got.strip_prefix("integer "))
        .or_else(|| got.strip_prefix("floating point "))
        .unwrap_or(got)
        .trim_matches('`');
    format!("{got} is not {wanted}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        port: u16,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[allow(dead_code)]
        items: Vec<Inner>,
    }

    fn error(json: &str) -> FieldError {
        from_value::<Outer>(serde_json::from_str(json).unwrap()).unwrap_err()
    }

    #[test]
    fn errors_name_the_field_path_and_the_wanted_value_in_words() {
        let e = error(r#"{"items": [{"port": 1}, {"port": "x"}]}"#);
        assert_eq!(e.field, "items[1].port");
        assert_eq!(e.reason, "\"x\" is not a whole number from 0 to 65535");
        let e = error(r#"{"items": [{"port": 70000}]}"#);
        assert_eq!(e.reason, "70000 is not a whole number from 0 to 65535");
        let e = error(r#"{"items": [{}]}"#);
        assert_eq!(
            (e.field.as_str(), e.reason.as_str()),
            ("items[0].port", "is required")
        );
        let e = error(r#"{"items": [], "bogus": 1}"#);
        assert_eq!(e.field, "bogus");
        assert_eq!(e.reason, "is not a field here (the fields are items)");
        assert!(!e.reason.contains("u16"));
    }
}
