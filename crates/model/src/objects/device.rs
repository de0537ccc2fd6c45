//! Devices and what is on their buttons.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Urls;
use crate::catalogue::{Catalogue, DeviceClass, FileScheme};
use crate::error::{FieldError, Valid};
use crate::value::{self, Mac};

/// Signalling protocol of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    #[serde(rename = "SCCP", alias = "sccp")]
    Sccp,
    #[serde(rename = "SIP", alias = "sip")]
    Sip,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sccp => "SCCP",
            Self::Sip => "SIP",
        })
    }
}

impl std::str::FromStr for Protocol {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        match s.to_ascii_uppercase().as_str() {
            "SCCP" => Ok(Self::Sccp),
            "SIP" => Ok(Self::Sip),
            _ => Err(FieldError::new("protocol", format!("{s:?}: SCCP or SIP"))),
        }
    }
}

/// Device security mode (`deviceSecurityMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityMode {
    #[default]
    NonSecure,
    Authenticated,
    Encrypted,
}

impl SecurityMode {
    pub fn code(self) -> u8 {
        match self {
            Self::NonSecure => 1,
            Self::Authenticated => 2,
            Self::Encrypted => 3,
        }
    }
}

/// A directory number on a button, with what the phone shows and how it registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    #[serde(deserialize_with = "value::flexible_text")]
    pub dn: String,
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub label: String,
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub display_name: String,
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub auth_name: String,
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub auth_password: String,
    /// Voicemail pilot number (`messagesNumber`).
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub voicemail: String,
}

impl Line {
    pub fn new(dn: &str) -> Self {
        Self {
            dn: dn.into(),
            label: String::new(),
            display_name: String::new(),
            auth_name: String::new(),
            auth_password: String::new(),
            voicemail: String::new(),
        }
    }

    pub fn validate(&self) -> Valid {
        value::directory_number("dn", &self.dn)?;
        // Limits of Cisco's parser (spec §9).
        value::text("label", &self.label, 127)?;
        value::text("display_name", &self.display_name, 127)?;
        value::text("auth_name", &self.auth_name, 128)?;
        value::text("auth_password", &self.auth_password, 31)?;
        if !self.voicemail.is_empty() {
            value::directory_number("voicemail", &self.voicemail)?;
        }
        Ok(())
    }
}

/// A speed dial on a button after the lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedDial {
    #[serde(deserialize_with = "value::flexible_text")]
    pub number: String,
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub label: String,
}

impl SpeedDial {
    pub fn validate(&self) -> Valid {
        value::directory_number("number", &self.number)?;
        value::text("label", &self.label, 127)
    }
}

pub(super) fn validate_buttons(lines: &[Line], speed_dials: &[SpeedDial], max: usize) -> Valid {
    for (i, line) in lines.iter().enumerate() {
        line.validate()
            .map_err(|e| e.within(&format!("lines[{i}]")))?;
    }
    for (i, sd) in speed_dials.iter().enumerate() {
        sd.validate()
            .map_err(|e| e.within(&format!("speed_dials[{i}]")))?;
    }
    // Button numbers above 36 crash Cisco's parser (spec §9).
    if lines.len() + speed_dials.len() > max {
        return Err(FieldError::new(
            "lines",
            format!(
                "{} lines and {} speed dials need more than the {max} buttons available",
                lines.len(),
                speed_dials.len()
            ),
        ));
    }
    Ok(())
}

/// The most buttons any file may number (Cisco's parser refuses `button` above 36).
pub const MAX_BUTTONS: usize = 36;

