//! The objects of the device database, each with its validation.
//!
//! The limits are those of the files the objects end up in (spec cisco-tftp.md §1, §9): a
//! value a file cannot carry is refused here, at input, with the field's name, rather than
//! written into a file a phone mis-parses.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

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

/// A call-processing server a device registers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallManager {
    #[serde(deserialize_with = "value::flexible_text")]
    pub name: String,
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub description: String,
    /// Host name or address (the file's `processNodeName`).
    #[serde(deserialize_with = "value::flexible_text")]
    pub host: String,
    #[serde(default = "sccp_port")]
    pub sccp_port: u16,
    #[serde(default = "sip_port")]
    pub sip_port: u16,
    #[serde(default = "secure_sip_port")]
    pub secure_sip_port: u16,
}

fn sccp_port() -> u16 {
    2000
}
fn sip_port() -> u16 {
    5060
}
fn secure_sip_port() -> u16 {
    5061
}

impl CallManager {
    pub fn new(name: &str, host: &str) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            host: host.into(),
            sccp_port: sccp_port(),
            sip_port: sip_port(),
            secure_sip_port: secure_sip_port(),
        }
    }

    pub fn validate(&self) -> Valid {
        value::name("name", &self.name)?;
        value::text("description", &self.description, 128)?;
        value::host("host", &self.host)?;
        value::port("sccp_port", self.sccp_port)?;
        value::port("sip_port", self.sip_port)?;
        value::port("secure_sip_port", self.secure_sip_port)
    }
}

/// Call managers a device tries in order (priority 0 first). Cisco's parser crashes on more
/// than three (spec §9), which is also CUCM's own limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CmGroup {
    #[serde(deserialize_with = "value::flexible_text")]
    pub name: String,
    pub members: Vec<String>,
    /// The group auto-registering phones get in `XMLDefault.cnf.xml`.
    #[serde(default)]
    pub tftp_default: bool,
}

pub const MAX_CM_GROUP_MEMBERS: usize = 3;

