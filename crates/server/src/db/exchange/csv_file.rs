//! Devices as CSV, Bulk Administration's form: a header row naming the columns, one row per
//! device with every field — lines, speed dials, URLs, vendor settings, security mode and the
//! Extension Mobility login.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use phoneboot_model::{
    Device, FieldError, Line, Mac, Object, Protocol, SecurityMode, SpeedDial, Urls,
};
use serde_json::Value;

use super::{ImportError, Lines, Problem, Read, Row};

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
    "em_user",
];
const URL_FIELDS: &[&str] = &[
    "authentication",
    "directory",
    "idle",
    "idle_timeout",
    "information",
    "messages",
    "proxy_server",
    "services",
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
/// A URL cell holding this sets the URL to nothing (overriding the pool's); an empty cell
/// leaves it to the pool.
const NO_URL: &str = "-";

/// A column the importer knows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    Device(&'static str),
    Url(&'static str),
    Vendor(String),
    Line(usize, &'static str),
    Speed(usize, &'static str),
}

fn column(header: &str) -> Option<Column> {
    let h = header.trim();
    let lower = h.to_ascii_lowercase();
    if let Some(c) = DEVICE_COLUMNS.iter().find(|c| **c == lower) {
        return Some(Column::Device(c));
    }
    if let Some(field) = lower.strip_prefix("urls.") {
        return URL_FIELDS
            .iter()
            .find(|f| **f == field)
            .map(|f| Column::Url(f));
    }
    if let Some(key) = h.strip_prefix("vendor_config.").filter(|k| !k.is_empty()) {
        return Some(Column::Vendor(key.to_owned()));
    }
    let numbered = |prefix: &str, fields: &'static [&'static str]| {
        let rest = lower.strip_prefix(prefix)?;
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

/// The CSV column a field error points at (`lines[1].dn` -> `line2_dn`).
pub(super) fn column_of(field: &str) -> String {
    for (prefix, col) in [("lines[", "line"), ("speed_dials[", "speed")] {
        if let Some(rest) = field.strip_prefix(prefix)
            && let Some((n, f)) = rest.split_once("].")
            && let Ok(n) = n.parse::<usize>()
        {
            return format!("{col}{}_{f}", n + 1);
        }
    }
    field.to_owned()
}

fn security_mode(text: &str) -> Option<SecurityMode> {
    match text.to_ascii_lowercase().as_str() {
        "" | "1" | "non-secure" | "nonsecure" => Some(SecurityMode::NonSecure),
        "2" | "authenticated" => Some(SecurityMode::Authenticated),
        "3" | "encrypted" => Some(SecurityMode::Encrypted),
        _ => None,
    }
}

fn security_text(mode: SecurityMode) -> &'static str {
    match mode {
        SecurityMode::NonSecure => "non-secure",
        SecurityMode::Authenticated => "authenticated",
        SecurityMode::Encrypted => "encrypted",
    }
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

pub(super) fn read(
    bytes: &[u8],
    catalogue: &phoneboot_model::Catalogue,
) -> Result<Read, ImportError> {
    let header_error = |column: String, reason: String| {
        ImportError::of(vec![Problem {
            line: 1,
            column,
            reason,
        }])
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .delimiter(delimiter(bytes))
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| header_error(String::new(), format!("the header row: {e}")))?
        .clone();
    let mut columns = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let c = column(h).ok_or_else(|| {
            header_error(
                format!("{} ({h:?})", i + 1),
                format!(
                    "not a column the importer knows; known: {}, urls.{{{}}}, \
                     vendor_config.<element>, line<N>_{{{}}}, speed<N>_{{{}}}",
                    DEVICE_COLUMNS.join(", "),
                    URL_FIELDS.join(","),
                    LINE_FIELDS.join(","),
                    SPEED_FIELDS.join(",")
                ),
            )
        })?;
        if columns.contains(&c) {
            return Err(header_error(
                format!("{} ({h:?})", i + 1),
                "appears twice".into(),
            ));
        }
        columns.push(c);
    }
    for required in ["mac", "model", "pool"] {
        if !columns.contains(&Column::Device(required)) {
            return Err(header_error(
                String::new(),
                format!("the header has no {required:?} column, which every device needs"),
            ));
        }
    }
    let lines = Lines::new(bytes);
    let mut read = Read {
        rows: Vec::new(),
        problems: Vec::new(),
        // A file without password columns was exported without them.
        secrets: columns
            .iter()
            .any(|c| matches!(c, Column::Line(_, "auth_password"))),
    };
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| {
                    lines.at(usize::try_from(p.byte()).unwrap_or(usize::MAX))
                });
                match device_of(&columns, &record, catalogue) {
                    Ok(device) => read.rows.push(Row {
                        line,
                        object: Object::Device(device),
                        change: super::RowChange::Added,
                    }),
                    Err(errors) => read.problems.extend(errors.into_iter().map(|e| Problem {
                        line,
                        column: column_of(&e.field),
                        reason: e.reason,
                    })),
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| {
                    lines.at(usize::try_from(p.byte()).unwrap_or(usize::MAX))
                });
                let reason = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!(
                        "{len} cells, but the header has {expected_len} columns (a separator \
                         too many or too few?)"
                    ),
                    csv::ErrorKind::Utf8 { .. } => "not UTF-8 text (save the file as UTF-8)".into(),
                    _ => e.to_string(),
                };
                read.problems.push(Problem {
                    line,
                    column: String::new(),
                    reason,
                });
            }
        }
    }
    Ok(read)
}

