//! Writes: add, update, remove, Extension Mobility login and logout, and the general batch
//! every one of them (and the importer) goes through.

use std::collections::{BTreeMap, HashSet};

use phoneboot_model::{Device, FieldError, Kind, Mac, MultipleLogin, Object, Snapshot};
use phoneboot_store::{Mode, StoreError, Stored, Version, Write};
use serde_json::Value;

use super::error::from_violation;
use super::{Database, WriteError};

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The version the database is at after it (the version it would be at, for a dry run).
    pub version: Version,
    pub kind: Kind,
    /// The object's key after the write.
    pub key: String,
    pub what: What,
}

/// The kind of change a write made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    Added,
    Changed,
    /// A phone got a new MAC and with it a new name (`SEP<MAC>`), keeping everything else.
    Replaced {
        was: String,
    },
    Removed,
    /// It already was as asked: nothing was written.
    Unchanged,
}

/// The refusals of a batch, each with the index of the step it concerns, in step order.
#[derive(Debug)]
pub struct Refused(pub Vec<(usize, WriteError)>);

impl Refused {
    /// The first refusal, for a write of one object.
    fn first(self) -> WriteError {
        self.0.into_iter().next().map_or_else(
            || WriteError::Store(StoreError::Refused(Vec::new())),
            |(_, e)| e,
        )
    }
}

impl From<WriteError> for Refused {
    fn from(e: WriteError) -> Self {
        Self(vec![(0, e)])
    }
}

/// A phone named by its MAC (`SEP<MAC>`) that is given a new MAC: the same phone under its
/// new name, every line, setting and login kept. `None` for any other change.
fn replaced_phone(was: &Object, now: &Object) -> Option<Object> {
    let (Object::Device(was), Object::Device(now)) = (was, now) else {
        return None;
    };
    let named_by_mac = was.name.eq_ignore_ascii_case(&format!("SEP{}", was.mac));
    if was.mac == now.mac || !named_by_mac || !now.name.eq_ignore_ascii_case(&was.name) {
        return None;
    }
    Some(Object::Device(Device {
        name: format!("SEP{}", now.mac),
        ..now.clone()
    }))
}

/// The field an object of `kind` is named by.
pub fn key_field(kind: Kind) -> &'static str {
    if kind == Kind::User { "id" } else { "name" }
}

/// True when `text` is probably meant as a MAC address (hex digits and the usual separators,
/// or SEP and those), so that a mistyped one is told as such.
fn looks_like_mac(text: &str) -> bool {
    let body = text
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("SEP"))
        .map_or(text, |_| &text[3..]);
    body.len() >= 6
        && body
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'-' | b'.'))
        && body.bytes().filter(u8::is_ascii_digit).count() >= 2
}

impl Database {
    /// A new object of `kind` named `name` from the fields of `value` (a JSON table, what the
    /// CLI builds from `field=value` and the API receives): the name goes into the key field,
    /// a device named by its MAC is `SEP<MAC>` with that MAC, and a device's protocol is its
    /// model's first unless given.
    pub fn draft(&self, kind: Kind, name: &str, mut value: Value) -> Result<Object, WriteError> {
        let invalid = |field: &str, reason: String| {
            WriteError::invalid(kind, name, FieldError::new(field, reason))
        };
        let Some(fields) = value.as_object_mut() else {
            return Err(invalid(kind.as_str(), "must be a table of fields".into()));
        };
        if kind == Kind::Device {
            match name.parse::<Mac>() {
                Ok(mac) => {
                    fields.insert("name".into(), Value::String(format!("SEP{mac}")));
                    fields
                        .entry("mac")
                        .or_insert_with(|| Value::String(mac.to_string()));
                }
                Err(e) if looks_like_mac(name) && !fields.contains_key("mac") => {
                    return Err(invalid("mac", e.to_string()));
                }
                Err(_) => {
                    fields.insert("name".into(), Value::String(name.to_owned()));
                    if !fields.contains_key("mac") {
                        return Err(invalid(
                            "mac",
                            "is required for a device named by a name (IP Communicator, \
                             Jabber for Tablet); a phone is named by its MAC"
                                .into(),
                        ));
                    }
                }
            }
            self.default_protocol(name, fields)?;
        } else if kind != Kind::Params {
            fields.insert(key_field(kind).into(), Value::String(name.to_owned()));
        }
        Object::from_value(kind, value).map_err(|e| WriteError::invalid(kind, name, e))
    }

