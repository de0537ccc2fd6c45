//! The whole database as one TOML document: a header with the format version, then each
//! object as a `[[kind]]` table, in dependency order and name order.

use std::collections::{BTreeMap, HashMap};

use phoneboot_model::{FieldError, Kind, Object};

use super::{FORMAT, FORMAT_VERSION, ImportError, Lines, Problem, Read, Row};

/// A document's `secrets`: whether its SIP and SSH passwords are in it.
const SECRETS_INCLUDED: &str = "included";
const SECRETS_OMITTED: &str = "omitted";

/// The lines every document starts with.
pub(super) fn header(secrets: bool) -> String {
    format!(
        "# phoneboot export: every object of the device database.\n\
         # `phoneboot import FILE` reads it back (--update replaces what exists).\n\
         format = \"{FORMAT}\"\n\
         version = {FORMAT_VERSION}\n\
         secrets = \"{}\"\n",
        if secrets {
            SECRETS_INCLUDED
        } else {
            SECRETS_OMITTED
        }
    )
}

/// One object as its `[[kind]]` table.
pub(super) fn block(object: &Object) -> Result<String, String> {
    let mut one = BTreeMap::new();
    one.insert(object.kind().as_str(), vec![object]);
    toml::to_string(&one).map_err(|e| format!("cannot be written as TOML: {e}"))
}

pub(super) fn read(bytes: &[u8]) -> Result<Read, ImportError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ImportError::whole(format!("the file is not UTF-8 text: {e}")))?;
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map_or(0, |s| Lines::new(text.as_bytes()).at(s.start));
        ImportError::of(vec![Problem {
            line,
            column: String::new(),
            reason: format!("not a valid TOML document: {}", e.message()),
        }])
    })?;
    match table.get("format").and_then(toml::Value::as_str) {
        Some(FORMAT) => {}
        other => {
            return Err(ImportError::whole(format!(
                "format = {other:?}: not a phoneboot export (format = \"{FORMAT}\")"
            )));
        }
    }
    match table.get("version").and_then(toml::Value::as_integer) {
        Some(v) if v == i64::from(FORMAT_VERSION) => {}
        Some(v) if v > i64::from(FORMAT_VERSION) => {
            return Err(ImportError::whole(format!(
                "version = {v}: written by a newer phoneboot (this one reads version \
                 {FORMAT_VERSION}); upgrade phoneboot to import it"
            )));
        }
        other => {
            return Err(ImportError::whole(format!(
                "version = {other:?}: this phoneboot reads version {FORMAT_VERSION}"
            )));
        }
    }
    let secrets = match table.get("secrets").and_then(toml::Value::as_str) {
        Some(SECRETS_OMITTED) => false,
        None | Some(SECRETS_INCLUDED) => true,
        Some(other) => {
            return Err(ImportError::whole(format!(
                "secrets = {other:?}: \"{SECRETS_INCLUDED}\" or \"{SECRETS_OMITTED}\""
            )));
        }
    };
    // Where each object starts: its `[[kind]]` header.
    let spans = toml::de::DeTable::parse(text).map_err(|e| ImportError::whole(e.to_string()))?;
    let lines = Lines::new(text.as_bytes());
    let mut starts: HashMap<String, Vec<u64>> = HashMap::new();
    for (key, value) in spans.get_ref() {
        if let toml::de::DeValue::Array(items) = value.get_ref() {
            starts.insert(
                key.get_ref().to_string(),
                items.iter().map(|i| lines.at(i.span().start)).collect(),
            );
        }
    }
    let mut read = Read {
        rows: Vec::new(),
        problems: Vec::new(),
        secrets,
    };
    for (key, value) in table {
        if ["format", "version", "secrets"].contains(&key.as_str()) {
            continue;
        }
        let line_of = |i: usize| {
            starts
                .get(&key)
                .and_then(|l| l.get(i))
                .copied()
                .unwrap_or(0)
        };
        let Ok(kind) = key.parse::<Kind>() else {
            read.problems.push(Problem {
                line: line_of(0),
                column: key.clone(),
                reason: format!(
                    "not a kind of object ({})",
                    Kind::ALL.map(Kind::as_str).join(", ")
                ),
            });
            continue;
        };
        let toml::Value::Array(items) = value else {
            read.problems.push(Problem {
                line: 0,
                column: key.clone(),
                reason: format!("must be a list of tables ([[{key}]])"),
            });
            continue;
        };
        for (i, item) in items.into_iter().enumerate() {
            let line = line_of(i);
            let parsed = serde_json::to_value(item)
                .map_err(|e| FieldError::new(kind.as_str(), e.to_string()))
                .and_then(|v| Object::from_value(kind, v));
            match parsed {
                Ok(object) => read.rows.push(Row {
                    line,
                    object,
                    change: super::RowChange::Added,
                }),
                Err(e) => read.problems.push(Problem {
                    line,
                    column: e.field,
                    reason: e.reason,
                }),
            }
        }
    }
    Ok(read)
}
