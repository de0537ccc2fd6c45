//! Export and import, lossless both ways:
//!
//! - the whole database as one TOML document: a format version, then every object of every
//!   kind with every field, in dependency order and name order (`export` → `import` →
//!   `export` gives the same bytes);
//! - devices as CSV, Bulk Administration's form, with every device field: lines, speed
//!   dials, URLs, vendor settings, security mode and the Extension Mobility login.
//!
//! Secrets (SIP passwords, the SSH password) are exported only when asked for; a file without
//! them says so, and importing it over existing objects (`--update`) keeps the secrets they
//! hold.
//!
//! An import is checked whole before anything is written, by the same code as a write of
//! one object ([`Database::apply`]), and reports every bad row and column at once (up to
//! [`MAX_PROBLEMS`]); a dry run is that same import, rolled back.

mod csv_file;
mod document;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use phoneboot_model::{Device, Kind, Mac, Object};
use phoneboot_store::{Mode, Version, Write};

use super::write::key_field;
use super::{Database, DbError, WriteError};

/// The `format` an export document declares.
pub const FORMAT: &str = "phoneboot-export";
/// The version of the document's layout this phoneboot writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// At most this many problems are reported one by one; the rest are counted.
pub const MAX_PROBLEMS: usize = 100;

/// The two forms of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Every object of the database, TOML.
    Document,
    /// Devices only, CSV.
    Csv,
}

impl Format {
    /// Which form `bytes` are in: a document declares its `format`; anything else is CSV.
    pub fn sniff(bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes);
        let declared = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .is_some_and(|l| {
                l.strip_prefix("format")
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            });
        if declared { Self::Document } else { Self::Csv }
    }
}

/// One thing wrong with an import: where (line 0: the file as a whole), which column (CSV) or
/// field (document), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    pub column: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column.is_empty()) {
            (0, true) => f.write_str(&self.reason),
            (0, false) => write!(f, "{}: {}", self.column, self.reason),
            (line, true) => write!(f, "line {line}: {}", self.reason),
            (line, false) => write!(f, "line {line}, column {}: {}", self.column, self.reason),
        }
    }
}

/// Why an import was refused: every problem found (the first [`MAX_PROBLEMS`] of them, in
/// line order). Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub problems: Vec<Problem>,
    /// Problems found beyond those listed.
    pub more: usize,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        if self.more > 0 {
            write!(f, "\nand {} more problems", self.more)?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportError {}

impl ImportError {
    pub(super) fn whole(reason: impl Into<String>) -> Self {
        Self {
            problems: vec![Problem {
                line: 0,
                column: String::new(),
                reason: reason.into(),
            }],
            more: 0,
        }
    }

    pub(super) fn of(mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| p.line);
        let more = problems.len().saturating_sub(MAX_PROBLEMS);
        problems.truncate(MAX_PROBLEMS);
        Self { problems, more }
    }
}

/// What an import did (or, as a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub format: Format,
    /// Objects of each kind in the file, in dependency order.
    pub kinds: Vec<(Kind, usize)>,
    pub added: usize,
    pub replaced: usize,
    /// The version the database is at after it (would be at, for a dry run).
    pub version: Version,
    /// What each row does, in dependency order (as written).
    pub rows: Vec<ImportRow>,
}

/// What one row of an import does (or, as a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: u64,
    pub kind: Kind,
    pub name: String,
    pub change: RowChange,
}

/// The change a row makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowChange {
    Added,
    Replaced,
    /// It replaces an object with the same one.
    Unchanged,
}

impl RowChange {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Replaced => "replaced",
            Self::Unchanged => "unchanged",
        }
    }
}

/// One object of an import, with the line it starts on.
pub(super) struct Row {
    pub(super) line: u64,
    pub(super) object: Object,
    /// What it does to the database (known once the database was read).
    pub(super) change: RowChange,
}

/// What reading a file gave: the rows that read, and what is wrong with the others.
pub(super) struct Read {
    pub(super) rows: Vec<Row>,
    pub(super) problems: Vec<Problem>,
    /// The file carries the secrets (else objects it replaces keep theirs).
    pub(super) secrets: bool,
}

impl Database {
    /// Writes the database (`Document`) or its devices (`Csv`), with the secrets only when
    /// `secrets` says so.
    pub async fn export(&self, format: Format, secrets: bool) -> Result<Vec<u8>, DbError> {
        match format {
            Format::Document => self.export_document(secrets).await,
            Format::Csv => {
                let devices: Vec<Device> = self
                    .list(Kind::Device)
                    .await?
                    .into_iter()
                    .filter_map(|s| match s.object {
                        Object::Device(d) => Some(d),
                        _ => None,
                    })
                    .collect();
                Ok(csv_file::export(&devices, secrets))
            }
        }
    }

    async fn export_document(&self, secrets: bool) -> Result<Vec<u8>, DbError> {
        let mut out = document::header(secrets);
        for kind in Kind::ALL {
            for stored in self.list(kind).await? {
                let mut object = stored.object;
                if !secrets {
                    object.mask_secrets("");
                }
                out.push('\n');
                out.push_str(&document::block(&object).map_err(|reason| {
                    DbError::Store(phoneboot_store::StoreError::Corrupt {
                        kind: kind.to_string(),
                        key: object.key().to_owned(),
                        reason,
                    })
                })?);
            }
        }
        Ok(out.into_bytes())
    }