impl CmGroup {
    pub fn validate(&self) -> Valid {
        value::name("name", &self.name)?;
        if self.members.is_empty() || self.members.len() > MAX_CM_GROUP_MEMBERS {
            return Err(FieldError::new(
                "members",
                format!(
                    "{} members; a group has 1 to {MAX_CM_GROUP_MEMBERS} call managers \
                     (phones crash on more)",
                    self.members.len()
                ),
            ));
        }
        for (i, m) in self.members.iter().enumerate() {
            value::name(&format!("members[{i}]"), m)?;
            if self.members[..i].contains(m) {
                return Err(FieldError::new(
                    format!("members[{i}]"),
                    format!("{m:?} is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

/// Date format, time zone and time servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateTimeGroup {
    #[serde(deserialize_with = "value::flexible_text")]
    pub name: String,
    /// `M/D/Y`, `D/M/Y`, `Y/M/D`, `D.M.Y`, …, with a trailing `A` for a 12-hour clock.
    #[serde(default = "date_template", deserialize_with = "value::flexible_text")]
    pub date_template: String,
    /// Windows-style zone name, as CUCM writes it (`W. Europe Standard/Daylight Time`).
    #[serde(default = "time_zone", deserialize_with = "value::flexible_text")]
    pub time_zone: String,
    #[serde(default)]
    pub ntp: Vec<String>,
}

fn date_template() -> String {
    "M/D/Y".into()
}
fn time_zone() -> String {
    "Greenwich Standard Time".into()
}

impl DateTimeGroup {
    pub fn validate(&self) -> Valid {
        value::name("name", &self.name)?;
        let template = self
            .date_template
            .strip_suffix('A')
            .unwrap_or(&self.date_template);
        let parts: Vec<&str> = template.split(['/', '.', '-']).collect();
        let mut sorted = parts.clone();
        sorted.sort_unstable();
        if sorted != ["D", "M", "Y"] || template.len() != 5 {
            return Err(FieldError::new(
                "date_template",
                format!(
                    "{:?}: D, M and Y once each, separated by '/', '.' or '-', \
                     optionally ending in A (12-hour clock)",
                    self.date_template
                ),
            ));
        }
        value::required_text("time_zone", &self.time_zone, 64)?;
        if self.ntp.len() > 5 {
            return Err(FieldError::new("ntp", "at most 5 time servers"));
        }
        for (i, server) in self.ntp.iter().enumerate() {
            value::host(&format!("ntp[{i}]"), server)?;
        }
        Ok(())
    }
}

/// The phone-button URLs. At the enterprise level every one has a value (maybe empty); a
/// pool or a device overrides the ones it names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Urls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub information: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<String>,
}

impl Urls {
    pub fn validate(&self) -> Valid {
        for (field, url) in self.named() {
            if let Some(url) = url {
                value::url(field, url)?;
            }
        }
        Ok(())
    }

    /// `self` where it has a value, else `fallback`.
    #[must_use]
    pub fn or(&self, fallback: &Self) -> Self {
        Self {
            authentication: self
                .authentication
                .clone()
                .or_else(|| fallback.authentication.clone()),
            directory: self
                .directory
                .clone()
                .or_else(|| fallback.directory.clone()),
            idle: self.idle.clone().or_else(|| fallback.idle.clone()),
            idle_timeout: self.idle_timeout.or(fallback.idle_timeout),
            information: self
                .information
                .clone()
                .or_else(|| fallback.information.clone()),
            messages: self.messages.clone().or_else(|| fallback.messages.clone()),
            proxy_server: self
                .proxy_server
                .clone()
                .or_else(|| fallback.proxy_server.clone()),
            services: self.services.clone().or_else(|| fallback.services.clone()),
        }
    }

    fn named(&self) -> [(&'static str, &Option<String>); 7] {
        [
            ("urls.authentication", &self.authentication),
            ("urls.directory", &self.directory),
            ("urls.idle", &self.idle),
            ("urls.information", &self.information),
            ("urls.messages", &self.messages),
            ("urls.proxy_server", &self.proxy_server),
            ("urls.services", &self.services),
        ]
    }
}

/// Settings shared by a group of devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicePool {
    #[serde(deserialize_with = "value::flexible_text")]
    pub name: String,
    #[serde(deserialize_with = "value::flexible_text")]
    pub cm_group: String,
    #[serde(deserialize_with = "value::flexible_text")]
    pub date_time: String,
    /// The user locale's directory on the TFTP root (`English_United_States`).
    #[serde(default = "user_locale", deserialize_with = "value::flexible_text")]
    pub user_locale: String,
    /// Its language code (`en_US`).
    #[serde(default = "lang_code", deserialize_with = "value::flexible_text")]
    pub lang_code: String,
    /// The network (tones) locale's directory (`United_States`).
    #[serde(default = "network_locale", deserialize_with = "value::flexible_text")]
    pub network_locale: String,
    /// SRST reference; `Disable` or a name.
    #[serde(default = "srst", deserialize_with = "value::flexible_text")]
    pub srst: String,
    /// Seconds a phone waits before falling back to its primary call manager.
    #[serde(default = "connection_monitor")]
    pub connection_monitor: u32,
    #[serde(default)]
    pub urls: Urls,
}

fn user_locale() -> String {
    "English_United_States".into()
}
fn lang_code() -> String {
    "en_US".into()
}
fn network_locale() -> String {
    "United_States".into()
}
fn srst() -> String {
    "Disable".into()
}
fn connection_monitor() -> u32 {
    120
}

impl DevicePool {
    pub fn new(name: &str, cm_group: &str, date_time: &str) -> Self {
        Self {
            name: name.into(),
            cm_group: cm_group.into(),
            date_time: date_time.into(),
            user_locale: user_locale(),
            lang_code: lang_code(),
            network_locale: network_locale(),
            srst: srst(),
            connection_monitor: connection_monitor(),
            urls: Urls::default(),
        }
    }

    pub fn validate(&self) -> Valid {
        value::name("name", &self.name)?;
        value::name("cm_group", &self.cm_group)?;
        value::name("date_time", &self.date_time)?;
        value::token("user_locale", &self.user_locale)?;
        value::token("lang_code", &self.lang_code)?;
        value::token("network_locale", &self.network_locale)?;
        value::name("srst", &self.srst)?;
        self.urls.validate()
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

fn validate_buttons(lines: &[Line], speed_dials: &[SpeedDial], max: usize) -> Valid {
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
            value::element_name(&format!("vendor_config.{key}"), key)?;
            value::text(&format!("vendor_config.{key}"), val, 255)?;
        }
        self.urls.validate()
    }
}

/// `User` attribute of a dial rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleUser {
    Phone,
    #[serde(rename = "IP")]
    Ip,
}

/// `Route` attribute of a dial rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Route {
    Default,
    Emergency,
    #[serde(rename = "FQDN")]
    Fqdn,
}

/// The tone names Cisco's dial-plan parser knows (spec §1.7).
pub const TONES: &[&str] = &[
    "Bellcore-Inside",
    "Bellcore-Outside",
    "Bellcore-Busy",
    "Bellcore-Alerting",
    "Bellcore-BusyVerify",
    "Bellcore-Stutter",
    "Bellcore-MsgWaiting",
    "Bellcore-Reorder",
    "Bellcore-CallWaiting",
    "Bellcore-Cw2",
    "Bellcore-Cw3",
    "Bellcore-Cw4",
    "Bellcore-Hold",
    "Bellcore-Confirmation",
    "Bellcore-Permanent",
    "Bellcore-Reminder",
    "Bellcore-None",
    "Cisco-ZipZip",
    "Cisco-Zip",
    "Cisco-BeepBonk",
];

/// One `<TEMPLATE>` of a dial plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialRule {
    #[serde(deserialize_with = "value::flexible_text")]
    pub pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<RuleUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tones: Vec<String>,
}

/// Values longer than this are cut by the phone's parser (spec §9).
pub const MAX_RULE_VALUE: usize = 63;

impl DialRule {
    pub fn new(pattern: &str) -> Self {
        Self {
            pattern: pattern.into(),
            timeout: None,
            user: None,
            rewrite: None,
            line: None,
            route: None,
            tones: Vec::new(),
        }
    }

    pub fn validate(&self) -> Valid {
        // Only literals, '.', '*', ',' and '\' escapes: the phone has no character classes.
        let ok =
            |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'*' | b'#' | b',' | b'\\' | b'+');
        if self.pattern.is_empty() || self.pattern.len() > MAX_RULE_VALUE {
            return Err(FieldError::new(
                "pattern",
                format!("must be 1 to {MAX_RULE_VALUE} characters"),
            ));
        }
        if let Some(bad) = self.pattern.bytes().find(|&b| !ok(b)) {
            return Err(FieldError::new(
                "pattern",
                format!(
                    "{:?}: {:?} is not a dial-plan pattern character (digits, '.', '*', '#', \
                     ',', '\\'; the phone has no character classes)",
                    self.pattern, bad as char
                ),
            ));
        }
        if let Some(rewrite) = &self.rewrite {
            value::required_text("rewrite", rewrite, MAX_RULE_VALUE)?;
            if rewrite.contains('"') {
                return Err(FieldError::new("rewrite", "must not contain '\"'"));
            }
        }
        if self.tones.len() > 3 {
            return Err(FieldError::new("tones", "at most 3 tones"));
        }
        if let Some(t) = self.tones.iter().find(|t| !TONES.contains(&t.as_str())) {
            return Err(FieldError::new(
                "tones",
                format!("{t:?} is not a tone the phone knows ({})", TONES.join(", ")),
            ));
        }
        Ok(())
    }
}

/// A SIP dial plan (`DR<name>.xml`, or `<name>.xml` for 7940/7960 SIP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialPlan {
    #[serde(deserialize_with = "value::flexible_text")]
    pub name: String,
    pub rules: Vec<DialRule>,
}

