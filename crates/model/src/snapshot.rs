//! Objects as one value ([`Object`]), their kinds, and a [`Snapshot`]: every object of the
//! database at one version, indexed the ways the builder looks them up.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;

use crate::catalogue::Catalogue;
use crate::error::{FieldError, Valid};
use crate::objects::*;
use crate::value::Mac;

/// The kinds of object, in an order where every kind refers only to earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Params,
    CallManager,
    CmGroup,
    DateTimeGroup,
    DevicePool,
    DialPlan,
    Softkeys,
    FeaturePolicy,
    User,
    Device,
}

impl Kind {
    pub const ALL: [Self; 10] = [
        Self::Params,
        Self::CallManager,
        Self::CmGroup,
        Self::DateTimeGroup,
        Self::DevicePool,
        Self::DialPlan,
        Self::Softkeys,
        Self::FeaturePolicy,
        Self::User,
        Self::Device,
    ];

    /// The name the CLI, the change feed and the database use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Params => "params",
            Self::CallManager => "callmanager",
            Self::CmGroup => "group",
            Self::DateTimeGroup => "datetime",
            Self::DevicePool => "pool",
            Self::DialPlan => "dialplan",
            Self::Softkeys => "softkeys",
            Self::FeaturePolicy => "policy",
            Self::User => "user",
            Self::Device => "device",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|k| k.as_str()).collect();
                FieldError::new("kind", format!("{s:?}: one of {}", names.join(", ")))
            })
    }
}

/// Any object of the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Object {
    Params(Params),
    CallManager(CallManager),
    CmGroup(CmGroup),
    DateTimeGroup(DateTimeGroup),
    DevicePool(DevicePool),
    DialPlan(DialPlan),
    Softkeys(SoftkeyTemplate),
    FeaturePolicy(FeaturePolicy),
    User(User),
    Device(Device),
}