/// One row as a device, or every cell of it that is wrong.
fn device_of(
    columns: &[Column],
    record: &csv::StringRecord,
    catalogue: &phoneboot_model::Catalogue,
) -> Result<Device, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut cells: HashMap<&str, &str> = HashMap::new();
    let mut urls = serde_json::Map::new();
    let mut vendor = BTreeMap::new();
    let mut lines: Vec<Line> = Vec::new();
    let mut speeds: Vec<SpeedDial> = Vec::new();
    for (col, cell) in columns.iter().zip(record.iter()) {
        let cell = cell.trim();
        match *col {
            Column::Device(name) => {
                cells.insert(name, cell);
            }
            Column::Url(field) => {
                let value = match (cell, field) {
                    ("", _) => continue,
                    (NO_URL, _) => Value::String(String::new()),
                    (n, "idle_timeout") => match n.parse::<u32>() {
                        Ok(n) => Value::from(n),
                        Err(_) => {
                            errors.push(FieldError::new(
                                "urls.idle_timeout",
                                format!("{n:?} is not a whole number of seconds"),
                            ));
                            continue;
                        }
                    },
                    (url, _) => Value::String(url.to_owned()),
                };
                urls.insert(field.to_owned(), value);
            }
            Column::Vendor(ref key) => {
                if !cell.is_empty() {
                    vendor.insert(key.clone(), cell.to_owned());
                }
            }
            Column::Line(n, field) => {
                if cell.is_empty() {
                    continue;
                }
                while lines.len() <= n {
                    lines.push(Line::new(""));
                }
                let l = &mut lines[n];
                let slot = match field {
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
                while speeds.len() <= n {
                    speeds.push(SpeedDial {
                        number: String::new(),
                        label: String::new(),
                    });
                }
                let sd = &mut speeds[n];
                cell.clone_into(if field == "number" {
                    &mut sd.number
                } else {
                    &mut sd.label
                });
            }
        }
    }
    // Every cell of a row is checked, not only the first wrong one.
    for (i, line) in lines.iter().enumerate().filter(|(_, l)| !l.dn.is_empty()) {
        if let Err(e) = line.validate() {
            errors.push(e.within(&format!("lines[{i}]")));
        }
    }
    for (i, sd) in speeds
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.number.is_empty())
    {
        if let Err(e) = sd.validate() {
            errors.push(e.within(&format!("speed_dials[{i}]")));
        }
    }
    // Lines are numbered: a gap (line1 and line3 only) would move buttons; refuse it.
    if let Some(i) = lines.iter().position(|l| l.dn.is_empty()) {
        errors.push(FieldError::new(
            format!("lines[{i}].dn"),
            "is empty, but a later line is set",
        ));
    }
    if let Some(i) = speeds.iter().position(|s| s.number.is_empty()) {
        errors.push(FieldError::new(
            format!("speed_dials[{i}].number"),
            "is empty, but a later speed dial is set",
        ));
    }
    let get = |c: &str| cells.get(c).copied().unwrap_or("");
    let mac = get("mac")
        .parse::<Mac>()
        .map_err(|e| errors.push(FieldError::new("mac", e.to_string())))
        .ok();
    let model = get("model");
    let info = catalogue.get(model);
    if info.is_none() {
        errors.push(FieldError::new(
            "model",
            format!("{model:?} is not a known model (`phoneboot models`)"),
        ));
    }
    let protocol = match (get("protocol"), info) {
        ("", Some(info)) => info.protocols.first().copied(),
        ("", None) => None,
        (p, _) => p
            .parse::<Protocol>()
            .map_err(|e| errors.push(FieldError::new("protocol", e.reason)))
            .ok(),
    };
    let security = security_mode(get("security_mode"));
    if security.is_none() {
        errors.push(FieldError::new(
            "security_mode",
            "non-secure, authenticated or encrypted (1, 2, 3)",
        ));
    }
    let urls: Result<Urls, FieldError> =
        phoneboot_model::from_value(Value::Object(urls)).map_err(|e| e.within("urls"));
    let urls = urls.map_err(|e| errors.push(e)).ok();
    let (Some(mac), Some(info), Some(protocol), Some(security), Some(urls), true) =
        (mac, info, protocol, security, urls, errors.is_empty())
    else {
        return Err(errors);
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
    d.em_user = optional("em_user");
    d.security_mode = security;
    d.lines = lines;
    d.speed_dials = speeds;
    d.vendor_config = vendor;
    d.urls = urls;
    Ok(d)
}

