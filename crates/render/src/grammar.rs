//! The file-name grammar: what a requested name names, read from its spelling alone, and the
//! one spelling of each name. The builder ([`crate::resolve`]), the server's per-device
//! counters and the emulator's requests all go through it, so a name means the same thing
//! wherever it is read or written.
//!
//! Names are read case-insensitively (phones and CUCM's Windows heritage disagree on case,
//! spec §1.1); they are written in CUCM's case: upper-case MAC in `SEP…`, `SIP…`, `CTLSEP…`,
//! `ITLSEP…`, lower-case in the `ff/ld/gk` profiles. A 7902/7905/7912 spells its
//! `SEP<mac>.cnf.xml` in lower case (spec §1.1): [`Name::spelled`] writes that too.

use std::fmt;

use phoneboot_model::{Mac, Profile};

/// A name whose owner is known from its spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Name {
    /// `SEP<MAC>.cnf.xml`: a phone's configuration.
    SepXml(Mac),
    /// `SEP<MAC>.cnf`: the legacy (non-XML) configuration.
    SepCnf(Mac),
    /// `SIP<MAC>.cnf`: a 7940/7960 on SIP firmware.
    SipCnf(Mac),
    /// `ff<mac>`, `ld<mac>`, `gk<mac>`: a 7902/7905/7912's profile.
    Profile(Profile, Mac),
    /// `ffdefault.cfg`, `lddefault.cfg`, `gkdefault.cfg`: the profile of a phone without one.
    ProfileDefault(Profile),
    /// `CTLSEP<MAC>.tlv`: a device's own certificate trust list.
    CtlSep(Mac),
    /// `ITLSEP<MAC>.tlv`: a device's own initial trust list.
    ItlSep(Mac),
    /// `CTLFile.tlv`: the cluster's certificate trust list.
    CtlFile,
    /// `ITLFile.tlv`: the cluster's initial trust list.
    ItlFile,
    /// `XMLDefault.cnf.xml`: auto-registration.
    XmlDefault,
    /// `SIPDefault.cnf`: what every 7940/7960 SIP phone reads first.
    SipDefault,
    /// `SEPDefault.cnf`: the legacy default configuration.
    SepDefault,
    /// `<Device Name>.cnf.xml`: IP Communicator, Jabber for Tablet (`TAB<USERID>`).
    DeviceXml(String),
    /// `DR<dial plan>.xml`.
    DialPlan(String),
    /// `SK<softkey template>.xml`.
    Softkeys(String),
    /// `FP<feature policy>.xml`.
    FeaturePolicy(String),
    /// `<name>.xml`: a 7940/7960 SIP dial plan (any other `.xml` name reads the same).
    PlainXml(String),
}

/// The form a file is asked for in (spec §1.10): as it is, signed, or encrypted and signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Form {
    #[default]
    Plain,
    /// `<name>.sgn`.
    Signed,
    /// `<name>.enc.sgn`.
    EncryptedSigned,
}

/// A requested name: which file, in which form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requested {
    pub name: Name,
    pub form: Form,
}

/// How the hex digits of a MAC are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacCase {
    Upper,
    Lower,
}

impl Requested {
    /// Reads a requested name (its last component only: device files live at the root).
    /// `None`: a name whose owner the spelling does not tell (a load, a ring, a locale file).
    pub fn parse(text: &str) -> Option<Self> {
        if text.contains('/') {
            return None;
        }
        let (rest, form) = if let Some(rest) = strip_suffix_ci(text, ".enc.sgn") {
            (rest, Form::EncryptedSigned)
        } else if let Some(rest) = strip_suffix_ci(text, ".sgn") {
            (rest, Form::Signed)
        } else {
            (text, Form::Plain)
        };
        Some(Self {
            name: Name::parse(rest)?,
            form,
        })
    }
}

impl fmt::Display for Requested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, self.form.suffix())
    }
}

impl Form {
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Plain => "",
            Self::Signed => ".sgn",
            Self::EncryptedSigned => ".enc.sgn",
        }
    }
}

