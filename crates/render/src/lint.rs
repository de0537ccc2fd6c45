//! What phones will miss although every write was accepted: the database is consistent, but
//! a built file names a file that must come from elsewhere (a firmware load, the ring list,
//! a locale's tones), or auto-registration has no call managers to hand out. `build --check`
//! reports these; whether the named files exist is for the caller to look up on disk.

use std::collections::BTreeMap;

use phoneboot_model::{DeviceClass, Snapshot};

use crate::device::load_of;

/// The network locale phones have built in: its tones need no file.
const BUILT_IN_LOCALE: &str = "United_States";

/// What a snapshot implies beyond itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Holes in the database alone.
    pub warnings: Vec<String>,
    /// Files phones will ask for because a built file names them: each with the names it may
    /// have on disk (a load is `<load>.loads`, or a `.bin`/`.sbn`/`.zz` image) and who needs it.
    pub files: Vec<Needed>,
}

/// A file phones will ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    /// The names it may have; any one found is enough.
    pub names: Vec<String>,
    /// Who asks for it, for the message.
    pub by: String,
}

/// The holes of `s` and the files its built files name.
pub fn needs(s: &Snapshot) -> Needs {
    let mut out = Needs::default();
    if s.params.auto_registration && !s.cm_groups.iter().any(|g| g.tftp_default) {
        out.warnings.push(
            "XMLDefault.cnf.xml has no call managers: no group is the auto-registration default \
             (group set NAME tftp_default=true), so a phone that is not in the database gets a \
             configuration it cannot register with"
                .to_owned(),
        );
    }
    // Loads of the devices in the database: the device's own, else its model's default.
    let mut loads: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut locales: BTreeMap<&str, usize> = BTreeMap::new();
    for d in s.devices.iter() {
        let Some(model) = s.catalogue.get(&d.model) else {
            continue;
        };
        if model.class != DeviceClass::Phone {
            continue;
        }
        if let Some(load) = load_of(s, d).filter(|l| !l.is_empty()) {
            loads.entry(load).or_default().push(&d.name);
        }
        if let Some(pool) = s.pools.get(&d.pool)
            && pool.network_locale != BUILT_IN_LOCALE
        {
            *locales.entry(pool.network_locale.as_str()).or_default() += 1;
        }
    }
    for (load, devices) in loads {
        out.files.push(Needed {
            names: ["loads", "bin", "sbn", "zz"]
                .iter()
                .map(|ext| format!("{load}.{ext}"))
                .chain([load.to_owned()])
                .collect(),
            by: format!(
                "the firmware load {load} of {} device(s) ({}{})",
                devices.len(),
                devices[0],
                if devices.len() > 1 { ", …" } else { "" }
            ),
        });
    }
    if !s.devices.is_empty() {
        out.files.push(Needed {
            names: vec!["RingList.xml".into()],
            by: "every phone asks for the ring list after it boots".into(),
        });
    }
    for (locale, n) in locales {
        out.files.push(Needed {
            names: vec![format!("{locale}/g3-tones.xml")],
            by: format!("the tones of the network locale {locale} ({n} device(s))"),
        });
    }
    out
}
