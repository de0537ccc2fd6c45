//! The built files, both ways: which files the database implies ([`all`]), and which built
//! file a requested name is ([`resolve`]), both spelled through the one grammar
//! ([`crate::grammar`]).

use std::fmt;

use phoneboot_model::{
    BuildCnf, Device, DeviceClass, FileScheme, Mac, ModelInfo, Profile, Snapshot,
};

use crate::grammar::{Form, Name, Requested};

/// A file phoneboot builds. Each names the object it is built from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Built {
    /// `SEP<MAC>.cnf.xml`.
    SepXml(Mac),
    /// `SEP<MAC>.cnf`: the legacy (non-XML) configuration.
    SepCnf(Mac),
    /// `SIP<MAC>.cnf`: a 7940/7960 on SIP firmware.
    SipCnf(Mac),
    /// `SIPDefault.cnf`.
    SipDefault,
    /// `XMLDefault.cnf.xml`: auto-registration.
    XmlDefault,
    /// `<Device Name>.cnf.xml`: IP Communicator.
    DeviceXml(String),
    /// `TAB<USERID>.cnf.xml`: Jabber for Tablet, by device name.
    TabletXml(String),
    /// `DR<dial plan>.xml`.
    DialPlan(String),
    /// `<dial plan>.xml`: the 7940/7960 SIP form.
    SipDialPlan(String),
    /// `SK<softkey template>.xml`.
    Softkeys(String),
    /// `FP<feature policy>.xml`.
    FeaturePolicy(String),
    /// `ff<mac>`, `ld<mac>`, `gk<mac>`.
    Profile(Profile, Mac),
}

impl Built {
    /// The name a device asks for it by, in the grammar every component shares.
    pub fn name(&self) -> Name {
        match self {
            Self::SepXml(mac) => Name::SepXml(*mac),
            Self::SepCnf(mac) => Name::SepCnf(*mac),
            Self::SipCnf(mac) => Name::SipCnf(*mac),
            Self::SipDefault => Name::SipDefault,
            Self::XmlDefault => Name::XmlDefault,
            Self::DeviceXml(name) | Self::TabletXml(name) => Name::DeviceXml(name.clone()),
            Self::DialPlan(name) => Name::DialPlan(name.clone()),
            Self::SipDialPlan(name) => Name::PlainXml(name.clone()),
            Self::Softkeys(name) => Name::Softkeys(name.clone()),
            Self::FeaturePolicy(name) => Name::FeaturePolicy(name.clone()),
            Self::Profile(p, mac) => Name::Profile(*p, *mac),
        }
    }
}

impl fmt::Display for Built {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.name().fmt(f)
    }
}

/// The class of a built file, for counters (BuildDeviceCount, BuildDialruleCount, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Device,
    Default,
    DialRule,
    Softkey,
    FeaturePolicy,
}

impl Built {
    pub fn class(&self) -> Class {
        match self {
            Self::SepXml(_)
            | Self::SepCnf(_)
            | Self::SipCnf(_)
            | Self::DeviceXml(_)
            | Self::TabletXml(_)
            | Self::Profile(..) => Class::Device,
            Self::SipDefault | Self::XmlDefault => Class::Default,
            Self::DialPlan(_) | Self::SipDialPlan(_) => Class::DialRule,
            Self::Softkeys(_) => Class::Softkey,
            Self::FeaturePolicy(_) => Class::FeaturePolicy,
        }
    }
}

/// The device's model and file scheme, if the catalogue knows the model.
pub(crate) fn scheme_of<'a>(s: &'a Snapshot, d: &Device) -> Option<(&'a ModelInfo, FileScheme)> {
    let model = s.catalogue.get(&d.model)?;
    Some((model, model.scheme(d.protocol)))
}

/// True when Build CNF Files asks for a legacy `SEP<MAC>.cnf` for this device.
fn wants_legacy(s: &Snapshot, model: &ModelInfo, scheme: FileScheme) -> bool {
    if model.class == DeviceClass::Gateway || scheme == FileScheme::None {
        return false;
    }
    scheme == FileScheme::Legacy
        || match s.params.build_cnf {
            BuildCnf::Selective => model.selective,
            BuildCnf::All => true,
            BuildCnf::None => false,
        }
}

/// The files one device gets.
pub fn device_files(s: &Snapshot, d: &Device) -> Vec<Built> {
    let Some((model, scheme)) = scheme_of(s, d) else {
        return Vec::new();
    };
    let mut files = Vec::with_capacity(3);
    match scheme {
        FileScheme::Sep => files.push(Built::SepXml(d.mac)),
        FileScheme::SipCnf => files.push(Built::SipCnf(d.mac)),
        FileScheme::DeviceName => files.push(Built::DeviceXml(d.name.clone())),
        FileScheme::Tablet => files.push(Built::TabletXml(d.name.clone())),
        FileScheme::Legacy | FileScheme::None => {}
    }
    if wants_legacy(s, model, scheme) {
        files.push(Built::SepCnf(d.mac));
    }
    if let Some(profile) = model.profile {
        files.push(Built::Profile(profile, d.mac));
    }
    files
}

/// Every file the database implies, in a stable order.
pub fn all(s: &Snapshot) -> Vec<Built> {
    let mut files = vec![Built::XmlDefault, Built::SipDefault];
    for d in s.devices.iter() {
        files.extend(device_files(s, d));
    }
    files.extend(s.dial_plans.iter().map(|p| Built::DialPlan(p.name.clone())));
    files.extend(
        s.dial_plans
            .iter()
            .map(|p| Built::SipDialPlan(p.name.clone())),
    );
    files.extend(s.softkeys.iter().map(|t| Built::Softkeys(t.name.clone())));
    files.extend(
        s.feature_policies
            .iter()
            .map(|p| Built::FeaturePolicy(p.name.clone())),
    );
    files
}

/// Whose file `name` is, if phoneboot builds it from the database as it is now. `None`: not
/// a built file (the caller looks on disk next).
pub fn resolve(s: &Snapshot, name: &str) -> Option<Built> {
    let requested = Requested::parse(name)?;
    // Signed and encrypted forms are not built yet.
    if requested.form != Form::Plain {
        return None;
    }
    let name = requested.name;
    built(s, &name).or_else(|| built(s, &name.plain_reading()?))
}

/// The built file a name stands for in `s`.
fn built(s: &Snapshot, name: &Name) -> Option<Built> {
    // A device's own files, by MAC, only if the device gets that file.
    let of_device = |d: &Device| {
        device_files(s, d)
            .into_iter()
            .find(|f| f.name().matches(name))
    };
    if let Some(mac) = name.mac() {
        return of_device(s.device_by_mac(mac)?);
    }
    match name {
        Name::XmlDefault => Some(Built::XmlDefault),
        Name::SipDefault => Some(Built::SipDefault),
        Name::DeviceXml(device) => of_device(s.devices.get(device)?),
        Name::DialPlan(plan) => Some(Built::DialPlan(s.dial_plans.get(plan)?.name.clone())),
        Name::PlainXml(plan) => Some(Built::SipDialPlan(s.dial_plans.get(plan)?.name.clone())),
        Name::Softkeys(t) => Some(Built::Softkeys(s.softkeys.get(t)?.name.clone())),
        Name::FeaturePolicy(p) => Some(Built::FeaturePolicy(
            s.feature_policies.get(p)?.name.clone(),
        )),
        _ => None,
    }
}