/// The key of the single parameters row.
pub const PARAMS_KEY: &str = "params";

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Self::Params(_) => Kind::Params,
            Self::CallManager(_) => Kind::CallManager,
            Self::CmGroup(_) => Kind::CmGroup,
            Self::DateTimeGroup(_) => Kind::DateTimeGroup,
            Self::DevicePool(_) => Kind::DevicePool,
            Self::DialPlan(_) => Kind::DialPlan,
            Self::Softkeys(_) => Kind::Softkeys,
            Self::FeaturePolicy(_) => Kind::FeaturePolicy,
            Self::User(_) => Kind::User,
            Self::Device(_) => Kind::Device,
        }
    }

    /// The object's name within its kind.
    pub fn key(&self) -> &str {
        match self {
            Self::Params(_) => PARAMS_KEY,
            Self::CallManager(o) => &o.name,
            Self::CmGroup(o) => &o.name,
            Self::DateTimeGroup(o) => &o.name,
            Self::DevicePool(o) => &o.name,
            Self::DialPlan(o) => &o.name,
            Self::Softkeys(o) => &o.name,
            Self::FeaturePolicy(o) => &o.name,
            Self::User(o) => &o.id,
            Self::Device(o) => &o.name,
        }
    }

    /// A second unique key: a device's MAC address.
    pub fn alt_key(&self) -> Option<String> {
        match self {
            Self::Device(d) => Some(d.mac.to_string()),
            _ => None,
        }
    }

    /// The objects this one names, which must exist while it does, each with the field that
    /// names it (`pool`, `members[1]`, `profile.dial_plan`), in field order.
    pub fn references(&self) -> Vec<(String, Kind, String)> {
        let mut refs = Vec::new();
        match self {
            Self::CmGroup(g) => {
                for (i, m) in g.members.iter().enumerate() {
                    refs.push((format!("members[{i}]"), Kind::CallManager, m.clone()));
                }
            }
            Self::DevicePool(p) => {
                refs.push(("cm_group".into(), Kind::CmGroup, p.cm_group.clone()));
                refs.push(("date_time".into(), Kind::DateTimeGroup, p.date_time.clone()));
            }
            Self::User(u) => {
                if let Some(plan) = u.profile.as_ref().and_then(|p| p.dial_plan.clone()) {
                    refs.push(("profile.dial_plan".into(), Kind::DialPlan, plan));
                }
            }
            Self::Device(d) => {
                refs.push(("pool".into(), Kind::DevicePool, d.pool.clone()));
                let named = [
                    ("dial_plan", Kind::DialPlan, &d.dial_plan),
                    ("softkeys", Kind::Softkeys, &d.softkeys),
                    ("feature_policy", Kind::FeaturePolicy, &d.feature_policy),
                    ("owner", Kind::User, &d.owner),
                    ("em_user", Kind::User, &d.em_user),
                ];
                for (field, kind, name) in named {
                    if let Some(name) = name {
                        refs.push((field.into(), kind, name.clone()));
                    }
                }
            }
            _ => {}
        }
        refs
    }

    /// The objects this one names, each once (what the store keeps references of).
    pub fn refs(&self) -> Vec<(Kind, String)> {
        let mut refs: Vec<(Kind, String)> = self
            .references()
            .into_iter()
            .map(|(_, kind, key)| (kind, key))
            .collect();
        refs.sort();
        refs.dedup();
        refs
    }

    /// The field that names `kind`/`key` (any case), if one does.
    pub fn field_naming(&self, kind: Kind, key: &str) -> Option<String> {
        self.references()
            .into_iter()
            .find(|(_, k, name)| *k == kind && name.eq_ignore_ascii_case(key))
            .map(|(field, ..)| field)
    }

    pub fn validate(&self, catalogue: &Catalogue) -> Valid {
        match self {
            Self::Params(o) => o.validate(),
            Self::CallManager(o) => o.validate(),
            Self::CmGroup(o) => o.validate(),
            Self::DateTimeGroup(o) => o.validate(),
            Self::DevicePool(o) => o.validate(),
            Self::DialPlan(o) => o.validate(),
            Self::Softkeys(o) => o.validate(),
            Self::FeaturePolicy(o) => o.validate(),
            Self::User(o) => o.validate(),
            Self::Device(o) => o.validate(catalogue),
        }
    }

    /// The object as JSON (how the store keeps it).
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail: every map key is a string or integer.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads an object of `kind` from JSON; unknown fields are refused with their name.
    pub fn from_json(kind: Kind, json: &str) -> Result<Self, FieldError> {
        Self::from_value(
            kind,
            serde_json::from_str(json)
                .map_err(|e| FieldError::new(kind.as_str(), format!("not a valid {kind}: {e}")))?,
        )
    }

    /// Reads an object of `kind` from a JSON value (the CLI edits objects as values).
    pub fn from_value(kind: Kind, value: serde_json::Value) -> Result<Self, FieldError> {
        fn de<T: serde::de::DeserializeOwned>(
            _kind: Kind,
            v: serde_json::Value,
        ) -> Result<T, FieldError> {
            crate::error::from_value(v)
        }
        Ok(match kind {
            Kind::Params => Self::Params(de(kind, value)?),
            Kind::CallManager => Self::CallManager(de(kind, value)?),
            Kind::CmGroup => Self::CmGroup(de(kind, value)?),
            Kind::DateTimeGroup => Self::DateTimeGroup(de(kind, value)?),
            Kind::DevicePool => Self::DevicePool(de(kind, value)?),
            Kind::DialPlan => Self::DialPlan(de(kind, value)?),
            Kind::Softkeys => Self::Softkeys(de(kind, value)?),
            Kind::FeaturePolicy => Self::FeaturePolicy(de(kind, value)?),
            Kind::User => Self::User(de(kind, value)?),
            Kind::Device => Self::Device(de(kind, value)?),
        })
    }
}

/// Objects of one kind by name, looked up case-insensitively (file names are), iterated in
/// name order (so builds are reproducible). A persistent map: a clone shares every row and
/// node, and a change copies only the path to it, so taking one change into a snapshot of
/// 100,000 devices costs a few allocations, not a copy of the table.
#[derive(Debug, Clone)]
pub struct Table<T> {
    rows: imbl::OrdMap<String, Arc<T>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            rows: imbl::OrdMap::new(),
        }
    }
}