/// Devices as CSV, with a column for every field some device sets (the password columns only
/// with `secrets`).
pub(super) fn export(devices: &[Device], secrets: bool) -> Vec<u8> {
    let line_fields: Vec<&str> = LINE_FIELDS
        .iter()
        .copied()
        .filter(|f| secrets || *f != "auth_password")
        .collect();
    let max_lines = devices
        .iter()
        .map(|d| d.lines.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let max_speeds = devices
        .iter()
        .map(|d| d.speed_dials.len())
        .max()
        .unwrap_or(0);
    let url_fields: Vec<&str> = URL_FIELDS
        .iter()
        .copied()
        .filter(|f| devices.iter().any(|d| url_cell(&d.urls, f).is_some()))
        .collect();
    let vendor_keys: BTreeSet<&str> = devices
        .iter()
        .flat_map(|d| d.vendor_config.keys().map(String::as_str))
        .collect();
    let mut header: Vec<String> = DEVICE_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    header.extend(url_fields.iter().map(|f| format!("urls.{f}")));
    header.extend(vendor_keys.iter().map(|k| format!("vendor_config.{k}")));
    for n in 1..=max_lines {
        header.extend(line_fields.iter().map(|f| format!("line{n}_{f}")));
    }
    for n in 1..=max_speeds {
        header.extend(SPEED_FIELDS.iter().map(|f| format!("speed{n}_{f}")));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = w.write_record(&header);
    for d in devices {
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
            security_text(d.security_mode).to_owned(),
            opt(&d.em_user),
        ];
        row.extend(
            url_fields
                .iter()
                .map(|f| url_cell(&d.urls, f).unwrap_or_default()),
        );
        row.extend(
            vendor_keys
                .iter()
                .map(|k| d.vendor_config.get(*k).cloned().unwrap_or_default()),
        );
        for n in 0..max_lines {
            let line = d.lines.get(n);
            row.extend(line_fields.iter().map(|f| {
                line.map(|l| match *f {
                    "dn" => l.dn.clone(),
                    "label" => l.label.clone(),
                    "display_name" => l.display_name.clone(),
                    "auth_name" => l.auth_name.clone(),
                    "auth_password" => l.auth_password.clone(),
                    _ => l.voicemail.clone(),
                })
                .unwrap_or_default()
            }));
        }
        for n in 0..max_speeds {
            match d.speed_dials.get(n) {
                Some(s) => row.extend([s.number.clone(), s.label.clone()]),
                None => row.extend([String::new(), String::new()]),
            }
        }
        let _ = w.write_record(&row);
    }
    w.into_inner().unwrap_or_default()
}

/// A device's URL field as a cell: `None` when it leaves it to the pool.
fn url_cell(urls: &Urls, field: &str) -> Option<String> {
    let text = |v: &Option<String>| {
        v.as_ref().map(|u| {
            if u.is_empty() {
                NO_URL.to_owned()
            } else {
                u.clone()
            }
        })
    };
    match field {
        "authentication" => text(&urls.authentication),
        "directory" => text(&urls.directory),
        "idle" => text(&urls.idle),
        "idle_timeout" => urls.idle_timeout.map(|t| t.to_string()),
        "information" => text(&urls.information),
        "messages" => text(&urls.messages),
        "proxy_server" => text(&urls.proxy_server),
        "services" => text(&urls.services),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_for_lf_crlf_and_records_spanning_lines() {
        for (text, starts) in [
            ("a,b\n1,2\n3,\"x\ny\"\n5,6\n", [2u64, 3, 5]),
            ("a,b\r\n1,2\r\n3,\"x\r\ny\"\r\n5,6\r\n", [2, 3, 5]),
            (
                "\u{feff}a;b\r\n1;2\r\n3;\"x\r\ny\"\r\n\r\n5;6\r\n",
                [2, 3, 6],
            ),
        ] {
            let bytes = text.as_bytes();
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter(bytes))
                .from_reader(bytes);
            let counter = Lines::new(bytes);
            let lines: Vec<u64> = reader
                .records()
                .map(|r| {
                    counter.at(usize::try_from(r.unwrap().position().unwrap().byte()).unwrap())
                })
                .collect();
            assert_eq!(lines, starts, "{text:?}");
        }
    }

    #[test]
    fn field_errors_point_at_their_csv_columns() {
        assert_eq!(column_of("lines[1].dn"), "line2_dn");
        assert_eq!(column_of("speed_dials[0].number"), "speed1_number");
        assert_eq!(column_of("vendor_config.pcPort"), "vendor_config.pcPort");
        assert_eq!(column("urls.idle"), Some(Column::Url("idle")));
        assert_eq!(
            column("vendor_config.pcPort"),
            Some(Column::Vendor("pcPort".into()))
        );
        assert_eq!(column("line37_dn"), None);
    }
}