    /// Fills a device's protocol from its model when it was not given.
    fn default_protocol(
        &self,
        name: &str,
        fields: &mut serde_json::Map<String, Value>,
    ) -> Result<(), WriteError> {
        if fields.contains_key("protocol") {
            return Ok(());
        }
        let invalid = |reason: String| {
            WriteError::invalid(Kind::Device, name, FieldError::new("model", reason))
        };
        let model = match fields.get("model") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(invalid("must be a model name (`phoneboot models`)".into())),
            None => {
                return Err(invalid(
                    "is required (`phoneboot models` lists them)".into(),
                ));
            }
        };
        let info = self.catalogue.get(&model).ok_or_else(|| {
            invalid(format!(
                "{model:?} is not in the model catalogue (`phoneboot models` lists it)"
            ))
        })?;
        if let Some(p) = info.protocols.first() {
            fields.insert("protocol".into(), Value::String(p.to_string()));
        }
        Ok(())
    }

    /// Adds an object that must not exist yet.
    pub async fn add(&self, object: Object) -> Result<Written, WriteError> {
        let (kind, key) = (object.kind(), object.key().to_owned());
        self.commit(vec![Write::Insert(object)], (kind, key), What::Added)
            .await
    }

    /// Commits the writes of one change to one object, said as `what` was done to it.
    async fn commit(
        &self,
        writes: Vec<Write>,
        (kind, key): (Kind, String),
        what: What,
    ) -> Result<Written, WriteError> {
        let version = self
            .apply(writes, Mode::Commit)
            .await
            .map_err(Refused::first)?;
        Ok(Written {
            version,
            kind,
            key,
            what,
        })
    }

    /// Replaces `current` (as read) by `changed`, refused if it moved since it was read. A
    /// name never changes — but a phone named by its MAC that is given a new MAC is replaced
    /// in place: it becomes `SEP<new MAC>` with every line, setting and login it had.
    pub async fn update(&self, current: &Stored, changed: Object) -> Result<Written, WriteError> {
        let (kind, old) = (current.object.kind(), current.object.key().to_owned());
        if changed == current.object {
            return Ok(Written {
                version: current.version,
                kind,
                key: old,
                what: What::Unchanged,
            });
        }
        if let Some(replacement) = replaced_phone(&current.object, &changed) {
            let key = replacement.key().to_owned();
            let writes = vec![
                Write::Delete {
                    kind,
                    key: old.clone(),
                    expected: Some(current.version),
                },
                Write::Insert(replacement),
            ];
            let version = self.apply(writes, Mode::Commit).await.map_err(|refused| {
                match refused.first() {
                    // The new name is a phone's that holds the MAC already.
                    WriteError::Exists { kind, key: holder }
                        if holder.eq_ignore_ascii_case(&key) =>
                    {
                        WriteError::invalid(
                            kind,
                            &old,
                            FieldError::new(
                                "mac",
                                format!("{} already belongs to {kind} {holder:?}", &key[3..]),
                            ),
                        )
                    }
                    other => other,
                }
            })?;
            return Ok(Written {
                version,
                kind,
                key,
                what: What::Replaced { was: old },
            });
        }
        if !changed.key().eq_ignore_ascii_case(&old) {
            return Err(WriteError::invalid(
                kind,
                &old,
                FieldError::new(
                    key_field(kind),
                    "cannot change: add a new object under the new name and remove this one",
                ),
            ));
        }
        // Version 0: the parameters' defaults, never written yet.
        let writes = vec![if current.version == 0 {
            Write::Insert(changed)
        } else {
            Write::Update {
                object: changed,
                expected: current.version,
            }
        }];
        self.commit(writes, (kind, old), What::Changed).await
    }

    /// Removes an object, refused while others use it (and if it moved since `expected`).
    pub async fn remove(
        &self,
        kind: Kind,
        key: &str,
        expected: Option<Version>,
    ) -> Result<Written, WriteError> {
        let writes = vec![Write::Delete {
            kind,
            key: key.to_owned(),
            expected,
        }];
        self.commit(writes, (kind, key.to_owned()), What::Removed)
            .await
    }

    /// Extension Mobility: logs `user` in on the device; its file then carries the user's
    /// profile (the rules of [`Self::apply`]'s logins hold).
    pub async fn login(&self, device: &str, user: &str) -> Result<Written, WriteError> {
        let current = self.get(Kind::Device, device).await?;
        let Object::Device(mut d) = current.object.clone() else {
            unreachable!("a device is stored as a device")
        };
        d.em_user = Some(user.to_owned());
        self.update(&current, Object::Device(d)).await
    }

    /// Extension Mobility: logs out whoever is logged in on the device. A device nobody is
    /// logged into is left as it is ([`What::Unchanged`]).
    pub async fn logout(&self, device: &str) -> Result<Written, WriteError> {
        let current = self.get(Kind::Device, device).await?;
        let Object::Device(mut d) = current.object.clone() else {
            unreachable!("a device is stored as a device")
        };
        d.em_user = None;
        self.update(&current, Object::Device(d)).await
    }

    /// Checks and makes a batch of writes in one transaction (or, as a dry run, exactly the
    /// same checks and steps, then rolled back). Every refusal is reported with its step's
    /// index, not only the first; nothing is written if there is one.
    pub async fn apply(&self, writes: Vec<Write>, mode: Mode) -> Result<Version, Refused> {
        let writes: Vec<Write> = writes.into_iter().map(|w| self.canonical(w)).collect();
        let mut refused: Vec<(usize, WriteError)> = Vec::new();
        // 1. The model: each object's own values.
        for (index, write) in writes.iter().enumerate() {
            if let Some(object) = write.object()
                && let Err(e) = object.validate(&self.catalogue)
            {
                refused.push((index, WriteError::invalid(object.kind(), object.key(), e)));
            }
        }
        // 2. Extension Mobility: what a login needs, and the writes it brings.
        let mut writes: Vec<(usize, Write)> = writes.into_iter().enumerate().collect();
        let context = self.context_of(&writes).await?;
        let logins = self.logins(&context, &writes).await?;
        refused.extend(logins.refused);
        writes.extend(logins.writes);
        // 3. The files: every file an object lands in can be built as a phone reads it.
        let context = if logins.touched {
            self.context_of(&writes).await?
        } else {
            context
        };
        for (index, write) in &writes {
            if let Some(object) = write.object()
                && !refused.iter().any(|(i, _)| i == index)
                && let Err(e) = self.check_files(&context, object)
            {
                refused.push((*index, WriteError::invalid(object.kind(), object.key(), e)));
            }
        }
        // 4. The database, inside the transaction. Refused steps are left out; the rest still
        // go through the store (rolled back) so that everything it would refuse is reported
        // in the same answer.
        let failed: Vec<usize> = refused.iter().map(|(i, _)| *i).collect();
        let (origin, steps): (Vec<usize>, Vec<Write>) = writes
            .into_iter()
            .filter(|(i, _)| !failed.contains(i))
            .unzip();
        let mode = if refused.is_empty() {
            mode
        } else {
            Mode::DryRun
        };
        match self.store.write_by(&steps, mode, &self.actor).await {
            Ok(version) if refused.is_empty() => return Ok(version),
            Ok(_) => {}
            Err(StoreError::Refused(violations)) => {
                for (step, violation) in violations {
                    let Some(index) = origin.get(step).copied() else {
                        continue;
                    };
                    let object = steps.get(step).and_then(Write::object);
                    refused.push((index, from_violation(violation, object)));
                }
            }
            Err(e) => return Err(Refused::from(WriteError::Store(e))),
        }
        refused.sort_by_key(|(i, _)| *i);
        Err(Refused(refused))
    }

    /// A device is stored under its model's catalogue name, whichever name it was given by
    /// (`CP-8845` is the 8845).
    fn canonical(&self, mut write: Write) -> Write {
        if let Write::Insert(Object::Device(d))
        | Write::Put(Object::Device(d))
        | Write::Update {
            object: Object::Device(d),
            ..
        } = &mut write
            && let Some(info) = self.catalogue.get(&d.model)
        {
            d.model.clone_from(&info.name);
        }
        write
    }

    async fn context_of(&self, writes: &[(usize, Write)]) -> Result<Snapshot, WriteError> {
        self.context(writes.iter().map(|(_, w)| w)).await
    }

    /// The rules of an Extension Mobility login (CUCM's): the user must have a profile, and a
    /// user logged in elsewhere is refused, allowed, or logged out there, as the Multiple
    /// Login Behavior parameter says. Each login also writes the user back at the version
    /// read, so that two logins of one user at once cannot both pass: the second meets a
    /// conflict and, read again, sees the first.
    async fn logins(
        &self,
        context: &Snapshot,
        writes: &[(usize, Write)],
    ) -> Result<Logins, WriteError> {
        let mut out = Logins::default();
        // user (folded) -> the devices of this batch it logs in on.
        let mut in_batch: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut locked: HashSet<String> = HashSet::new();
        for (index, write) in writes {
            let Some(Object::Device(device)) = write.object() else {
                continue;
            };
            let Some(user) = device.em_user.as_deref() else {
                continue;
            };
            let current = self.store.get(Kind::Device, &device.name).await?;
            let already = current.as_ref().is_some_and(|s| match &s.object {
                Object::Device(d) => d
                    .em_user
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(user)),
                _ => false,
            });
            if already {
                continue;
            }
            let refuse = |reason: String| {
                WriteError::invalid(
                    Kind::Device,
                    &device.name,
                    FieldError::new("em_user", reason),
                )
            };
            // A missing user is the store's to refuse (a name that does not exist).
            let Some(profiled) = context.users.get(user) else {
                continue;
            };
            if profiled.profile.is_none() {
                out.refused.push((
                    *index,
                    refuse(format!(
                        "user {user:?} has no Extension Mobility profile to log in with \
                         (give it one: phoneboot user set {user} profile.lines=...)"
                    )),
                ));
                continue;
            }
            let folded = user.to_ascii_lowercase();
            let elsewhere = self.logged_in(user, &device.name).await?;
            let batch_others = in_batch.entry(folded.clone()).or_default();
            let mut others: Vec<String> = elsewhere
                .iter()
                .map(|s| s.object.key().to_owned())
                .collect();
            others.extend(batch_others.iter().cloned());
            batch_others.push(device.name.clone());
            match context.params.em_multiple_login {
                MultipleLogin::NotAllowed if !others.is_empty() => {
                    out.refused.push((
                        *index,
                        refuse(format!(
                            "user {user:?} is logged in on {} already: log out there first, or \
                             allow it (phoneboot params set em_multiple_login=allowed or \
                             auto-logout)",
                            others.join(", ")
                        )),
                    ));
                    continue;
                }
                MultipleLogin::AutoLogout => {
                    for stored in elsewhere {
                        let Object::Device(mut other) = stored.object else {
                            continue;
                        };
                        other.em_user = None;
                        out.writes.push((
                            *index,
                            Write::Update {
                                object: Object::Device(other),
                                expected: stored.version,
                            },
                        ));
                    }
                }
                _ => {}
            }
            if locked.insert(folded)
                && let Some(stored) = self.store.get(Kind::User, user).await?
            {
                out.writes.push((
                    *index,
                    Write::Update {
                        object: stored.object,
                        expected: stored.version,
                    },
                ));
            }
            out.touched = true;
        }
        Ok(out)
    }

    /// The devices other than `except` that `user` is logged in on.
    async fn logged_in(&self, user: &str, except: &str) -> Result<Vec<Stored>, WriteError> {
        Ok(self
            .store
            .referrers(Kind::User, user)
            .await?
            .into_iter()
            .filter(|s| match &s.object {
                Object::Device(Device { name, em_user, .. }) => {
                    !name.eq_ignore_ascii_case(except)
                        && em_user
                            .as_deref()
                            .is_some_and(|u| u.eq_ignore_ascii_case(user))
                }
                _ => false,
            })
            .collect())
    }
}

/// What the login rules found in a batch.
#[derive(Debug, Default)]
struct Logins {
    refused: Vec<(usize, WriteError)>,
    /// More steps: devices logged out elsewhere, the users written back at their version.
    writes: Vec<(usize, Write)>,
    /// Some login brought writes, so the files are checked against them too.
    touched: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistyped_macs_are_told_from_device_names() {
        for mac in [
            "0011.2233.44",
            "00:11:22:33:44",
            "SEP00112233445",
            "001122-334455",
        ] {
            assert!(looks_like_mac(mac), "{mac}");
        }
        for name in ["BOBSOFTPHONE", "TABALICE", "alice-icm", "ab.cd"] {
            assert!(!looks_like_mac(name), "{name}");
        }
    }
}