impl<T> Table<T> {
    pub fn get(&self, name: &str) -> Option<&T> {
        self.rows.get(&fold(name)).map(Arc::as_ref)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &T> + DoubleEndedIterator {
        self.rows.values().map(Arc::as_ref)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn insert(&mut self, name: &str, value: T) -> Option<Arc<T>> {
        self.rows.insert(fold(name), Arc::new(value))
    }

    fn remove(&mut self, name: &str) -> Option<Arc<T>> {
        self.rows.remove(&fold(name))
    }
}

fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Every object of the database at one version. Cheap to clone (O(1): tables are persistent
/// maps), so a writer clones, applies changes and swaps the result in whole: readers never
/// see half a change, and a change costs what it touches.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub catalogue: Arc<Catalogue>,
    pub params: Arc<Params>,
    pub call_managers: Table<CallManager>,
    pub cm_groups: Table<CmGroup>,
    pub date_time_groups: Table<DateTimeGroup>,
    pub pools: Table<DevicePool>,
    pub dial_plans: Table<DialPlan>,
    pub softkeys: Table<SoftkeyTemplate>,
    pub feature_policies: Table<FeaturePolicy>,
    pub users: Table<User>,
    pub devices: Table<Device>,
    by_mac: imbl::HashMap<Mac, String>,
}

impl Snapshot {
    pub fn new(catalogue: Arc<Catalogue>) -> Self {
        Self {
            catalogue,
            params: Arc::new(Params::default()),
            call_managers: Table::default(),
            cm_groups: Table::default(),
            date_time_groups: Table::default(),
            pools: Table::default(),
            dial_plans: Table::default(),
            softkeys: Table::default(),
            feature_policies: Table::default(),
            users: Table::default(),
            devices: Table::default(),
            by_mac: imbl::HashMap::new(),
        }
    }

    /// Adds or replaces an object.
    pub fn put(&mut self, object: Object) {
        match object {
            Object::Params(o) => self.params = Arc::new(o),
            Object::CallManager(o) => drop(self.call_managers.insert(&o.name.clone(), o)),
            Object::CmGroup(o) => drop(self.cm_groups.insert(&o.name.clone(), o)),
            Object::DateTimeGroup(o) => drop(self.date_time_groups.insert(&o.name.clone(), o)),
            Object::DevicePool(o) => drop(self.pools.insert(&o.name.clone(), o)),
            Object::DialPlan(o) => drop(self.dial_plans.insert(&o.name.clone(), o)),
            Object::Softkeys(o) => drop(self.softkeys.insert(&o.name.clone(), o)),
            Object::FeaturePolicy(o) => drop(self.feature_policies.insert(&o.name.clone(), o)),
            Object::User(o) => drop(self.users.insert(&o.id.clone(), o)),
            Object::Device(o) => {
                let (name, mac) = (o.name.clone(), o.mac);
                if let Some(old) = self.devices.insert(&name, o) {
                    self.forget_mac(old.mac, &name);
                }
                self.by_mac.insert(mac, fold(&name));
            }
        }
    }

    /// Removes an object if it exists.
    pub fn remove(&mut self, kind: Kind, key: &str) {
        match kind {
            Kind::Params => self.params = Arc::new(Params::default()),
            Kind::CallManager => drop(self.call_managers.remove(key)),
            Kind::CmGroup => drop(self.cm_groups.remove(key)),
            Kind::DateTimeGroup => drop(self.date_time_groups.remove(key)),
            Kind::DevicePool => drop(self.pools.remove(key)),
            Kind::DialPlan => drop(self.dial_plans.remove(key)),
            Kind::Softkeys => drop(self.softkeys.remove(key)),
            Kind::FeaturePolicy => drop(self.feature_policies.remove(key)),
            Kind::User => drop(self.users.remove(key)),
            Kind::Device => {
                if let Some(old) = self.devices.remove(key) {
                    self.forget_mac(old.mac, key);
                }
            }
        }
    }

    /// Drops `mac` from the index if it still points at device `name`: another device may
    /// have taken the MAC already (changes are taken in by object, not in commit order).
    fn forget_mac(&mut self, mac: Mac, name: &str) {
        if self.by_mac.get(&mac).is_some_and(|n| *n == fold(name)) {
            self.by_mac.remove(&mac);
        }
    }

    pub fn device_by_mac(&self, mac: Mac) -> Option<&Device> {
        self.by_mac
            .get(&mac)
            .and_then(|name| self.devices.get(name))
    }

    /// Every object, the ones others name first (kinds in their declared order), the
    /// parameters included.
    pub fn objects(&self) -> impl Iterator<Item = Object> + '_ {
        std::iter::once(Object::Params((*self.params).clone()))
            .chain(self.call_managers.iter().cloned().map(Object::CallManager))
            .chain(self.cm_groups.iter().cloned().map(Object::CmGroup))
            .chain(
                self.date_time_groups
                    .iter()
                    .cloned()
                    .map(Object::DateTimeGroup),
            )
            .chain(self.pools.iter().cloned().map(Object::DevicePool))
            .chain(self.dial_plans.iter().cloned().map(Object::DialPlan))
            .chain(self.softkeys.iter().cloned().map(Object::Softkeys))
            .chain(
                self.feature_policies
                    .iter()
                    .cloned()
                    .map(Object::FeaturePolicy),
            )
            .chain(self.users.iter().cloned().map(Object::User))
            .chain(self.devices.iter().cloned().map(Object::Device))
    }

    /// The object of `kind` named `key`, if any.
    pub fn get(&self, kind: Kind, key: &str) -> Option<Object> {
        Some(match kind {
            Kind::Params => Object::Params((*self.params).clone()),
            Kind::CallManager => Object::CallManager(self.call_managers.get(key)?.clone()),
            Kind::CmGroup => Object::CmGroup(self.cm_groups.get(key)?.clone()),
            Kind::DateTimeGroup => Object::DateTimeGroup(self.date_time_groups.get(key)?.clone()),
            Kind::DevicePool => Object::DevicePool(self.pools.get(key)?.clone()),
            Kind::DialPlan => Object::DialPlan(self.dial_plans.get(key)?.clone()),
            Kind::Softkeys => Object::Softkeys(self.softkeys.get(key)?.clone()),
            Kind::FeaturePolicy => Object::FeaturePolicy(self.feature_policies.get(key)?.clone()),
            Kind::User => Object::User(self.users.get(key)?.clone()),
            Kind::Device => Object::Device(self.devices.get(key)?.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_through_json_and_unknown_fields_are_named() {
        let mac: Mac = "001122334455".parse().unwrap();
        let mut d = Device::phone(mac, "8841", Protocol::Sip, "Default");
        d.lines.push(Line::new("1001"));
        let o = Object::Device(d);
        assert_eq!(Object::from_json(Kind::Device, &o.to_json()).unwrap(), o);
        let err = Object::from_json(Kind::CallManager, r#"{"name":"a","host":"h","bogus":1}"#)
            .unwrap_err();
        assert_eq!(err.field, "bogus", "{err}");
    }

    #[test]
    fn snapshot_finds_devices_by_any_case_and_by_mac_and_forgets_removed_ones() {
        let mut s = Snapshot::new(Arc::new(Catalogue::builtin().clone()));
        let mac: Mac = "001122334455".parse().unwrap();
        s.put(Object::Device(Device::phone(
            mac,
            "7941",
            Protocol::Sccp,
            "P",
        )));
        assert!(s.devices.get("sep001122334455").is_some());
        assert!(s.device_by_mac(mac).is_some());
        s.remove(Kind::Device, "SEP001122334455");
        assert!(s.device_by_mac(mac).is_none());
        assert!(s.devices.is_empty());
    }

    #[test]
    fn a_mac_taken_over_by_another_device_stays_with_it_whatever_the_order() {
        let mut s = Snapshot::new(Arc::new(Catalogue::builtin().clone()));
        let (x, y): (Mac, Mac) = (
            "0011223344AA".parse().unwrap(),
            "0011223344BB".parse().unwrap(),
        );
        let mut a = Device::phone(x, "IPCommunicator", Protocol::Sccp, "P");
        a.name = "A".into();
        s.put(Object::Device(a.clone()));
        // B takes X first, then A moves to Y: X must stay B's.
        let mut b = Device::phone(x, "IPCommunicator", Protocol::Sccp, "P");
        b.name = "B".into();
        s.put(Object::Device(b));
        a.mac = y;
        s.put(Object::Device(a));
        assert_eq!(s.device_by_mac(x).map(|d| d.name.as_str()), Some("B"));
        assert_eq!(s.device_by_mac(y).map(|d| d.name.as_str()), Some("A"));
        s.remove(Kind::Device, "a");
        assert_eq!(s.device_by_mac(x).map(|d| d.name.as_str()), Some("B"));
    }

    #[test]
    fn refs_name_everything_an_object_depends_on() {
        let mac: Mac = "001122334455".parse().unwrap();
        let mut d = Device::phone(mac, "8841", Protocol::Sip, "P");
        d.dial_plan = Some("DP".into());
        d.owner = Some("alice".into());
        d.em_user = Some("alice".into());
        assert_eq!(
            Object::Device(d).refs(),
            vec![
                (Kind::DevicePool, "P".into()),
                (Kind::DialPlan, "DP".into()),
                (Kind::User, "alice".into())
            ]
        );
        let d = Object::Device({
            let mut d = Device::phone(mac, "8841", Protocol::Sip, "P");
            d.owner = Some("bob".into());
            d.em_user = Some("alice".into());
            d
        });
        assert_eq!(
            d.field_naming(Kind::User, "ALICE").as_deref(),
            Some("em_user")
        );
        assert_eq!(d.field_naming(Kind::User, "bob").as_deref(), Some("owner"));
        assert_eq!(
            d.field_naming(Kind::DevicePool, "p").as_deref(),
            Some("pool")
        );
        assert_eq!(d.field_naming(Kind::DialPlan, "x"), None);
    }
}
