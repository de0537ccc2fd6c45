//! The configuration builder: a [`Snapshot`] of the device database in, the files devices ask
//! for out. Pure — no I/O, no clock — so a file depends on the database and nothing else,
//! and its `versionStamp` changes exactly when its content does.
//!
//! - [`grammar`] reads what a requested name names from its spelling alone ([`Requested`],
//!   [`Name`]); the server's counters and the emulator use it too.
//! - [`resolve`] maps a requested name to the object it is built from (case-insensitively);
//!   [`all`] lists every file the database implies.
//! - [`render`] builds one file; [`check`] tells a writer whether an object can be written
//!   into every file it appears in, before the write is committed.

mod device;
pub mod grammar;
mod legacy;
mod lint;
mod names;
mod plans;
mod stamp;
mod text;
mod xml;

use phoneboot_model::{FieldError, Kind, Object, Snapshot};

pub use device::load_of;
pub use grammar::{Form, MacCase, Name, Requested, pattern};
pub use lint::{Needed, Needs, needs};
pub use names::{Built, Class, all, device_files, resolve};
pub use plans::MAX_DIAL_PLAN_BYTES;

/// Why a file could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A value the format cannot carry.
    #[error("{0}")]
    Field(FieldError),
    /// An object the file needs is not in the snapshot.
    #[error("{kind} {key:?} does not exist")]
    Missing { kind: Kind, key: String },
}

/// Builds one file. `Ok(None)`: the object it would be built from no longer exists.
pub fn render(s: &Snapshot, file: &Built) -> Result<Option<Vec<u8>>, RenderError> {
    let device = |name: &str| s.devices.get(name);
    let text = match file {
        Built::SepXml(mac) => match s.device_by_mac(*mac) {
            Some(d) => device::cnf_xml(s, d)?,
            None => return Ok(None),
        },
        Built::DeviceXml(name) | Built::TabletXml(name) => match device(name) {
            Some(d) => device::cnf_xml(s, d)?,
            None => return Ok(None),
        },
        Built::XmlDefault => device::xml_default(s)?,
        Built::SipDefault => text::sip_default(s)?,
        Built::SipCnf(mac) => match s.device_by_mac(*mac) {
            Some(d) => text::sip_cnf(s, d)?,
            None => return Ok(None),
        },
        Built::Profile(p, mac) => match s.device_by_mac(*mac) {
            Some(d) => text::profile(s, d, *p)?,
            None => return Ok(None),
        },
        Built::SepCnf(mac) => {
            return match s.device_by_mac(*mac) {
                Some(d) => legacy::sep_cnf(s, d).map(Some),
                None => Ok(None),
            };
        }
        Built::DialPlan(name) | Built::SipDialPlan(name) => match s.dial_plans.get(name) {
            Some(p) => plans::dial_plan(p)?,
            None => return Ok(None),
        },
        Built::Softkeys(name) => match s.softkeys.get(name) {
            Some(t) => plans::softkeys(t),
            None => return Ok(None),
        },
        Built::FeaturePolicy(name) => match s.feature_policies.get(name) {
            Some(p) => plans::feature_policy(p),
            None => return Ok(None),
        },
    };
    Ok(Some(stamp::seal(&text).into_bytes()))
}

/// The stub configuration of a device in an encrypted security profile, whose whole
/// configuration goes only in its `.enc.sgn`; `cert_hash` is the MD5 of its certificate.
pub fn encrypted_stub(s: &Snapshot, device: &phoneboot_model::Device, cert_hash: &str) -> Vec<u8> {
    stamp::seal(&device::encrypted_stub(s, device, cert_hash)).into_bytes()
}

/// Resolves and builds `name` in one step: `None` when it is not a built file.
pub fn render_name(s: &Snapshot, name: &str) -> Option<(Built, Result<Vec<u8>, RenderError>)> {
    let file = resolve(s, name)?;
    match render(s, &file) {
        Ok(Some(bytes)) => Some((file, Ok(bytes))),
        Ok(None) => None,
        Err(e) => Some((file, Err(e))),
    }
}

