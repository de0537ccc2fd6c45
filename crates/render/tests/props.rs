//! Arbitrary values in the fields phones read: either the model refuses a value at input,
//! naming the field, or every file it lands in reads back exactly that value — under a
//! general XML parser and under the phone's own rules (spec §9, `support::phone`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use phoneboot_model::*;
use phoneboot_render::{check, render_name};
use proptest::prelude::*;
use support::{parse, phone};

/// Characters that break naive writers, plus everything else.
fn nasty_text() -> impl Strategy<Value = String> {
    let special = prop_oneof![
        Just('<'),
        Just('>'),
        Just('&'),
        Just('"'),
        Just('\''),
        Just(']'),
        Just(';'),
        Just('é'),
        Just('ß'),
        Just('漢'),
        Just('😀'),
        Just('\u{7}'),
        Just('\n'),
        Just('\r'),
        Just('\t'),
        Just('\u{0}'),
        Just('\u{85}'),
        Just('\u{FFFE}'),
        Just('\u{FFFF}'),
        Just('/'),
        Just('#'),
        Just(':'),
        Just(' '),
    ];
    prop::collection::vec(prop_oneof![3 => special, 2 => any::<char>(), 2 => "[a-z0-9]".prop_map(|s| s.chars().next().unwrap())], 0..48)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Where a text goes: a setter, the field name the model reports, and where the text shows
/// in the SEP<MAC>.cnf.xml of the 8841.
struct Field {
    name: &'static str,
    set: fn(&mut Snapshot, &str) -> Object,
    path: &'static str,
}

fn device(s: &Snapshot) -> Device {
    s.devices.get("SEP000000008841").unwrap().clone()
}

const FIELDS: &[Field] = &[
    Field {
        name: "description",
        path: "sipProfile/phoneLabel",
        set: |s, t| {
            let mut d = device(s);
            d.description = t.into();
            Object::Device(d)
        },
    },
    Field {
        name: "lines[0].display_name",
        path: "sipProfile/sipLines/line/displayName",
        set: |s, t| {
            let mut d = device(s);
            d.lines[0].display_name = t.into();
            Object::Device(d)
        },
    },
    Field {
        name: "lines[0].label",
        path: "sipProfile/sipLines/line/featureLabel",
        set: |s, t| {
            let mut d = device(s);
            d.lines[0].label = t.into();
            Object::Device(d)
        },
    },
    Field {
        name: "lines[0].auth_name",
        path: "sipProfile/sipLines/line/authName",
        set: |s, t| {
            let mut d = device(s);
            d.lines[0].auth_name = t.into();
            Object::Device(d)
        },
    },
    Field {
        name: "lines[0].auth_password",
        path: "sipProfile/sipLines/line/authPassword",
        set: |s, t| {
            let mut d = device(s);
            d.lines[0].auth_password = t.into();
            Object::Device(d)
        },
    },
    Field {
        name: "vendor_config.pcPort",
        path: "vendorConfig/pcPort",
        set: |s, t| {
            let mut d = device(s);
            d.vendor_config.insert("pcPort".into(), t.into());
            Object::Device(d)
        },
    },
    Field {
        name: "description",
        path: "devicePool/callManagerGroup/members/member/callManager/description",
        set: |s, t| {
            let mut c = s.call_managers.get("cm1").unwrap().clone();
            c.description = t.into();
            Object::CallManager(c)
        },
    },
    Field {
        name: "time_zone",
        path: "devicePool/dateTimeSetting/timeZone",
        set: |s, t| {
            let mut g = s.date_time_groups.get("CET").unwrap().clone();
            g.time_zone = t.into();
            Object::DateTimeGroup(g)
        },
    },
    Field {
        name: "ssh_password",
        path: "sshPassword",
        set: |s, t| {
            let mut p = (*s.params).clone();
            p.ssh_password = t.into();
            Object::Params(p)
        },
    },
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_refused_with_its_field_or_reads_back_equal(which in 0..FIELDS.len(), text in nasty_text()) {
        let field = &FIELDS[which];
        let mut s = support::snapshot();
        let object = (field.set)(&mut s, &text);
        match object.validate(&s.catalogue) {
            Err(e) => {
                prop_assert!(e.field.ends_with(field.name), "error names {:?}, expected {:?}", e.field, field.name);
                let unwritable = text.chars().any(|c| c.is_control() || !phone::accepts_xml(&c.to_string()));
                // Control characters and what XML cannot carry, over-long values, and blanks
                // where a value is required (an empty vendor setting, which phones skip).
                prop_assert!(unwritable || text.len() > 24 || text.trim().is_empty(), "refused {text:?}: {e}");
            }
            Ok(()) => {
                s.put(object.clone());
                prop_assert!(check(&s, &object).is_ok(), "{:?}", check(&s, &object));
                let (_, bytes) = render_name(&s, "SEP000000008841.cnf.xml").unwrap();
                let xml = String::from_utf8(bytes.unwrap()).unwrap();
                prop_assert!(phone::accepts_xml(&xml), "the phone's XML parser refuses the file for {text:?}");
                let root = parse(&xml);
                // An empty label shows the directory number instead.
                let want = if text.is_empty() && field.name == "lines[0].label" { "1001".into() } else { text };
                prop_assert_eq!(root.text_at(field.path), want);
            }
        }
    }

    #[test]
    fn a_dial_rule_is_refused_or_read_by_the_phone_exactly_as_written(
        rewrite in nasty_text(),
        timeout in prop_oneof![Just(0u32), Just(i32::MAX as u32), Just(i32::MAX as u32 + 1), Just(u32::MAX), any::<u32>()],
        tones in prop::collection::vec(prop::sample::select(TONES), 0..3),
    ) {
        let mut s = support::snapshot();
        let rule = DialRule {
            rewrite: (!rewrite.is_empty()).then(|| rewrite.clone()),
            timeout: Some(timeout),
            tones: tones.iter().map(|t| (*t).to_owned()).collect(),
            ..DialRule::new("9,1..........")
        };
        let plan = Object::DialPlan(DialPlan { name: "Prop".into(), rules: vec![rule] });
        match plan.validate(&s.catalogue) {
            Err(e) => {
                prop_assert!(e.field.starts_with("rules[0]."), "{e}");
                let decoded_apart = rewrite.chars().any(|c| "\"'<>&".contains(c));
                prop_assert!(
                    decoded_apart || timeout > i32::MAX as u32 || tones.len() > 1
                        || rewrite.chars().any(|c| c.is_control() || !phone::accepts_xml(&c.to_string()))
                        || rewrite.len() > 63 || (!rewrite.is_empty() && rewrite.trim().is_empty()),
                    "refused a plan the phone reads: {e}"
                );
            }
            Ok(()) => {
                s.put(plan.clone());
                prop_assert!(check(&s, &plan).is_ok());
                let (_, bytes) = render_name(&s, "DRProp.xml").unwrap();
                let text = String::from_utf8(bytes.unwrap()).unwrap();
                prop_assert!(phone::accepts_xml(&text));
                let templates = phone::dial_plan(&text);
                prop_assert!(templates.is_some(), "the phone drops the plan:\n{text}");
                let templates = templates.unwrap();
                let attr = |name: &str| templates[0].iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
                prop_assert_eq!(attr("Rewrite"), (!rewrite.is_empty()).then_some(rewrite));
                prop_assert_eq!(i64::from(phone::atoi(&attr("Timeout").unwrap())), i64::from(timeout));
                prop_assert_eq!(attr("Tone"), tones.first().map(|t| (*t).to_owned()));
            }
        }
    }

    #[test]
    fn a_call_manager_host_is_refused_or_kept_whole_by_the_phone(
        host in "[a-z][a-z0-9]{0,15}(\\.[a-z0-9]{1,15}){0,4}",
    ) {
        let mut s = support::snapshot();
        let cm = Object::CallManager(CallManager::new("cm2", &host));
        match cm.validate(&s.catalogue) {
            Err(e) => {
                prop_assert_eq!(e.field.as_str(), "host");
                prop_assert!(host.len() > 47, "refused a name the phone keeps: {}", e);
            }
            Ok(()) => {
                s.put(cm.clone());
                let (_, bytes) = render_name(&s, "SEP000000008841.cnf.xml").unwrap();
                let root = parse(&String::from_utf8(bytes.unwrap()).unwrap());
                let names = root.texts_at("devicePool/callManagerGroup/members/member/callManager/processNodeName");
                prop_assert!(names.iter().all(|n| phone::process_node_name(n) == Some(n.as_str())), "{names:?}");
                prop_assert!(names.contains(&host));
            }
        }
    }

    #[test]
    fn numbers_the_phone_reads_with_atoi_are_refused_or_read_back_equal(
        seconds in prop_oneof![Just(i32::MAX as u32), Just(i32::MAX as u32 + 1), any::<u32>()],
        which in 0..2usize,
    ) {
        let mut s = support::snapshot();
        let (object, path) = if which == 0 {
            let mut p = s.pools.get("HQ").unwrap().clone();
            p.connection_monitor = seconds;
            (Object::DevicePool(p), "devicePool/connectionMonitorDuration")
        } else {
            let mut d = device(&s);
            d.urls.idle_timeout = Some(seconds);
            (Object::Device(d), "idleTimeout")
        };
        match object.validate(&s.catalogue) {
            Err(e) => prop_assert!(seconds > i32::MAX as u32, "refused {seconds}: {e}"),
            Ok(()) => {
                s.put(object);
                let (_, bytes) = render_name(&s, "SEP000000008841.cnf.xml").unwrap();
                let root = parse(&String::from_utf8(bytes.unwrap()).unwrap());
                prop_assert_eq!(i64::from(phone::atoi(&root.text_at(path))), i64::from(seconds));
            }
        }
    }

    #[test]
    fn a_quote_in_a_7940_sip_line_is_refused_at_write_time(text in nasty_text()) {
        let mut s = support::snapshot();
        let mut d = s.devices.get("SEP000000007960").unwrap().clone();
        d.lines[0].display_name = text.clone();
        let object = Object::Device(d);
        if object.validate(&s.catalogue).is_ok() {
            s.put(object.clone());
            let verdict = check(&s, &object);
            if text.contains('"') {
                let e = verdict.unwrap_err();
                prop_assert_eq!(e.field.as_str(), "lines[0].display_name");
                prop_assert!(e.reason.contains("SIP000000007960.cnf"), "{}", e.reason);
            } else {
                prop_assert!(verdict.is_ok());
                let (_, bytes) = render_name(&s, "SIP000000007960.cnf").unwrap();
                let body = String::from_utf8(bytes.unwrap()).unwrap();
                let expected = format!("line1_displayname: \"{text}\"\n");
                prop_assert!(body.contains(&expected));
            }
        }
    }
}

#[test]
fn a_dial_plan_past_8_kib_is_refused_with_the_reason() {
    let mut s = support::snapshot();
    let rules = (0..200)
        .map(|i| DialRule {
            rewrite: Some(format!("{i:0>40}")),
            timeout: Some(5),
            ..DialRule::new(&format!("{i:0>40}"))
        })
        .collect();
    let plan = Object::DialPlan(DialPlan {
        name: "Huge".into(),
        rules,
    });
    assert!(
        plan.validate(&s.catalogue).is_ok(),
        "each rule is fine alone"
    );
    s.put(plan.clone());
    let e = check(&s, &plan).unwrap_err();
    assert_eq!(e.field, "rules");
    assert!(e.reason.contains("8192"), "{e}");
}

#[test]
fn values_a_phone_cannot_parse_are_refused_at_input_with_the_field() {
    let cat = Catalogue::builtin();
    let mut g = CmGroup {
        name: "G".into(),
        members: vec!["a".into(), "b".into(), "c".into(), "d".into()],
        tftp_default: false,
    };
    assert_eq!(
        Object::CmGroup(g.clone()).validate(cat).unwrap_err().field,
        "members"
    );
    g.members.truncate(3);
    assert!(Object::CmGroup(g).validate(cat).is_ok());
    let mut d = support::phone("000000008841", "8841", Protocol::Sip);
    d.lines = (0..6)
        .map(|i| support::line(&format!("10{i}"), "x"))
        .collect();
    assert_eq!(
        d.validate(cat).unwrap_err().field,
        "lines",
        "an 8841 has 5 buttons"
    );
    let mut d = support::phone("000000008841", "8841", Protocol::Sip);
    d.lines[0].auth_password = "x".repeat(32);
    assert_eq!(d.validate(cat).unwrap_err().field, "lines[0].auth_password");
    let mut d = support::phone("000000008841", "8841", Protocol::Sip);
    d.lines[0].dn = "10a1".into();
    assert_eq!(d.validate(cat).unwrap_err().field, "lines[0].dn");
    let mut d = support::phone("000000008841", "8841", Protocol::Sccp);
    d.dial_plan = None;
    d.softkeys = None;
    assert_eq!(
        d.validate(cat).unwrap_err().field,
        "protocol",
        "8841 runs SIP only"
    );
    let mut d = support::phone("000000008841", "8841", Protocol::Sip);
    d.name = "SEP000000008842".into();
    assert_eq!(d.validate(cat).unwrap_err().field, "name");
    let mut s = support::snapshot();
    let mut d = s.devices.get("SEP000000008841").unwrap().clone();
    d.security_mode = SecurityMode::Encrypted;
    let secure = Object::Device(d);
    assert!(secure.validate(cat).is_ok(), "the model holds the mode");
    s.put(secure.clone());
    // The builder builds it; whether the cluster has the keys the mode needs is the
    // database layer's check (server::security::check_mode).
    assert!(check(&s, &secure).is_ok());
    let rule = DialRule::new("[1-8]xxx");
    assert_eq!(
        rule.validate().unwrap_err().field,
        "pattern",
        "no character classes on phones"
    );
    let rule = DialRule {
        tones: vec!["Loud".into()],
        ..DialRule::new("1")
    };
    assert_eq!(rule.validate().unwrap_err().field, "tones");
    let fp = FeaturePolicy {
        name: "F".into(),
        features: [(12, true)].into(),
    };
    assert_eq!(
        fp.validate().unwrap_err().field,
        "features",
        "phones read ids 1 to 9"
    );
    let sk = SoftkeyTemplate {
        name: "S".into(),
        sets: vec![SoftkeySet {
            id: "On Hook".into(),
            keys: vec!["Redial".into(); 17],
        }],
    };
    assert_eq!(sk.validate().unwrap_err().field, "sets[0].keys");
}

#[test]
fn each_value_the_phones_parser_reads_differently_is_refused_naming_the_field() {
    let cat = Catalogue::builtin();
    let field = |o: Object| o.validate(cat).unwrap_err().field;
    // processNodeName is kept to 47 bytes; a 48-byte name loses its group member.
    let long = format!("{}.example.com", "c".repeat(36));
    assert_eq!(long.len(), 48);
    assert_eq!(
        field(Object::CallManager(CallManager::new("cm1", &long))),
        "host"
    );
    assert!(
        Object::CallManager(CallManager::new("cm1", &long[1..]))
            .validate(cat)
            .is_ok()
    );
    // A character XML 1.0 cannot carry makes the phone refuse the whole file.
    for bad in ['\u{FFFE}', '\u{FFFF}', '\u{1}'] {
        let mut d = support::phone("000000008841", "8841", Protocol::Sip);
        d.lines[0].display_name = format!("Alice{bad}");
        assert_eq!(field(Object::Device(d)), "lines[0].display_name");
    }
    // The dial-plan tokenizer decodes no entities.
    for bad in ['<', '&', '>', '\'', '"'] {
        let rule = DialRule {
            rewrite: Some(format!("9{bad}1")),
            ..DialRule::new("9,1..........")
        };
        assert_eq!(rule.validate().unwrap_err().field, "rewrite", "{bad:?}");
    }
    // One tone per rule.
    let rule = DialRule {
        tones: vec!["Bellcore-Outside".into(), "Cisco-Zip".into()],
        ..DialRule::new("9,1..........")
    };
    assert_eq!(rule.validate().unwrap_err().field, "tones");
    // Timeout is a signed 32-bit int on the phone.
    let rule = DialRule {
        timeout: Some(2_147_483_648),
        ..DialRule::new("9,1..........")
    };
    assert_eq!(rule.validate().unwrap_err().field, "timeout");
    // The same class elsewhere: integers read with atoi, empty elements skipped.
    let mut pool = DevicePool::new("P", "G", "T");
    pool.connection_monitor = u32::MAX;
    assert_eq!(field(Object::DevicePool(pool)), "connection_monitor");
    let mut d = support::phone("000000008841", "8841", Protocol::Sip);
    d.urls.idle_timeout = Some(3_000_000_000);
    assert_eq!(field(Object::Device(d)), "urls.idle_timeout");
    let mut d = support::phone("000000008841", "8841", Protocol::Sip);
    d.vendor_config.insert("pcPort".into(), String::new());
    assert_eq!(field(Object::Device(d)), "vendor_config.pcPort");
}
