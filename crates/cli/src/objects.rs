//! `phoneboot <kind> add|list|show|set|remove`: the same verbs for every kind of object.
//!
//! Values are given as `field=value`, where a value is read as TOML when it parses as such
//! (`members=["cm1","cm2"]`, `tftp_default=true`, `lines=[{dn="1001"}]`) and as text
//! otherwise (`host=192.0.2.11`). A dotted field reaches inside (`lines.0.display_name=Bob`;
//! index = length appends). `--from FILE.toml` reads a whole object.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use phoneboot_model::{Kind, MASK, Object, PARAMS_KEY};
use phoneboot_server::db::{Database, What, WriteError, Written};
use serde_json::{Map, Value};

use crate::database::DbArgs;

#[derive(Debug, Args)]
pub(crate) struct ObjectArgs {
    #[command(subcommand)]
    verb: Verb,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Add an object: NAME, then field=value pairs (`show` an existing one to see the fields).
    Add {
        /// The object's name (a device: its MAC in any notation, or SEP<MAC>; any case).
        name: String,
        /// A field and its value; values are TOML (`lines='[{dn="1001"}]'`), a dotted path
        /// reaches inside (`lines.0.display_name=Bob`); `field=` puts it back to its default.
        #[arg(value_name = "FIELD=VALUE")]
        fields: Vec<String>,
        /// Read the object from a TOML file (fields on the command line override it).
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
    },
    /// List the objects, one per line.
    List,
    /// Print one object as TOML (passwords shown as ******** unless --secrets).
    Show {
        /// The object's name (a device: its MAC in any notation, or SEP<MAC>; any case).
        name: String,
        /// Show the SIP and SSH passwords themselves.
        #[arg(long)]
        secrets: bool,
    },
    /// Change fields of an object.
    Set {
        /// The object's name (a device: its MAC in any notation, or SEP<MAC>; any case).
        name: String,
        /// A field and its value; values are TOML (`lines='[{dn="1001"}]'`), a dotted path
        /// reaches inside (`lines.0.display_name=Bob`); `field=` puts it back to its default.
        #[arg(value_name = "FIELD=VALUE", required = true)]
        fields: Vec<String>,
    },
    /// Remove an object (refused while another object uses it).
    Remove {
        /// The object's name (a device: its MAC in any notation, or SEP<MAC>; any case).
        name: String,
    },
}

/// Devices have three more verbs: Extension Mobility login and logout, and replacement.
#[derive(Debug, Args)]
#[command(after_help = "\
A device is named by its MAC in any notation (0011.2233.4455, 00:11:22:33:44:55,
SEP001122334455), or by its name for IP Communicator (any name) and Jabber for Tablet
(TAB<USERID>). model= and pool= are required; protocol= defaults to the model's first.
    phoneboot device add 0011.2233.4455 model=8841 pool=Default lines='[{dn=\"1001\"}]'
    phoneboot device set SEP001122334455 lines.0.display_name=Bob load=sip88xx.14-3-1
A broken phone is replaced in place, every line and setting kept:
    phoneboot device replace SEP001122334455 0011.2233.AAAA   (or: set NAME mac=NEW)")]
pub(crate) struct DeviceArgs {
    #[command(subcommand)]
    verb: DeviceVerb,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Subcommand)]
enum DeviceVerb {
    #[command(flatten)]
    Common(Verb),
    /// Extension Mobility: log USER in; the device's file then carries the user's profile.
    /// Refused for a user without a profile, and for one logged in elsewhere unless the
    /// parameters allow it (em_multiple_login = allowed or auto-logout).
    Login {
        /// The device (its MAC in any notation, or its name).
        name: String,
        /// The user whose Extension Mobility profile it takes.
        user: String,
    },
    /// Extension Mobility: log the user out; the device's own lines come back.
    Logout {
        /// The device (its MAC in any notation, or its name).
        name: String,
    },
    /// Replace a broken phone by a new one: the device takes the new MAC (and its name,
    /// SEP<MAC>), keeping every line, setting and login.
    Replace {
        /// The device (its MAC in any notation, or its name).
        name: String,
        /// The new phone's MAC, in any notation.
        mac: String,
    },
}

pub(crate) async fn run(kind: Kind, args: ObjectArgs) -> anyhow::Result<()> {
    args.db.with(|db| act(db, kind, args.verb)).await
}