impl DialPlan {
    pub fn validate(&self) -> Valid {
        value::token("name", &self.name)?;
        for (i, rule) in self.rules.iter().enumerate() {
            rule.validate()
                .map_err(|e| e.within(&format!("rules[{i}]")))?;
        }
        Ok(())
    }
}

/// The softkey set names phones know (spec §1.8).
pub const SOFTKEY_SETS: &[&str] = &[
    "On Hook",
    "Off Hook",
    "Off Hook With Feature",
    "Digits After First",
    "Ring Out",
    "Connected",
    "Connected No Feature",
    "Connected Transfer",
    "Connected Conference",
    "On Hold",
    "Ring In",
    "Remote In Use",
];

/// The softkeys phones know: (key id, tag, event id, help id) (spec §1.8).
pub const SOFTKEYS: &[(&str, u32, u32, u32)] = &[
    ("Redial", 1, 1, 301),
    ("NewCall", 2, 2, 302),
    ("Hold", 3, 3, 303),
    ("Transfer", 4, 4, 304),
    ("CFwdAll", 5, 5, 305),
    ("<<", 8, 8, 308),
    ("EndCall", 9, 9, 309),
    ("Resume", 10, 10, 310),
    ("Answer", 11, 11, 311),
    ("Confrn", 13, 13, 313),
    ("Park", 14, 14, 314),
    ("Join", 15, 15, 315),
    ("MeetMe", 16, 16, 316),
    ("PickUp", 17, 17, 317),
    ("GPickUp", 18, 18, 318),
    ("RmLstC", 57, 19, 319),
    ("CallBack", 65, 20, 320),
    ("DND", 63, 69, 369),
    ("QRT", 75, 22, 322),
    ("MCID", 76, 27, 327),
    ("Select", 78, 29, 329),
    ("ConfList", 79, 30, 330),
    ("iDivert", 80, 31, 331),
    ("OPickUp", 91, 34, 334),
    ("HLog", 92, 35, 335),
    ("AbbrDial", 7740, 71, 371),
    ("Record", 7747, 74, 374),
    ("Undefined", 0, 0, 0),
];

