//! The device model catalogue: what each model is called, which files it gets, its default
//! firmware. Built in from `catalogue.toml`; an operator's file of the same shape extends it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::Protocol;

/// Which configuration files a device gets (per protocol; see `catalogue.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileScheme {
    Sep,
    SipCnf,
    DeviceName,
    Tablet,
    Legacy,
    None,
}

/// The text profile a 7902/7905/7912 asks for after its configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Ff,
    Ld,
    Gk,
}

impl Profile {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Ff => "ff",
            Self::Ld => "ld",
            Self::Gk => "gk",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceClass {
    #[default]
    Phone,
    Gateway,
}

/// One model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    pub name: String,
    pub product: String,
    pub code: u32,
    pub protocols: Vec<Protocol>,
    #[serde(default = "yes")]
    pub xml: bool,
    #[serde(default)]
    pub loads: BTreeMap<Protocol, String>,
    #[serde(default)]
    pub files: BTreeMap<Protocol, FileScheme>,
    #[serde(default)]
    pub profile: Option<Profile>,
    #[serde(default)]
    pub selective: bool,
    #[serde(default)]
    pub class: DeviceClass,
    pub buttons: u8,
    #[serde(default)]
    pub http: bool,
}

fn yes() -> bool {
    true
}

impl ModelInfo {
    /// The files a device of this model running `protocol` gets.
    pub fn scheme(&self, protocol: Protocol) -> FileScheme {
        self.files
            .get(&protocol)
            .copied()
            .unwrap_or(FileScheme::Sep)
    }

    pub fn default_load(&self, protocol: Protocol) -> Option<&str> {
        self.loads.get(&protocol).map(String::as_str)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    model: Vec<ModelInfo>,
}

/// All known models, by name (case-insensitive lookup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    models: Vec<ModelInfo>,
}

/// Why a catalogue file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("not a model catalogue: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("model {0:?}: {1}")]
    Invalid(String, String),
}

impl Catalogue {
    /// The text of the built-in catalogue (also the shape of an operator's file).
    pub const BUILTIN_TOML: &'static str = include_str!("catalogue.toml");