impl Name {
    /// Reads a name in its plain form (see [`Requested::parse`] for `.sgn` forms).
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(mac) = mac_between(text, "SEP", ".cnf.xml") {
            return Some(Self::SepXml(mac));
        }
        if let Some(mac) = mac_between(text, "SEP", ".cnf") {
            return Some(Self::SepCnf(mac));
        }
        if let Some(mac) = mac_between(text, "SIP", ".cnf") {
            return Some(Self::SipCnf(mac));
        }
        if let Some(mac) = mac_between(text, "CTLSEP", ".tlv") {
            return Some(Self::CtlSep(mac));
        }
        if let Some(mac) = mac_between(text, "ITLSEP", ".tlv") {
            return Some(Self::ItlSep(mac));
        }
        for profile in [Profile::Ff, Profile::Ld, Profile::Gk] {
            if let Some(mac) = mac_between(text, profile.prefix(), "") {
                return Some(Self::Profile(profile, mac));
            }
            if text.eq_ignore_ascii_case(&format!("{}default.cfg", profile.prefix())) {
                return Some(Self::ProfileDefault(profile));
            }
        }
        for (fixed, name) in [
            ("CTLFile.tlv", Self::CtlFile),
            ("ITLFile.tlv", Self::ItlFile),
            ("XMLDefault.cnf.xml", Self::XmlDefault),
            ("SIPDefault.cnf", Self::SipDefault),
            ("SEPDefault.cnf", Self::SepDefault),
        ] {
            if text.eq_ignore_ascii_case(fixed) {
                return Some(name);
            }
        }
        if let Some(device) = strip_suffix_ci(text, ".cnf.xml").filter(|d| !d.is_empty()) {
            return Some(Self::DeviceXml(device.to_owned()));
        }
        let stem = strip_suffix_ci(text, ".xml").filter(|s| !s.is_empty())?;
        let named = |prefix: &str| strip_prefix_ci(stem, prefix).filter(|n| !n.is_empty());
        Some(if let Some(plan) = named("DR") {
            Self::DialPlan(plan.to_owned())
        } else if let Some(template) = named("SK") {
            Self::Softkeys(template.to_owned())
        } else if let Some(policy) = named("FP") {
            Self::FeaturePolicy(policy.to_owned())
        } else {
            Self::PlainXml(stem.to_owned())
        })
    }

    /// The other reading of an object-named `.xml` name: `DRx.xml` names dial plan `x`, or
    /// is the 7940 form of a dial plan named `DRx`. Only the database can tell; the builder
    /// tries this one when the first names nothing.
    pub fn plain_reading(&self) -> Option<Self> {
        let prefix = match self {
            Self::DialPlan(_) => "DR",
            Self::Softkeys(_) => "SK",
            Self::FeaturePolicy(_) => "FP",
            _ => return None,
        };
        let (Self::DialPlan(n) | Self::Softkeys(n) | Self::FeaturePolicy(n)) = self else {
            return None;
        };
        Some(Self::PlainXml(format!("{prefix}{n}")))
    }

    /// The same file, spelled in any case (names are matched case-insensitively).
    pub fn matches(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string().eq_ignore_ascii_case(&other.to_string())
    }

    /// The MAC a device's own file is named by.
    pub fn mac(&self) -> Option<Mac> {
        match self {
            Self::SepXml(mac)
            | Self::SepCnf(mac)
            | Self::SipCnf(mac)
            | Self::Profile(_, mac)
            | Self::CtlSep(mac)
            | Self::ItlSep(mac) => Some(*mac),
            _ => None,
        }
    }

    /// The name with its MAC written in `case` (the canonical spelling is [`Display`]'s).
    ///
    /// [`Display`]: fmt::Display
    pub fn spelled(&self, case: MacCase) -> String {
        let canonical = self.to_string();
        match (self.mac(), case) {
            (Some(mac), MacCase::Lower) => canonical.replace(&mac.to_string(), &mac.lower()),
            (Some(mac), MacCase::Upper) => canonical.replace(&mac.lower(), &mac.to_string()),
            (None, _) => canonical,
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SepXml(mac) => write!(f, "SEP{mac}.cnf.xml"),
            Self::SepCnf(mac) => write!(f, "SEP{mac}.cnf"),
            Self::SipCnf(mac) => write!(f, "SIP{mac}.cnf"),
            Self::Profile(p, mac) => write!(f, "{}{}", p.prefix(), mac.lower()),
            Self::ProfileDefault(p) => write!(f, "{}default.cfg", p.prefix()),
            Self::CtlSep(mac) => write!(f, "CTLSEP{mac}.tlv"),
            Self::ItlSep(mac) => write!(f, "ITLSEP{mac}.tlv"),
            Self::CtlFile => f.write_str("CTLFile.tlv"),
            Self::ItlFile => f.write_str("ITLFile.tlv"),
            Self::XmlDefault => f.write_str("XMLDefault.cnf.xml"),
            Self::SipDefault => f.write_str("SIPDefault.cnf"),
            Self::SepDefault => f.write_str("SEPDefault.cnf"),
            Self::DeviceXml(name) => write!(f, "{name}.cnf.xml"),
            Self::DialPlan(name) => write!(f, "DR{name}.xml"),
            Self::Softkeys(name) => write!(f, "SK{name}.xml"),
            Self::FeaturePolicy(name) => write!(f, "FP{name}.xml"),
            Self::PlainXml(name) => write!(f, "{name}.xml"),
        }
    }
}

/// The name with every run of exactly 12 hex digits (a MAC address) written `<MAC>`: one
/// pattern for the same file of every device, for logs and counts (`CTLSEP<MAC>.tlv`).
pub fn pattern(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if run == 12 {
            out.push_str("<MAC>");
            i += run;
        } else if run > 0 {
            out.push_str(&name[i..i + run]);
            i += run;
        } else {
            let ch = name[i..].chars().next().unwrap_or('?');
            out.push(ch);
            i += ch.len_utf8().max(1);
        }
    }
    out
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