pub(crate) async fn run_device(args: DeviceArgs) -> anyhow::Result<()> {
    args.db
        .with(|db| async move {
            match args.verb {
                DeviceVerb::Common(verb) => act(db, Kind::Device, verb).await,
                DeviceVerb::Login { name, user } => {
                    let written = db.login(&name, &user).await.map_err(hint)?;
                    say(&written, &format!("logged {user} in on {}", written.key));
                    Ok(())
                }
                DeviceVerb::Logout { name } => {
                    let before = db.get(Kind::Device, &name).await.map_err(hint)?;
                    let written = db.logout(&name).await.map_err(hint)?;
                    let user = match &before.object {
                        Object::Device(d) => d.em_user.clone().unwrap_or_default(),
                        _ => String::new(),
                    };
                    if written.what == What::Unchanged {
                        outln!("nobody is logged in on {}; nothing changed", written.key);
                    } else {
                        say(&written, &format!("logged {user} out of {}", written.key));
                    }
                    Ok(())
                }
                DeviceVerb::Replace { name, mac } => {
                    let current = db.get(Kind::Device, &name).await.map_err(hint)?;
                    let mut value = serde_json::to_value(&current.object)?;
                    assign(&mut value, &format!("mac={mac}"))?;
                    let changed = Object::from_value(Kind::Device, value).map_err(|e| {
                        hint(WriteError::invalid(Kind::Device, current.object.key(), e))
                    })?;
                    let written = db.update(&current, changed).await.map_err(hint)?;
                    report(Kind::Device, current.object.key(), &written);
                    Ok(())
                }
            }
        })
        .await
}

/// `phoneboot params show|set`.
#[derive(Debug, Args)]
pub(crate) struct ParamsArgs {
    #[command(subcommand)]
    verb: ParamsVerb,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Subcommand)]
enum ParamsVerb {
    /// Print the service and enterprise parameters (the SSH password as ******** unless
    /// --secrets).
    Show {
        #[arg(long)]
        secrets: bool,
    },
    /// Change parameters, e.g. build_cnf=all auto_registration=false.
    Set {
        #[arg(value_name = "FIELD=VALUE", required = true)]
        fields: Vec<String>,
    },
}

pub(crate) async fn run_params(args: ParamsArgs) -> anyhow::Result<()> {
    let verb = match args.verb {
        ParamsVerb::Show { secrets } => Verb::Show {
            name: PARAMS_KEY.into(),
            secrets,
        },
        ParamsVerb::Set { fields } => Verb::Set {
            name: PARAMS_KEY.into(),
            fields,
        },
    };
    args.db.with(|db| act(db, Kind::Params, verb)).await
}

/// A refusal with the command that mends it, where there is one.
fn hint(e: WriteError) -> anyhow::Error {
    match &e {
        WriteError::Exists { kind, .. } => {
            anyhow!("{e}; change it with `phoneboot {kind} set`")
        }
        WriteError::NotFound { kind, .. } => {
            anyhow!("{e} (`phoneboot {kind} list` shows what does)")
        }
        _ => anyhow!(e),
    }
}

/// `done` and the version the database is at now.
fn say(written: &Written, done: &str) {
    outln!("{done} (version {})", written.version);
}

/// What a write of `kind` named `name` did, in words.
fn report(kind: Kind, name: &str, written: &Written) {
    let what = if kind == Kind::Params {
        "the parameters".to_owned()
    } else {
        format!("{kind} {}", written.key)
    };
    match &written.what {
        What::Added => say(written, &format!("added {what}")),
        What::Changed => say(written, &format!("changed {what}")),
        What::Removed => say(written, &format!("removed {what}")),
        What::Replaced { was } => say(
            written,
            &format!(
                "replaced {kind} {was} by {}: every line and setting kept",
                written.key
            ),
        ),
        What::Unchanged => outln!("{} already is as asked; nothing changed", {
            if kind == Kind::Params {
                "the parameters".to_owned()
            } else {
                format!("{kind} {name}")
            }
        }),
    }
}

async fn act(db: Database, kind: Kind, verb: Verb) -> anyhow::Result<()> {
    match verb {
        Verb::List => {
            for stored in db.list(kind).await? {
                outln!("{}", summary(&stored.object));
            }
        }
        Verb::Show { name, secrets } => {
            let mut object = db.get(kind, &name).await.map_err(hint)?.object;
            if !secrets {
                object.mask_secrets(MASK);
            }
            out!("{}", to_toml(&object)?);
        }
        Verb::Add { name, fields, from } => {
            let mut value = match from {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let table: toml::Table = toml::from_str(&text)
                        .with_context(|| format!("{} is not TOML", path.display()))?;
                    serde_json::to_value(table)?
                }
                None => Value::Object(Map::new()),
            };
            for field in &fields {
                assign(&mut value, field)?;
            }
            let object = db.draft(kind, &name, value).map_err(hint)?;
            let written = db.add(object).await.map_err(hint)?;
            report(kind, &name, &written);
        }
        Verb::Set { name, fields } => {
            let current = db.get(kind, &name).await.map_err(hint)?;
            let mut value = serde_json::to_value(&current.object)?;
            for field in &fields {
                assign(&mut value, field)?;
            }
            let changed = Object::from_value(kind, value)
                .map_err(|e| hint(WriteError::invalid(kind, current.object.key(), e)))?;
            let written = db.update(&current, changed).await.map_err(hint)?;
            report(kind, current.object.key(), &written);
        }
        Verb::Remove { name } => {
            let current = db.get(kind, &name).await.map_err(hint)?;
            let written = db
                .remove(kind, current.object.key(), Some(current.version))
                .await
                .map_err(hint)?;
            report(kind, current.object.key(), &written);
        }
    }
    Ok(())
}