    /// The catalogue compiled into the binary.
    pub fn builtin() -> &'static Self {
        static BUILTIN: OnceLock<Catalogue> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let mut catalogue = Self { models: Vec::new() };
            #[allow(clippy::expect_used)] // the file is ours, and a test parses it
            catalogue
                .extend(Self::BUILTIN_TOML)
                .expect("the built-in catalogue is valid");
            catalogue
        })
    }

    /// Adds or replaces models from a TOML text of the catalogue's shape.
    pub fn extend(&mut self, text: &str) -> Result<(), CatalogueError> {
        let file: CatalogueFile = toml::from_str(text)?;
        for model in file.model {
            if model.name.is_empty() || model.protocols.is_empty() {
                return Err(CatalogueError::Invalid(
                    model.name,
                    "needs a name and at least one protocol".into(),
                ));
            }
            if let Some(p) = model.files.keys().find(|p| !model.protocols.contains(p)) {
                return Err(CatalogueError::Invalid(
                    model.name,
                    format!("lists files for {p}, which it does not run"),
                ));
            }
            match self.position(&model.name) {
                Some(i) => self.models[i] = model,
                None => self.models.push(model),
            }
        }
        Ok(())
    }

    /// A model by its name, in any case, or by Cisco's product code for it: `CP-8845`,
    /// `CP-8845-K9` and `CP-7965G` are the 8845 and the 7965 (the digits after `CP-`). The
    /// one rule for every command that takes a model.
    pub fn get(&self, name: &str) -> Option<&ModelInfo> {
        let name = name.trim();
        let by_code = || {
            let code = name.get(..3).filter(|p| p.eq_ignore_ascii_case("CP-"))?;
            let digits: String = name[code.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            (!digits.is_empty())
                .then(|| self.position(&digits))
                .flatten()
        };
        self.position(name)
            .or_else(by_code)
            .map(|i| &self.models[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &ModelInfo> {
        self.models.iter()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.models
            .iter()
            .position(|m| m.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_codes_name_their_models_and_nothing_else_is_guessed() {
        let c = Catalogue::builtin();
        for (code, name) in [
            ("CP-8845", "8845"),
            ("cp-8845-K9", "8845"),
            ("CP-7965G", "7965"),
            ("ipcommunicator", "IPCommunicator"),
        ] {
            assert_eq!(c.get(code).map(|m| m.name.as_str()), Some(name), "{code}");
        }
        for unknown in ["X-1234", "7965G", "CP-", "CP-K9", "88"] {
            assert!(c.get(unknown).is_none(), "{unknown}");
        }
    }

    #[test]
    fn builtin_covers_the_seed_tables_and_the_current_families() {
        let c = Catalogue::builtin();
        for name in [
            "9971",
            "9951",
            "8961",
            "8945",
            "8941",
            "7975",
            "7971",
            "7970",
            "7961",
            "7941",
            "7911",
            "Cius",
            "TP1000",
            "TP1100",
            "TP1300-47",
            "TP1300-65",
            "TP1310-65",
            "7960",
            "7940",
            "7905",
            "7912",
            "IPCommunicator",
            "6901",
            "6921",
            "6941",
            "6945",
            "6961",
            "7925",
            "7926",
            "8821",
            "7832",
            "8831",
            "8832",
            "3905",
            "7937",
            "JabberTablet",
            "7811",
            "7821",
            "7841",
            "7861",
            "8811",
            "8841",
            "8845",
            "8851",
            "8861",
            "8865",
            "30SP+",
            "12SP+",
            "12SP",
            "12S",
            "30VIP",
            "7935",
            "SCCPPhone",
            "AnalogAccess",
            "VoiceMailPort",
        ] {
            assert!(c.get(name).is_some(), "{name} missing");
        }
        assert_eq!(c.iter().filter(|m| m.selective).count(), 9);
        assert_eq!(
            c.get("7960").unwrap().scheme(Protocol::Sip),
            FileScheme::SipCnf
        );
        assert_eq!(
            c.get("7960").unwrap().scheme(Protocol::Sccp),
            FileScheme::Sep
        );
        assert_eq!(c.get("7912").unwrap().profile, Some(Profile::Gk));
        assert_eq!(c.get("8841").unwrap().code, 683);
    }

    #[test]
    fn the_common_models_have_their_buttons_and_files() {
        let c = Catalogue::builtin();
        for (name, buttons, protocols) in [
            ("6901", 1, &[Protocol::Sccp, Protocol::Sip][..]),
            ("6921", 2, &[Protocol::Sccp, Protocol::Sip]),
            ("6941", 4, &[Protocol::Sccp, Protocol::Sip]),
            ("6945", 4, &[Protocol::Sccp, Protocol::Sip]),
            ("6961", 12, &[Protocol::Sccp, Protocol::Sip]),
            ("7925", 6, &[Protocol::Sccp]),
            ("7926", 6, &[Protocol::Sccp]),
            ("7937", 1, &[Protocol::Sccp]),
            ("8821", 6, &[Protocol::Sip]),
            ("7832", 1, &[Protocol::Sip]),
            ("8831", 1, &[Protocol::Sip]),
            ("8832", 1, &[Protocol::Sip]),
            ("3905", 1, &[Protocol::Sip]),
        ] {
            let m = c.get(name).unwrap();
            assert_eq!(
                (m.buttons, &m.protocols[..]),
                (buttons, protocols),
                "{name}"
            );
            for p in protocols {
                assert_eq!(m.scheme(*p), FileScheme::Sep, "{name}: SEP<MAC>.cnf.xml");
                assert!(m.default_load(*p).is_some(), "{name}");
            }
            assert!(m.xml && !m.selective && m.profile.is_none(), "{name}");
        }
    }

    #[test]
    fn an_operator_file_adds_and_replaces_models() {
        let mut c = Catalogue::builtin().clone();
        c.extend(
            r#"
            [[model]]
            name = "8841"
            product = "Cisco 8841"
            code = 683
            protocols = ["SIP"]
            loads = { SIP = "sip88xx.15-0-1" }
            buttons = 5
            [[model]]
            name = "9841"
            product = "Cisco Desk Phone 9841"
            code = 37000
            protocols = ["SIP"]
            buttons = 4
            "#,
        )
        .unwrap();
        assert_eq!(
            c.get("8841").unwrap().default_load(Protocol::Sip),
            Some("sip88xx.15-0-1")
        );
        assert!(c.get("9841").is_some());
        assert!(c.extend("[[model]]\nname = 'x'\nbogus = 1").is_err());
        let err = c
            .extend("[[model]]\nname='x'\nproduct='x'\ncode=1\nprotocols=['SCCP']\nfiles={SIP='sep'}\nbuttons=1")
            .unwrap_err();
        assert!(err.to_string().contains("does not run"), "{err}");
    }
}