/// A phone, a soft client or a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// `SEP<MAC>` for phones; any token for IP Communicator; `TAB<USERID>` for a tablet.
    #[serde(deserialize_with = "value::flexible_text")]
    pub name: String,
    pub mac: Mac,
    #[serde(deserialize_with = "value::flexible_text")]
    pub model: String,
    pub protocol: Protocol,
    #[serde(deserialize_with = "value::flexible_text")]
    pub pool: String,
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Firmware load; the model's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<String>,
    #[serde(default)]
    pub lines: Vec<Line>,
    #[serde(default)]
    pub speed_dials: Vec<SpeedDial>,
    /// Model-specific settings written under `<vendorConfig>`.
    #[serde(default)]
    pub vendor_config: BTreeMap<String, String>,
    #[serde(default)]
    pub security_mode: SecurityMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dial_plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softkeys: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_policy: Option<String>,
    #[serde(default)]
    pub urls: Urls,
    /// The user logged in with Extension Mobility, whose profile replaces the device's lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub em_user: Option<String>,
}

impl Device {
    /// A phone named `SEP<MAC>` with no lines.
    pub fn phone(mac: Mac, model: &str, protocol: Protocol, pool: &str) -> Self {
        Self {
            name: format!("SEP{mac}"),
            mac,
            model: model.into(),
            protocol,
            pool: pool.into(),
            description: String::new(),
            owner: None,
            load: None,
            lines: Vec::new(),
            speed_dials: Vec::new(),
            vendor_config: BTreeMap::new(),
            security_mode: SecurityMode::NonSecure,
            dial_plan: None,
            softkeys: None,
            feature_policy: None,
            urls: Urls::default(),
            em_user: None,
        }
    }

    pub fn validate(&self, catalogue: &Catalogue) -> Valid {
        let model = catalogue.get(&self.model).ok_or_else(|| {
            FieldError::new(
                "model",
                format!(
                    "{:?} is not in the model catalogue (`phoneboot models` lists it)",
                    self.model
                ),
            )
        })?;
        if !model.protocols.contains(&self.protocol) {
            return Err(FieldError::new(
                "protocol",
                format!("{} does not run {}", model.product, self.protocol),
            ));
        }
        match model.scheme(self.protocol) {
            FileScheme::DeviceName => value::token("name", &self.name)?,
            FileScheme::Tablet => {
                let owner = self.owner.as_deref().ok_or_else(|| {
                    FieldError::new(
                        "owner",
                        "a Jabber for Tablet device needs its owner user id",
                    )
                })?;
                let want = format!("TAB{}", owner.to_ascii_uppercase());
                if !self.name.eq_ignore_ascii_case(&want) {
                    return Err(FieldError::new(
                        "name",
                        format!("a tablet is named TAB<owner in upper case>: {want}"),
                    ));
                }
            }
            _ => {
                let want = format!("SEP{}", self.mac);
                if model.class == DeviceClass::Phone && self.name != want {
                    return Err(FieldError::new(
                        "name",
                        format!("{:?}: a phone is named SEP<MAC>, here {want}", self.name),
                    ));
                }
                value::token("name", &self.name)?;
            }
        }
        value::name("pool", &self.pool)?;
        value::text("description", &self.description, 128)?;
        if let Some(owner) = &self.owner {
            value::token("owner", owner)?;
        }
        if let Some(load) = &self.load {
            value::token("load", load)?;
        }
        for (field, name) in [
            ("dial_plan", &self.dial_plan),
            ("softkeys", &self.softkeys),
            ("feature_policy", &self.feature_policy),
            ("em_user", &self.em_user),
        ] {
            if let Some(name) = name {
                value::token(field, name)?;
            }
        }
        if self.protocol == Protocol::Sccp
            && (self.dial_plan.is_some() || self.feature_policy.is_some())
        {
            return Err(FieldError::new(
                "dial_plan",
                "dial plans and feature policies are for SIP devices (SCCP phones get them \
                 from the call manager)",
            ));
        }
        validate_buttons(
            &self.lines,
            &self.speed_dials,
            usize::from(model.buttons).min(MAX_BUTTONS),
        )?;
        for (key, val) in &self.vendor_config {
            let field = format!("vendor_config.{key}");
            value::element_name(&field, key)?;
            // The phone skips an element without text (spec §9): an empty setting would look
            // set and do nothing.
            if val.is_empty() {
                return Err(FieldError::new(
                    field,
                    "is empty, which the phone ignores; remove the setting instead",
                ));
            }
            value::text(&field, val, 255)?;
        }
        self.urls.validate()
    }
}
