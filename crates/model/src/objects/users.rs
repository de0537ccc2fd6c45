//! End users and their Extension Mobility profiles.

use serde::{Deserialize, Serialize};

use super::device::{Line, MAX_BUTTONS, SpeedDial, validate_buttons};
use crate::error::Valid;
use crate::value;

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
