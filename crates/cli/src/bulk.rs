//! `phoneboot import FILE.csv` and `phoneboot export`: devices in bulk, one row per device
//! with its lines, in the spirit of CUCM's Bulk Administration Tool.
//!
//! Columns are named by the header, in any order: `name` (optional for phones: SEP<MAC>),
//! `mac`, `model`, `protocol` (optional: the model's first), `pool`, `description`, `owner`,
//! `load`, `dial_plan`, `softkeys`, `feature_policy`, `security_mode`, then per line
//! `line<N>_dn`, `line<N>_label`, `line<N>_display_name`, `line<N>_auth_name`,
//! `line<N>_auth_password`, `line<N>_voicemail`, and per speed dial `speed<N>_number`,
//! `speed<N>_label`. A file is committed whole or not at all; a bad row is reported with its
//! line number and the column to fix.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use phoneboot_model::{Device, FieldError, Line, Mac, Object, Protocol, SecurityMode, SpeedDial};
use phoneboot_server::db::DbError;
use phoneboot_store::Write;

use crate::database::DbArgs;

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The CSV file (UTF-8, header row first; comma-, semicolon- or tab-separated, as the
    /// header row shows: spreadsheets in many locales save with semicolons).
    file: PathBuf,
    /// Check the file and report, without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Replace devices that exist already (by default a row for an existing device is an
    /// error, so that a file meant for new phones never overwrites configured ones).
    #[arg(long)]
    update: bool,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    db: DbArgs,
}

const DEVICE_COLUMNS: &[&str] = &[
    "name",
    "mac",
    "model",
    "protocol",
    "pool",
    "description",
    "owner",
    "load",
    "dial_plan",
    "softkeys",
    "feature_policy",
    "security_mode",
];
const LINE_FIELDS: &[&str] = &[
    "dn",
    "label",
    "display_name",
    "auth_name",
    "auth_password",
    "voicemail",
];
const SPEED_FIELDS: &[&str] = &["number", "label"];
/// More lines or speed dials than any phone has buttons for is a mistake in the header.
const MAX_N: usize = 36;

/// A column the importer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Device(&'static str),
    Line(usize, &'static str),
    Speed(usize, &'static str),
}

fn column(header: &str) -> Option<Column> {
    let h = header.trim().to_ascii_lowercase();
    if let Some(c) = DEVICE_COLUMNS.iter().find(|c| **c == h) {
        return Some(Column::Device(c));
    }
    let numbered = |prefix: &str, fields: &'static [&'static str]| {
        let rest = h.strip_prefix(prefix)?;
        let (n, field) = rest.split_once('_')?;
        let n: usize = n.parse().ok().filter(|n| (1..=MAX_N).contains(n))?;
        let field = fields.iter().find(|f| **f == field)?;
        Some((n - 1, *field))
    };
    if let Some((n, f)) = numbered("line", LINE_FIELDS) {
        return Some(Column::Line(n, f));
    }
    numbered("speed", SPEED_FIELDS).map(|(n, f)| Column::Speed(n, f))
}

/// A row that cannot be imported: where, which column, why.
fn row_error(line: u64, field: &str, reason: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("line {line}, column {field}: {reason}; nothing was imported")
}

fn security_mode(text: &str) -> Option<SecurityMode> {
    match text.to_ascii_lowercase().as_str() {
        "" | "1" | "non-secure" | "nonsecure" => Some(SecurityMode::NonSecure),
        "2" | "authenticated" => Some(SecurityMode::Authenticated),
        "3" | "encrypted" => Some(SecurityMode::Encrypted),
        _ => None,
    }
}