/// The most keys a set may hold.
pub const MAX_SOFTKEYS_PER_SET: usize = 16;

/// Softkeys of one call state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftkeySet {
    #[serde(deserialize_with = "value::flexible_text")]
    pub id: String,
    pub keys: Vec<String>,
}

/// A softkey template (`SK<name>.xml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftkeyTemplate {
    #[serde(deserialize_with = "value::flexible_text")]
    pub name: String,
    pub sets: Vec<SoftkeySet>,
}

impl SoftkeyTemplate {
    pub fn validate(&self) -> Valid {
        value::token("name", &self.name)?;
        for (i, set) in self.sets.iter().enumerate() {
            let field = format!("sets[{i}]");
            if !SOFTKEY_SETS.contains(&set.id.as_str()) {
                return Err(FieldError::new(
                    format!("{field}.id"),
                    format!("{:?}: one of {}", set.id, SOFTKEY_SETS.join(", ")),
                ));
            }
            if self.sets[..i].iter().any(|s| s.id == set.id) {
                return Err(FieldError::new(format!("{field}.id"), "listed twice"));
            }
            if set.keys.len() > MAX_SOFTKEYS_PER_SET {
                return Err(FieldError::new(
                    format!("{field}.keys"),
                    format!("at most {MAX_SOFTKEYS_PER_SET} keys per set"),
                ));
            }
            if let Some(k) = set
                .keys
                .iter()
                .find(|k| !SOFTKEYS.iter().any(|(id, ..)| id == k))
            {
                return Err(FieldError::new(
                    format!("{field}.keys"),
                    format!("{k:?} is not a softkey phones know"),
                ));
            }
        }
        Ok(())
    }
}