/// The MAC of `<prefix><12 hex digits><suffix>`, any case.
fn mac_between(text: &str, prefix: &str, suffix: &str) -> Option<Mac> {
    let hex = strip_suffix_ci(strip_prefix_ci(text, prefix)?, suffix)?;
    (hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac() -> Mac {
        "001122AABBCC".parse().unwrap()
    }

    #[test]
    fn every_name_reads_back_from_its_spelling_in_any_case() {
        let names = [
            Name::SepXml(mac()),
            Name::SepCnf(mac()),
            Name::SipCnf(mac()),
            Name::Profile(Profile::Ld, mac()),
            Name::Profile(Profile::Gk, mac()),
            Name::Profile(Profile::Ff, mac()),
            Name::ProfileDefault(Profile::Ld),
            Name::CtlSep(mac()),
            Name::ItlSep(mac()),
            Name::CtlFile,
            Name::ItlFile,
            Name::XmlDefault,
            Name::SipDefault,
            Name::SepDefault,
            Name::DeviceXml("BOBSOFTPHONE".into()),
            Name::DialPlan("Standard".into()),
            Name::Softkeys("Standard".into()),
            Name::FeaturePolicy("Default".into()),
            Name::PlainXml("Standard".into()),
        ];
        for name in names {
            let text = name.to_string();
            assert_eq!(Name::parse(&text).as_ref(), Some(&name), "{text}");
            for other in [text.to_lowercase(), text.to_uppercase()] {
                let read = Name::parse(&other).unwrap_or_else(|| panic!("{other}"));
                // Object names keep the case they were asked in (the database folds them).
                assert!(
                    read.to_string().eq_ignore_ascii_case(&text),
                    "{other}: {read:?}"
                );
                assert_eq!(
                    std::mem::discriminant(&read),
                    std::mem::discriminant(&name),
                    "{other}"
                );
                assert_eq!(read.mac(), name.mac(), "{other}");
            }
            for form in [Form::Plain, Form::Signed, Form::EncryptedSigned] {
                let requested = Requested {
                    name: name.clone(),
                    form,
                };
                assert_eq!(
                    Requested::parse(&requested.to_string()),
                    Some(requested.clone())
                );
            }
        }
    }

    #[test]
    fn canonical_spellings_are_cucms() {
        assert_eq!(Name::SepXml(mac()).to_string(), "SEP001122AABBCC.cnf.xml");
        assert_eq!(
            Name::Profile(Profile::Gk, mac()).to_string(),
            "gk001122aabbcc"
        );
        assert_eq!(
            Name::SepXml(mac()).spelled(MacCase::Lower),
            "SEP001122aabbcc.cnf.xml",
            "as a 7905 asks"
        );
        assert_eq!(
            Requested::parse("sep001122aabbcc.cnf.xml.SGN")
                .unwrap()
                .to_string(),
            "SEP001122AABBCC.cnf.xml.sgn"
        );
    }

    #[test]
    fn names_the_spelling_does_not_place_are_left_alone() {
        for text in [
            "SEP0011.cnf.xml",
            "CTLSEP001122AABBCC.cnf.xml",
            "ld001122aabbc",
            "term71.default.loads",
            "RingList.xml.sgn.bak",
            "English_United_States/g3-tones.xml",
            ".xml",
            ".cnf.xml",
            "",
        ] {
            let got = Requested::parse(text);
            assert!(
                !matches!(got.as_ref().map(|r| &r.name), Some(n) if n.mac().is_some()),
                "{text:?} read as {got:?}"
            );
        }
        assert_eq!(
            Name::parse("SEP001122AABBCCDD.cnf.xml"),
            Some(Name::DeviceXml("SEP001122AABBCCDD".into())),
            "16 digits: a device name, not a MAC"
        );
        assert_eq!(Name::parse("load.bin"), None);
        assert_eq!(
            Name::parse("RingList.xml"),
            Some(Name::PlainXml("RingList".into()))
        );
    }

    #[test]
    fn macs_fold_into_one_pattern() {
        assert_eq!(pattern("CTLSEP001122AABBCC.tlv"), "CTLSEP<MAC>.tlv");
        assert_eq!(pattern("SEPdeadbeef0001.cnf.xml"), "SEP<MAC>.cnf.xml");
        assert_eq!(pattern("term71.default.loads"), "term71.default.loads");
        assert_eq!(
            pattern("0011223344556677"),
            "0011223344556677",
            "16 digits: not a MAC"
        );
        assert_eq!(pattern("Desktops/ä/x"), "Desktops/ä/x");
    }

    #[test]
    fn an_object_named_xml_name_has_a_plain_second_reading() {
        let dr = Name::parse("DRMobile.xml").unwrap();
        assert_eq!(dr, Name::DialPlan("Mobile".into()));
        assert_eq!(dr.plain_reading(), Some(Name::PlainXml("DRMobile".into())));
        assert_eq!(Name::PlainXml("x".into()).plain_reading(), None);
    }
}
