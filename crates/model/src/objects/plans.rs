//! What SIP phones get beside their configuration: dial plans, softkey templates and
//! feature policies (spec §1.7, §1.8, and the parser rules of §9).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, Valid};
use crate::value;

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
    /// The tone to play (`Tone`); at most one: the phone's parser reads one name.
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
            // The dial-plan tokenizer decodes no entities (spec §9): `&amp;` would reach the
            // phone as those five characters, and a quote ends the attribute.
            if let Some(c) = rewrite
                .chars()
                .find(|c| matches!(c, '"' | '\'' | '<' | '>' | '&'))
            {
                return Err(FieldError::new(
                    "rewrite",
                    format!(
                        "must not contain {c:?}: the phone's dial-plan parser reads no XML \
                         escapes, so it would see other characters than these"
                    ),
                ));
            }
        }
        if let Some(timeout) = self.timeout {
            value::phone_int("timeout", timeout)?;
        }
        if self.tones.len() > 1 {
            return Err(FieldError::new(
                "tones",
                "at most one tone per rule: the phone reads a list as an unknown tone and \
                 drops the whole dial plan",
            ));
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