/// Feature names by id (spec §1.8). Cisco's parser reads ids 1..=9 only (spec §9).
pub const FEATURES: &[(u8, &str)] = &[
    (1, "Forward All"),
    (2, "Park"),
    (3, "Divert (Alerting)"),
    (4, "Conference Details"),
    (5, "Speed Dial"),
    (6, "Call Back"),
    (7, "Redial"),
    (8, "Barge"),
    (9, "Divert (Connected)"),
];

/// Which features a SIP phone offers (`featurePolicyFile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturePolicy {
    #[serde(deserialize_with = "value::flexible_text")]
    pub name: String,
    /// Feature id -> enabled; features not listed keep the phone's default.
    pub features: BTreeMap<u8, bool>,
}

impl FeaturePolicy {
    pub fn validate(&self) -> Valid {
        value::token("name", &self.name)?;
        if let Some(id) = self
            .features
            .keys()
            .find(|id| !FEATURES.iter().any(|(f, _)| f == *id))
        {
            return Err(FieldError::new(
                "features",
                format!("feature id {id}: phones read ids 1 to 9 only"),
            ));
        }
        Ok(())
    }
}

/// What an Extension Mobility login puts on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobilityProfile {
    #[serde(default)]
    pub lines: Vec<Line>,
    #[serde(default)]
    pub speed_dials: Vec<SpeedDial>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dial_plan: Option<String>,
}

/// An end user, who may own devices and log in to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    #[serde(deserialize_with = "value::flexible_text")]
    pub id: String,
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<MobilityProfile>,
}

impl User {
    pub fn validate(&self) -> Valid {
        value::token("id", &self.id)?;
        value::text("name", &self.name, 128)?;
        if let Some(p) = &self.profile {
            validate_buttons(&p.lines, &p.speed_dials, MAX_BUTTONS)
                .map_err(|e| e.within("profile"))?;
            if let Some(plan) = &p.dial_plan {
                value::token("profile.dial_plan", plan)?;
            }
        }
        Ok(())
    }
}

/// Service parameter "Build CNF Files".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildCnf {
    /// `.cnf` only for the device types of the seed's Table 1.
    #[default]
    Selective,
    /// `.cnf` for every device.
    All,
    /// No `.cnf` at all.
    None,
}

/// Service and enterprise parameters (one row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub build_cnf: BuildCnf,
    #[serde(default = "yes")]
    pub auto_registration: bool,
    #[serde(default = "sccp")]
    pub auto_registration_protocol: Protocol,
    #[serde(default = "max_serving_count")]
    pub max_serving_count: u32,
    /// Enterprise default phone URLs.
    #[serde(default)]
    pub urls: Urls,
    /// `sshUserId`/`sshPassword` written for phones that take them (empty: none).
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub ssh_user: String,
    #[serde(default, deserialize_with = "value::flexible_text")]
    pub ssh_password: String,
}

fn yes() -> bool {
    true
}
fn sccp() -> Protocol {
    Protocol::Sccp
}
fn max_serving_count() -> u32 {
    200
}

impl Default for Params {
    fn default() -> Self {
        Self {
            build_cnf: BuildCnf::Selective,
            auto_registration: true,
            auto_registration_protocol: Protocol::Sccp,
            max_serving_count: max_serving_count(),
            urls: Urls::default(),
            ssh_user: String::new(),
            ssh_password: String::new(),
        }
    }
}

impl Params {
    pub fn validate(&self) -> Valid {
        if !(1..=100_000).contains(&self.max_serving_count) {
            return Err(FieldError::new("max_serving_count", "must be 1 to 100000"));
        }
        value::text("ssh_user", &self.ssh_user, 50)?;
        value::text("ssh_password", &self.ssh_password, 50)?;
        self.urls.validate()
    }
}