/// Applies `path=value` to a JSON value.
pub(crate) fn assign(target: &mut Value, field: &str) -> anyhow::Result<()> {
    let (path, raw) = field
        .split_once('=')
        .ok_or_else(|| anyhow!("{field:?}: write FIELD=VALUE"))?;
    let value = parse_value(raw);
    let mut node = target;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        node = match node {
            Value::Object(map) => {
                if last {
                    if raw.is_empty() {
                        map.remove(*part);
                    } else {
                        map.insert((*part).to_owned(), value);
                    }
                    return Ok(());
                }
                map.entry((*part).to_owned()).or_insert_with(|| {
                    if parts[i + 1].parse::<usize>().is_ok() {
                        Value::Array(Vec::new())
                    } else {
                        Value::Object(Map::new())
                    }
                })
            }
            Value::Array(items) => {
                let index: usize = part
                    .parse()
                    .map_err(|_| anyhow!("{path}: {part:?} is not a list index"))?;
                if index > items.len() {
                    bail!(
                        "{path}: index {index}, but the list has {} items",
                        items.len()
                    );
                }
                if index == items.len() {
                    items.push(Value::Object(Map::new()));
                }
                if last {
                    items[index] = value;
                    return Ok(());
                }
                &mut items[index]
            }
            _ => bail!("{path}: {part:?} is inside a value that is not a table or list"),
        };
    }
    Ok(())
}

/// TOML when the text is a TOML value, else the text itself.
fn parse_value(raw: &str) -> Value {
    let parsed: Result<toml::Table, _> = toml::from_str(&format!("v = {raw}"));
    match parsed.ok().and_then(|mut t| t.remove("v")) {
        Some(v) => serde_json::to_value(v).unwrap_or_else(|_| Value::String(raw.to_owned())),
        None => Value::String(raw.to_owned()),
    }
}

fn to_toml(object: &Object) -> anyhow::Result<String> {
    // Through JSON, so TOML sees plain tables (integer map keys become strings).
    let value = serde_json::to_value(object)?;
    Ok(toml::to_string_pretty(&value)?)
}

/// One line for `list`.
fn summary(object: &Object) -> String {
    match object {
        Object::Device(d) => {
            let dns: Vec<&str> = d.lines.iter().map(|l| l.dn.as_str()).collect();
            format!(
                "{:<16} {} {:<14} {:<4} pool={} lines={}{}",
                d.name,
                d.mac,
                d.model,
                d.protocol,
                d.pool,
                if dns.is_empty() {
                    "-".into()
                } else {
                    dns.join(",")
                },
                d.em_user
                    .as_ref()
                    .map(|u| format!(" em_user={u}"))
                    .unwrap_or_default()
            )
        }
        Object::CallManager(c) => format!(
            "{:<16} {} sccp={} sip={}",
            c.name, c.host, c.sccp_port, c.sip_port
        ),
        Object::CmGroup(g) => format!(
            "{:<16} {}{}",
            g.name,
            g.members.join(" > "),
            if g.tftp_default {
                " (auto-registration default)"
            } else {
                ""
            }
        ),
        Object::DateTimeGroup(t) => format!("{:<16} {} {}", t.name, t.date_template, t.time_zone),
        Object::DevicePool(p) => format!(
            "{:<16} group={} datetime={}",
            p.name, p.cm_group, p.date_time
        ),
        Object::DialPlan(p) => format!("{:<16} {} rules", p.name, p.rules.len()),
        Object::Softkeys(t) => format!("{:<16} {} sets", t.name, t.sets.len()),
        Object::FeaturePolicy(p) => format!("{:<16} {} features", p.name, p.features.len()),
        Object::User(u) => format!(
            "{:<16} {}{}",
            u.id,
            u.name,
            if u.profile.is_some() {
                " (mobility profile)"
            } else {
                ""
            }
        ),
        Object::Params(_) => PARAMS_KEY.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_reach_inside_tables_and_lists() {
        let mut v = serde_json::json!({"name": "x", "lines": [{"dn": "1001"}]});
        assign(&mut v, "lines.0.display_name=Bob").unwrap();
        assign(&mut v, "lines.1.dn=1002").unwrap();
        assign(&mut v, "members=[\"a\", \"b\"]").unwrap();
        assign(&mut v, "host=192.0.2.1").unwrap();
        assign(&mut v, "port=2000").unwrap();
        assert_eq!(v["lines"][0]["display_name"], "Bob");
        assert_eq!(
            v["lines"][1]["dn"], 1002,
            "a bare number is a number; the model reads it as text"
        );
        assert_eq!(v["members"][1], "b");
        assert_eq!(v["host"], "192.0.2.1");
        assert_eq!(v["port"], 2000);
        assign(&mut v, "host=").unwrap();
        assert!(v.get("host").is_none(), "an empty value removes the field");
        assert!(assign(&mut v, "lines.5.dn=1").is_err());
        assert!(assign(&mut v, "nothing").is_err());
    }
}
