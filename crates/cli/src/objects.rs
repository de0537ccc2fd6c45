//! `phoneboot <kind> add|list|show|set|remove`: the same verbs for every kind of object.
//!
//! Values are given as `field=value`, where a value is read as TOML when it parses as such
//! (`members=["cm1","cm2"]`, `tftp_default=true`, `lines=[{dn="1001"}]`) and as text
//! otherwise (`host=192.0.2.11`). A dotted field reaches inside (`lines.0.display_name=Bob`;
//! index = length appends). `--from FILE.toml` reads a whole object.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use phoneboot_model::{Kind, Mac, Object, PARAMS_KEY};
use phoneboot_store::{Store, Write};
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
    /// Print one object as TOML.
    Show {
        /// The object's name (a device: its MAC in any notation, or SEP<MAC>; any case).
        name: String,
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

/// Devices have two more verbs: Extension Mobility login and logout.
#[derive(Debug, Args)]
#[command(after_help = "\
A device is named by its MAC in any notation (0011.2233.4455, 00:11:22:33:44:55,
SEP001122334455), or by its name for IP Communicator (any name) and Jabber for Tablet
(TAB<USERID>). model= and pool= are required; protocol= defaults to the model's first.
    phoneboot device add 0011.2233.4455 model=8841 pool=Default lines='[{dn=\"1001\"}]'
    phoneboot device set SEP001122334455 lines.0.display_name=Bob load=sip88xx.14-3-1")]
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
}

pub(crate) async fn run(kind: Kind, args: ObjectArgs) -> anyhow::Result<()> {
    act(kind, args.verb, &args.db).await
}

pub(crate) async fn run_device(args: DeviceArgs) -> anyhow::Result<()> {
    let verb = match args.verb {
        DeviceVerb::Common(verb) => verb,
        DeviceVerb::Login { name, user } => Verb::Set {
            name,
            fields: vec![format!("em_user={user}")],
        },
        DeviceVerb::Logout { name } => Verb::Set {
            name,
            fields: vec!["em_user=".into()],
        },
    };
    act(Kind::Device, verb, &args.db).await
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
    /// Print the service and enterprise parameters.
    Show,
    /// Change parameters, e.g. build_cnf=all auto_registration=false.
    Set {
        #[arg(value_name = "FIELD=VALUE", required = true)]
        fields: Vec<String>,
    },
}

pub(crate) async fn run_params(args: ParamsArgs) -> anyhow::Result<()> {
    let verb = match args.verb {
        ParamsVerb::Show => Verb::Show {
            name: PARAMS_KEY.into(),
        },
        ParamsVerb::Set { fields } => Verb::Set {
            name: PARAMS_KEY.into(),
            fields,
        },
    };
    act(Kind::Params, verb, &args.db).await
}

fn key_field(kind: Kind) -> &'static str {
    if kind == Kind::User { "id" } else { "name" }
}

/// A device named by its MAC (any notation) means `SEP<MAC>`.
fn device_key(name: &str) -> String {
    match name.parse::<Mac>() {
        Ok(mac) => format!("SEP{mac}"),
        Err(_) => name.to_owned(),
    }
}

async fn get(db: &phoneboot_server::db::Database, kind: Kind, key: &str) -> anyhow::Result<Object> {
    let key = if kind == Kind::Device {
        device_key(key)
    } else {
        key.to_owned()
    };
    match db.store().get(kind, &key).await? {
        Some(o) => Ok(o),
        None if kind == Kind::Params => Ok(Object::Params(Default::default())),
        None => bail!("{kind} {key:?} does not exist (`phoneboot {kind} list` shows what does)"),
    }
}

async fn act(kind: Kind, verb: Verb, args: &DbArgs) -> anyhow::Result<()> {
    let db = args.open().await?;
    match verb {
        Verb::List => {
            for object in db.store().list(kind).await? {
                outln!("{}", summary(&object));
            }
        }
        Verb::Show { name } => {
            let object = get(&db, kind, &name).await?;
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
            let obj = value
                .as_object_mut()
                .ok_or_else(|| anyhow!("the object must be a table"))?;
            if kind == Kind::Device {
                device_defaults(obj, &name);
            } else {
                obj.insert(key_field(kind).into(), Value::String(name.clone()));
            }
            for field in &fields {
                assign(&mut value, field)?;
            }
            if kind == Kind::Device {
                with_default_protocol(&mut value, &db)?;
            }
            let object = Object::from_value(kind, value).map_err(|e| anyhow!("{e}"))?;
            if db.store().get(kind, object.key()).await?.is_some() {
                bail!(
                    "{kind} {:?} exists already; change it with `phoneboot {kind} set`",
                    object.key()
                );
            }
            let version = db.apply(vec![Write::Put(object.clone())]).await?;
            outln!("added {kind} {} (version {version})", object.key());
        }
        Verb::Set { name, fields } => {
            let object = get(&db, kind, &name).await?;
            let mut value = serde_json::to_value(&object)?;
            for field in &fields {
                assign(&mut value, field)?;
            }
            let changed = Object::from_value(kind, value).map_err(|e| anyhow!("{e}"))?;
            if !changed.key().eq_ignore_ascii_case(object.key()) {
                bail!(
                    "the {} of an object cannot change; add a new one and remove this",
                    key_field(kind)
                );
            }
            let version = db.apply(vec![Write::Put(changed)]).await?;
            if kind == Kind::Params {
                outln!("changed the parameters (version {version})");
            } else {
                outln!("changed {kind} {} (version {version})", object.key());
            }
        }
        Verb::Remove { name } => {
            let object = get(&db, kind, &name).await?;
            let version = db
                .apply(vec![Write::Delete(kind, object.key().to_owned())])
                .await?;
            outln!("removed {kind} {} (version {version})", object.key());
        }
    }
    Ok(())
}

/// A new device: NAME is a MAC (the name becomes SEP<MAC>) or a name (then mac= is needed);
/// the protocol defaults to the model's first.
fn device_defaults(obj: &mut Map<String, Value>, name: &str) {
    match name.parse::<Mac>() {
        Ok(mac) => {
            obj.insert("name".into(), Value::String(format!("SEP{mac}")));
            obj.insert("mac".into(), Value::String(mac.to_string()));
        }
        Err(_) => {
            obj.insert("name".into(), Value::String(name.to_owned()));
        }
    }
}

/// Fills the protocol from the model when it was not given (after the fields are applied).
fn with_default_protocol(
    value: &mut Value,
    db: &phoneboot_server::db::Database,
) -> anyhow::Result<()> {
    let Some(obj) = value.as_object_mut() else {
        return Ok(());
    };
    if obj.contains_key("protocol") {
        return Ok(());
    }
    let model = match obj.get("model") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => bail!("model= is required (`phoneboot models` lists them)"),
    };
    let info = db.catalogue().get(&model).ok_or_else(|| {
        anyhow!("model: {model:?} is not in the model catalogue (`phoneboot models` lists it)")
    })?;
    if let Some(p) = info.protocols.first() {
        obj.insert("protocol".into(), Value::String(p.to_string()));
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
