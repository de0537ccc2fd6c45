//! What the benches share: a cluster's few objects and generated phones.

#![allow(dead_code)]

use phoneboot_model::*;

/// A call manager, its group, a date/time group and the pool "Default" that phones use.
pub(crate) fn base() -> Vec<Object> {
    vec![
        Object::CallManager(CallManager::new("cm1", "192.0.2.11")),
        Object::CmGroup(CmGroup {
            name: "G1".into(),
            members: vec!["cm1".into()],
            tftp_default: true,
        }),
        Object::DateTimeGroup(DateTimeGroup {
            name: "CMLocal".into(),
            date_template: "M/D/Y".into(),
            time_zone: "Greenwich Standard Time".into(),
            ntp: vec![],
        }),
        Object::DevicePool(DevicePool::new("Default", "G1", "CMLocal")),
    ]
}

/// Phone `i`: an 8841 (SIP) in "Default" with one line, MAC 00:00 + i.
pub(crate) fn phone(i: u32) -> Device {
    let [a, b, c, d] = i.to_be_bytes();
    let mac = Mac::new([0, 0, a, b, c, d]);
    let mut d = Device::phone(mac, "8841", Protocol::Sip, "Default");
    d.lines = vec![Line::new(&(100_000 + i).to_string())];
    d.description = format!("desk {i}");
    d
}