    /// Imports a document or a CSV file (as [`Format::sniff`] tells): every object is added,
    /// or, with `replace`, added or replaced; an object that exists is a problem otherwise.
    /// All or nothing; under [`Mode::DryRun`] nothing either way.
    pub async fn import(
        &self,
        bytes: &[u8],
        replace: bool,
        mode: Mode,
    ) -> Result<Imported, ImportError> {
        let format = Format::sniff(bytes);
        let read = match format {
            Format::Document => document::read(bytes)?,
            Format::Csv => csv_file::read(bytes, &self.catalogue)?,
        };
        let Read {
            mut rows,
            mut problems,
            secrets,
        } = read;
        problems.extend(duplicates(&rows));
        // Dependency order, so that a file may hold a pool and the devices in it.
        rows.sort_by_key(|r| (r.object.kind(), r.line));
        let mut kinds: BTreeMap<Kind, usize> = BTreeMap::new();
        let mut existing = 0;
        for row in &rows {
            *kinds.entry(row.object.kind()).or_default() += 1;
        }
        for kind in kinds.keys() {
            let present: HashMap<String, Object> = self
                .list(*kind)
                .await
                .map_err(|e| ImportError::whole(e.to_string()))?
                .into_iter()
                .map(|s| (s.object.key().to_ascii_lowercase(), s.object))
                .collect();
            for row in rows.iter_mut().filter(|r| r.object.kind() == *kind) {
                if let Some(old) = present.get(&row.object.key().to_ascii_lowercase()) {
                    existing += 1;
                    if replace && !secrets {
                        row.object.keep_secrets_of(old);
                    }
                    row.change = if *old == row.object {
                        RowChange::Unchanged
                    } else {
                        RowChange::Replaced
                    };
                }
            }
        }
        let outcome: Vec<ImportRow> = rows
            .iter()
            .map(|r| ImportRow {
                line: r.line,
                kind: r.object.kind(),
                name: r.object.key().to_owned(),
                change: r.change,
            })
            .collect();
        let total = rows.len();
        // The rows become the writes (no copy of 100,000 objects); their lines are kept.
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        let writes: Vec<Write> = rows
            .into_iter()
            .map(|r| {
                if replace {
                    Write::Put(r.object)
                } else {
                    Write::Insert(r.object)
                }
            })
            .collect();
        // Problems in reading already mean no write; the rows that read are still checked
        // (rolled back), so that one answer lists everything.
        let mode = if problems.is_empty() {
            mode
        } else {
            Mode::DryRun
        };
        let version = match self.apply(writes, mode).await {
            Ok(version) => version,
            Err(refused) => {
                for (index, error) in refused.0 {
                    let line = lines.get(index).copied().unwrap_or(0);
                    problems.push(problem(line, format, error));
                }
                0
            }
        };
        if !problems.is_empty() {
            return Err(ImportError::of(problems));
        }
        Ok(Imported {
            format,
            kinds: kinds.into_iter().collect(),
            added: total - existing,
            replaced: existing,
            version,
            rows: outcome,
        })
    }
}

/// A write's refusal as a problem of the line it came from.
fn problem(line: u64, format: Format, error: WriteError) -> Problem {
    let (column, reason) = match error {
        WriteError::Invalid { field, reason, .. } => (
            match format {
                Format::Csv => csv_file::column_of(&field),
                Format::Document => field,
            },
            reason,
        ),
        WriteError::Exists { kind, key } => (
            key_field(kind).to_owned(),
            format!("{kind} {key:?} exists already (--update replaces it)"),
        ),
        other => (String::new(), other.to_string()),
    };
    Problem {
        line,
        column,
        reason,
    }
}

/// The same object (or the same MAC) twice in one file: the later line is the problem.
fn duplicates(rows: &[Row]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut names: HashMap<(Kind, String), u64> = HashMap::new();
    let mut macs: HashMap<Mac, u64> = HashMap::new();
    for row in rows {
        let (kind, key) = (row.object.kind(), row.object.key());
        if let Some(first) = names.insert((kind, key.to_ascii_lowercase()), row.line) {
            problems.push(Problem {
                line: row.line,
                column: key_field(kind).to_owned(),
                reason: format!("{kind} {key:?} is also on line {first}"),
            });
        }
        if let Object::Device(d) = &row.object
            && let Some(first) = macs.insert(d.mac, row.line)
        {
            problems.push(Problem {
                line: row.line,
                column: "mac".into(),
                reason: format!("{} is also on line {first}", d.mac),
            });
        }
    }
    problems
}

/// The line numbers of byte offsets in a file, from the positions of its line ends, found
/// once (an import asks for every record's line: counting from the start each time would be
/// quadratic in the file).
pub(super) struct Lines<'a> {
    bytes: &'a [u8],
    ends: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        let ends = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .collect();
        Self { bytes, ends }
    }

    /// The line `byte` is on. csv's own line count is one short after CRLF line ends (and
    /// points a record at the end of the line before it), so lines are counted here.
    pub(super) fn at(&self, byte: usize) -> u64 {
        let mut start = byte.min(self.bytes.len());
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        1 + self.ends.partition_point(|&end| end < start) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_declares_its_format_and_anything_else_is_csv() {
        assert_eq!(
            Format::sniff(b"# phoneboot export\nformat = \"phoneboot-export\"\n"),
            Format::Document
        );
        assert_eq!(Format::sniff(b"name,mac,model,pool\n"), Format::Csv);
        assert_eq!(Format::sniff(b"formatting;mac\n"), Format::Csv);
    }
}
