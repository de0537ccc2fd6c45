//! Arbitrary text in every text field: either the model refuses it at input, naming the
//! field, or every file it lands in is well-formed and reads back exactly that text.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use phoneboot_model::*;
use phoneboot_render::{check, render_name};
use proptest::prelude::*;
use support::parse;

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
                let has_control = text.chars().any(char::is_control);
                // Control characters, over-long values, and blanks where a value is required.
                prop_assert!(has_control || text.len() > 24 || text.trim().is_empty(), "refused {text:?}: {e}");
            }
            Ok(()) => {
                s.put(object.clone());
                prop_assert!(check(&s, &object).is_ok(), "{:?}", check(&s, &object));
                let (_, bytes) = render_name(&s, "SEP000000008841.cnf.xml").unwrap();
                let xml = String::from_utf8(bytes.unwrap()).unwrap();
                let root = parse(&xml);
                // An empty label shows the directory number instead.
                let want = if text.is_empty() && field.name == "lines[0].label" { "1001".into() } else { text };
                prop_assert_eq!(root.text_at(field.path), want);
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
    assert_eq!(
        check(&s, &secure).unwrap_err().field,
        "security_mode",
        "the builder cannot serve it"
    );
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
