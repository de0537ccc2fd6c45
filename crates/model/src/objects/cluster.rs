//! Where devices register and what they share: call managers, their groups, date/time
//! groups, device pools and the phone-button URLs.

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, Valid};
use crate::value;

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
        // The phone keeps at most 47 bytes of it (spec §9).
        value::host("host", &self.host, value::MAX_PROCESS_NODE_NAME)?;
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
            value::host(&format!("ntp[{i}]"), server, 50)?;
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
        if let Some(t) = self.idle_timeout {
            value::phone_int("urls.idle_timeout", t)?;
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
        value::phone_int("connection_monitor", self.connection_monitor)?;
        self.urls.validate()
    }
}