fn device_of(
    columns: &[Column],
    record: &csv::StringRecord,
    line: u64,
    catalogue: &phoneboot_model::Catalogue,
) -> anyhow::Result<Device> {
    let mut cells: HashMap<&str, &str> = HashMap::new();
    let mut lines: Vec<Line> = Vec::new();
    let mut speeds: Vec<SpeedDial> = Vec::new();
    for (col, cell) in columns.iter().zip(record.iter()) {
        let cell = cell.trim();
        match col {
            Column::Device(name) => {
                cells.insert(name, cell);
            }
            Column::Line(n, field) => {
                if cell.is_empty() {
                    continue;
                }
                while lines.len() <= *n {
                    lines.push(Line::new(""));
                }
                let l = &mut lines[*n];
                let slot = match *field {
                    "dn" => &mut l.dn,
                    "label" => &mut l.label,
                    "display_name" => &mut l.display_name,
                    "auth_name" => &mut l.auth_name,
                    "auth_password" => &mut l.auth_password,
                    _ => &mut l.voicemail,
                };
                cell.clone_into(slot);
            }
            Column::Speed(n, field) => {
                if cell.is_empty() {
                    continue;
                }
                while speeds.len() <= *n {
                    speeds.push(SpeedDial {
                        number: String::new(),
                        label: String::new(),
                    });
                }
                let sd = &mut speeds[*n];
                cell.clone_into(if *field == "number" {
                    &mut sd.number
                } else {
                    &mut sd.label
                });
            }
        }
    }
    // Lines are numbered: a gap (line1 and line3 only) would move buttons; refuse it.
    if let Some(i) = lines.iter().position(|l| l.dn.is_empty()) {
        return Err(row_error(
            line,
            &format!("line{}_dn", i + 1),
            "is empty, but a later line is set",
        ));
    }
    if let Some(i) = speeds.iter().position(|s| s.number.is_empty()) {
        return Err(row_error(
            line,
            &format!("speed{}_number", i + 1),
            "is empty, but a later speed dial is set",
        ));
    }
    let get = |c: &str| cells.get(c).copied().unwrap_or("");
    let mac: Mac = get("mac").parse().map_err(|e| row_error(line, "mac", e))?;
    let model = get("model");
    let info = catalogue.get(model).ok_or_else(|| {
        row_error(
            line,
            "model",
            format!("{model:?} is not a known model (`phoneboot models`)"),
        )
    })?;
    let protocol = match get("protocol") {
        "" => info.protocols[0],
        p => p
            .parse::<Protocol>()
            .map_err(|e| row_error(line, "protocol", e.reason))?,
    };
    let mut d = Device::phone(mac, &info.name, protocol, get("pool"));
    if !get("name").is_empty() {
        d.name = get("name").to_owned();
    }
    d.description = get("description").to_owned();
    let optional = |c: &str| Some(get(c).to_owned()).filter(|v| !v.is_empty());
    d.owner = optional("owner");
    d.load = optional("load");
    d.dial_plan = optional("dial_plan");
    d.softkeys = optional("softkeys");
    d.feature_policy = optional("feature_policy");
    d.security_mode = security_mode(get("security_mode")).ok_or_else(|| {
        row_error(
            line,
            "security_mode",
            "non-secure, authenticated or encrypted (1, 2, 3)",
        )
    })?;
    d.lines = lines;
    d.speed_dials = speeds;
    d.validate(catalogue)
        .map_err(|e| row_error(line, &csv_field(&e), e.reason))?;
    Ok(d)
}

/// The CSV column a model field error points at (`lines[1].dn` -> `line2_dn`).
fn csv_field(e: &FieldError) -> String {
    let f = &e.field;
    for (prefix, col) in [("lines[", "line"), ("speed_dials[", "speed")] {
        if let Some(rest) = f.strip_prefix(prefix)
            && let Some((n, field)) = rest.split_once("].")
            && let Ok(n) = n.parse::<usize>()
        {
            return format!("{col}{}_{field}", n + 1);
        }
    }
    f.clone()
}

/// The separator of a CSV file: whichever of `,` `;` and tab its header row (which holds no
/// quoted text in practice) has most of; `,` when none.
fn delimiter(file: &[u8]) -> u8 {
    let header = file.split(|b| *b == b'\n').next().unwrap_or_default();
    let count = |d: u8| header.iter().filter(|b| **b == d).count();
    [b';', b'\t']
        .into_iter()
        .filter(|d| count(*d) > count(b','))
        .max_by_key(|d| count(*d))
        .unwrap_or(b',')
}