/// Whether `object`, as it is in `s`, can be written into every file it appears in. Writers
/// call this on the snapshot *with* the change applied, before committing it, so that the
/// database never holds a value that would produce a file a phone mis-parses.
pub fn check(s: &Snapshot, object: &Object) -> Result<(), FieldError> {
    let files: Vec<Built> = match object {
        Object::Device(d) => names::device_files(s, d),
        Object::DialPlan(p) => vec![Built::DialPlan(p.name.clone())],
        Object::Softkeys(t) => vec![Built::Softkeys(t.name.clone())],
        Object::FeaturePolicy(p) => vec![Built::FeaturePolicy(p.name.clone())],
        Object::CallManager(_) | Object::CmGroup(_) | Object::Params(_) => {
            vec![Built::XmlDefault, Built::SipDefault]
        }
        Object::User(u) => s
            .devices
            .iter()
            .filter(|d| {
                d.em_user
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(&u.id))
            })
            .flat_map(|d| names::device_files(s, d))
            .collect(),
        Object::DateTimeGroup(_) | Object::DevicePool(_) => Vec::new(),
    };
    for file in files {
        match render(s, &file) {
            Ok(_) => {}
            // A legacy .cnf that cannot be built is left out, not a reason to refuse a write:
            // the format is unverified and most devices never ask for it.
            Err(_) if matches!(file, Built::SepCnf(_)) => {}
            Err(RenderError::Field(e)) => {
                return Err(FieldError::new(
                    e.field,
                    format!("{} (in {file})", e.reason),
                ));
            }
            Err(RenderError::Missing { kind, key }) => {
                return Err(FieldError::new(
                    kind.as_str(),
                    format!("{kind} {key:?} does not exist (needed for {file})"),
                ));
            }
        }
    }
    Ok(())
}

/// What a full build produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildStats {
    pub files: u64,
    pub bytes: u64,
    pub devices: u64,
    pub dial_rules: u64,
    pub softkeys: u64,
    pub failed: Vec<(String, String)>,
}

/// Builds every file, handing each to `sink` (which writes it somewhere). Runs on the
/// calling thread; callers split [`all`] across threads for speed.
pub fn build_each(s: &Snapshot, files: &[Built], sink: impl Fn(&Built, &[u8])) -> BuildStats {
    let mut stats = BuildStats::default();
    for file in files {
        match render(s, file) {
            Ok(Some(bytes)) => {
                stats.tally(file, bytes.len(), u64::saturating_add);
                sink(file, &bytes);
            }
            Ok(None) => {}
            Err(e) => stats.failed.push((file.to_string(), e.to_string())),
        }
    }
    stats
}

impl BuildStats {
    /// Counts one built file of `len` bytes in (`op` = add) or out (subtract).
    fn tally(&mut self, file: &Built, len: usize, op: fn(u64, u64) -> u64) {
        self.files = op(self.files, 1);
        self.bytes = op(self.bytes, len as u64);
        let class = match file.class() {
            Class::Device => &mut self.devices,
            Class::DialRule => &mut self.dial_rules,
            Class::Softkey => &mut self.softkeys,
            Class::Default | Class::FeaturePolicy => return,
        };
        *class = op(*class, 1);
    }

    /// A file built as `from` bytes was delivered as `to` bytes (an operator's converter turned
    /// a text profile into the binary the phone reads).
    pub fn converted(&mut self, from: usize, to: usize) {
        self.bytes = self
            .bytes
            .saturating_sub(from as u64)
            .saturating_add(to as u64);
    }

    /// A file built as `len` bytes could not be delivered after all: it moves from the built
    /// files to the failed ones, with `reason`.
    pub fn retract(&mut self, file: &Built, len: usize, reason: String) {
        self.tally(file, len, u64::saturating_sub);
        self.failed.push((file.to_string(), reason));
    }

    pub fn merge(&mut self, other: Self) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.devices += other.devices;
        self.dial_rules += other.dial_rules;
        self.softkeys += other.softkeys;
        self.failed.extend(other.failed);
    }
}

/// Builds every file of `s` on `threads` threads, handing each to `sink`.
pub fn build_all(s: &Snapshot, threads: usize, sink: impl Fn(&Built, &[u8]) + Sync) -> BuildStats {
    let files = all(s);
    let threads = threads.clamp(1, 64);
    let chunk = files.len().div_ceil(threads).max(1);
    let sink = &sink;
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || build_each(s, part, sink)))
            .collect();
        let mut stats = BuildStats::default();
        for worker in workers {
            match worker.join() {
                Ok(part) => stats.merge(part),
                // A panic in the builder is a bug; report it as a failed build, not a crash.
                Err(_) => stats
                    .failed
                    .push(("(worker)".into(), "builder panicked".into())),
            }
        }
        stats
    })
}
