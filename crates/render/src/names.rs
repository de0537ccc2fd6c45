//! The file-name grammar, both ways: which files the database implies ([`all`]), and whose
//! file a requested name is ([`resolve`]). Names are matched case-insensitively (phones and
//! CUCM's Windows heritage disagree on case); the canonical names are CUCM's: upper-case MAC
//! in `SEP…`/`SIP…`, lower-case in the `ld/gk/ff` profiles.

use std::fmt;

use phoneboot_model::{
    BuildCnf, Device, DeviceClass, FileScheme, Mac, ModelInfo, Profile, Snapshot,
};

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

impl fmt::Display for Built {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SepXml(mac) => write!(f, "SEP{mac}.cnf.xml"),
            Self::SepCnf(mac) => write!(f, "SEP{mac}.cnf"),
            Self::SipCnf(mac) => write!(f, "SIP{mac}.cnf"),
            Self::SipDefault => f.write_str("SIPDefault.cnf"),
            Self::XmlDefault => f.write_str("XMLDefault.cnf.xml"),
            Self::DeviceXml(name) | Self::TabletXml(name) => write!(f, "{name}.cnf.xml"),
            Self::DialPlan(name) => write!(f, "DR{name}.xml"),
            Self::SipDialPlan(name) => write!(f, "{name}.xml"),
            Self::Softkeys(name) => write!(f, "SK{name}.xml"),
            Self::FeaturePolicy(name) => write!(f, "FP{name}.xml"),
            Self::Profile(p, mac) => write!(f, "{}{}", p.prefix(), mac.lower()),
        }
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

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn strip_suffix_ci<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = text.len().checked_sub(suffix.len())?;
    let tail = text.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..cut])
}

/// Exactly 12 hex digits.
fn mac12(text: &str) -> Option<Mac> {
    (text.len() == 12 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Whose file `name` is, if phoneboot builds it from the database as it is now. `None`: not
/// a built file (the caller looks on disk next).
pub fn resolve(s: &Snapshot, name: &str) -> Option<Built> {
    if name.contains('/') {
        return None;
    }
    // A device's own files, by MAC, only if the device gets that file.
    let by_mac = |mac: Mac, want: &dyn Fn(&Built) -> bool| {
        let d = s.device_by_mac(mac)?;
        device_files(s, d).into_iter().find(|f| want(f))
    };
    if let Some(rest) = strip_prefix_ci(name, "SEP") {
        if let Some(mac) = strip_suffix_ci(rest, ".cnf.xml").and_then(mac12) {
            return by_mac(mac, &|f| matches!(f, Built::SepXml(_)));
        }
        if let Some(mac) = strip_suffix_ci(rest, ".cnf").and_then(mac12) {
            return by_mac(mac, &|f| matches!(f, Built::SepCnf(_)));
        }
    }
    if let Some(mac) = strip_prefix_ci(name, "SIP")
        .and_then(|r| strip_suffix_ci(r, ".cnf"))
        .and_then(mac12)
    {
        return by_mac(mac, &|f| matches!(f, Built::SipCnf(_)));
    }
    if name.len() == 14 {
        for profile in [Profile::Ff, Profile::Ld, Profile::Gk] {
            if let Some(mac) = strip_prefix_ci(name, profile.prefix()).and_then(mac12) {
                return by_mac(mac, &|f| matches!(f, Built::Profile(p, _) if *p == profile));
            }
        }
    }
    if name.eq_ignore_ascii_case("XMLDefault.cnf.xml") {
        return Some(Built::XmlDefault);
    }
    if name.eq_ignore_ascii_case("SIPDefault.cnf") {
        return Some(Built::SipDefault);
    }
    if let Some(device) = strip_suffix_ci(name, ".cnf.xml").and_then(|n| s.devices.get(n)) {
        return device_files(s, device)
            .into_iter()
            .find(|f| matches!(f, Built::DeviceXml(_) | Built::TabletXml(_)));
    }
    let stem = strip_suffix_ci(name, ".xml")?;
    let named = |prefix: &str| strip_prefix_ci(stem, prefix);
    if let Some(plan) = named("DR").and_then(|n| s.dial_plans.get(n)) {
        return Some(Built::DialPlan(plan.name.clone()));
    }
    if let Some(t) = named("SK").and_then(|n| s.softkeys.get(n)) {
        return Some(Built::Softkeys(t.name.clone()));
    }
    if let Some(p) = named("FP").and_then(|n| s.feature_policies.get(n)) {
        return Some(Built::FeaturePolicy(p.name.clone()));
    }
    s.dial_plans
        .get(stem)
        .map(|plan| Built::SipDialPlan(plan.name.clone()))
}