pub(crate) async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let db = args.db.open().await?;
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .delimiter(delimiter(&bytes))
        .from_reader(&bytes[..]);
    let headers = reader
        .headers()
        .map_err(|e| anyhow!("{}: the header row: {e}", args.file.display()))?
        .clone();
    let mut columns = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let c = column(h).ok_or_else(|| {
            anyhow!(
                "line 1, column {} ({h:?}): not a column the importer knows; known: {}, \
                 line<N>_{{{}}}, speed<N>_{{{}}}",
                i + 1,
                DEVICE_COLUMNS.join(", "),
                LINE_FIELDS.join(","),
                SPEED_FIELDS.join(",")
            )
        })?;
        if columns.contains(&c) {
            bail!("line 1, column {} ({h:?}): appears twice", i + 1);
        }
        columns.push(c);
    }
    for required in ["mac", "model", "pool"] {
        if !columns.contains(&Column::Device(required)) {
            bail!("line 1: the header has no {required:?} column, which every device needs");
        }
    }
    let existing: std::collections::HashSet<String> = if args.update {
        Default::default()
    } else {
        use phoneboot_store::Store;
        db.store()
            .list(phoneboot_model::Kind::Device)
            .await?
            .iter()
            .map(|o| o.key().to_ascii_lowercase())
            .collect()
    };
    let mut writes = Vec::new();
    let mut line_of: HashMap<String, u64> = HashMap::new();
    let mut mac_line: HashMap<Mac, u64> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            anyhow!("line {line}: {e}; nothing was imported")
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let device = device_of(&columns, &record, line, db.catalogue())?;
        let folded = device.name.to_ascii_lowercase();
        if existing.contains(&folded) {
            return Err(row_error(
                line,
                "name",
                format!(
                    "{} exists already (--update replaces existing devices)",
                    device.name
                ),
            ));
        }
        if let Some(first) = line_of.insert(folded, line) {
            return Err(row_error(
                line,
                "name",
                format!("{} is also on line {first}", device.name),
            ));
        }
        if let Some(first) = mac_line.insert(device.mac, line) {
            return Err(row_error(
                line,
                "mac",
                format!("{} is also on line {first}", device.mac),
            ));
        }
        writes.push(Write::Put(Object::Device(device)));
    }
    let rows = writes.len();
    if args.dry_run {
        outln!(
            "{}: {rows} devices, all valid (dry run: nothing written)",
            args.file.display()
        );
        return Ok(());
    }
    match db.apply(writes).await {
        Ok(version) => {
            outln!(
                "imported {rows} devices from {} (version {version})",
                args.file.display()
            );
            Ok(())
        }
        Err(DbError::Invalid { what, error }) => {
            let key = what
                .split_once(' ')
                .map_or(what.as_str(), |(_, k)| k.trim_matches('"'));
            let line = line_of.get(&key.to_ascii_lowercase()).copied().unwrap_or(0);
            Err(row_error(line, &csv_field(&error), error.reason))
        }
        Err(DbError::Store(phoneboot_store::StoreError::Refused(error))) => {
            // A MAC already held by another device of the database.
            let line = error
                .reason
                .get(..12)
                .and_then(|m| m.parse::<Mac>().ok())
                .and_then(|mac| mac_line.get(&mac).copied());
            match line {
                Some(line) => Err(row_error(line, &error.field, error.reason)),
                None => Err(anyhow!(
                    "{}: {error}; nothing was imported",
                    args.file.display()
                )),
            }
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn export(args: ExportArgs) -> anyhow::Result<()> {
    use phoneboot_store::Store;
    let db = args.db.open().await?;
    let devices: Vec<Device> = db
        .store()
        .list(phoneboot_model::Kind::Device)
        .await?
        .into_iter()
        .filter_map(|o| match o {
            Object::Device(d) => Some(d),
            _ => None,
        })
        .collect();
    let max_lines = devices
        .iter()
        .map(|d| d.lines.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let max_speeds = devices
        .iter()
        .map(|d| d.speed_dials.len())
        .max()
        .unwrap_or(0);
    let mut header: Vec<String> = DEVICE_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    for n in 1..=max_lines {
        header.extend(LINE_FIELDS.iter().map(|f| format!("line{n}_{f}")));
    }
    for n in 1..=max_speeds {
        header.extend(SPEED_FIELDS.iter().map(|f| format!("speed{n}_{f}")));
    }
    let sink: Box<dyn std::io::Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = csv::Writer::from_writer(sink);
    w.write_record(&header)?;
    for d in &devices {
        let mode = match d.security_mode {
            SecurityMode::NonSecure => "non-secure",
            SecurityMode::Authenticated => "authenticated",
            SecurityMode::Encrypted => "encrypted",
        };
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        let mut row = vec![
            d.name.clone(),
            d.mac.to_string(),
            d.model.clone(),
            d.protocol.to_string(),
            d.pool.clone(),
            d.description.clone(),
            opt(&d.owner),
            opt(&d.load),
            opt(&d.dial_plan),
            opt(&d.softkeys),
            opt(&d.feature_policy),
            mode.to_owned(),
        ];
        for n in 0..max_lines {
            match d.lines.get(n) {
                Some(l) => row.extend([
                    l.dn.clone(),
                    l.label.clone(),
                    l.display_name.clone(),
                    l.auth_name.clone(),
                    l.auth_password.clone(),
                    l.voicemail.clone(),
                ]),
                None => row.extend(std::iter::repeat_n(String::new(), LINE_FIELDS.len())),
            }
        }
        for n in 0..max_speeds {
            match d.speed_dials.get(n) {
                Some(s) => row.extend([s.number.clone(), s.label.clone()]),
                None => row.extend([String::new(), String::new()]),
            }
        }
        w.write_record(&row)?;
    }
    w.flush()?;
    let mut inner = w.into_inner().map_err(|e| anyhow!("{e}"))?;
    inner.flush()?;
    if let Some(path) = &args.out {
        eprintln!("exported {} devices to {}", devices.len(), path.display());
    }
    Ok(())
}
