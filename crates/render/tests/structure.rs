//! Every XML file built for the golden cluster, parsed with quick-xml and checked against the
//! element trees of spec cisco-tftp.md §1.2–§1.8 and the rules of Cisco's parser (§9).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use phoneboot_model::{Kind, Object, Protocol};
use phoneboot_render::{Built, MAX_DIAL_PLAN_BYTES, all, render, render_name, resolve};
use support::{Node, parse};

fn text_of(s: &phoneboot_model::Snapshot, name: &str) -> String {
    let (_, bytes) = render_name(s, name).unwrap_or_else(|| panic!("{name} not built"));
    String::from_utf8(bytes.unwrap()).unwrap()
}

/// Elements Cisco's parser reads as booleans: only the exact string `true` is true.
const BOOLEANS: &[&str] = &[
    "fullConfig",
    "allowAutoConfig",
    "dadEnable",
    "tftpDefault",
    "userModifiable",
    "isSecure",
    "registerWithProxy",
    "cnfJoinEnabled",
    "rfc2543Hold",
    "localCfwdEnable",
    "semiAttendedTransfer",
    "remoteCcEnable",
    "remotePartyID",
    "autoAnswerAltBehavior",
    "autoAnswerOverride",
    "transferOnhookEnabled",
    "enableVad",
    "callStats",
    "natEnabled",
    "natReceivedProcessing",
    "sharedLine",
    "callerName",
    "callerNumber",
    "redirectedNumber",
    "dialedNumber",
    "backgroundImageAccess",
    "encrConfig",
    "enable",
];

/// Byte limits of Cisco's parser, by element (inside sipLines and sipProxies).
const LIMITS: &[(&str, usize)] = &[
    ("name", 127),
    ("displayName", 127),
    ("contact", 127),
    ("speedDialNumber", 127),
    ("messagesNumber", 127),
    ("authName", 128),
    ("authPassword", 31),
    ("proxy", 47),
    ("backupProxy", 47),
    ("outboundProxy", 47),
    ("emergencyProxy", 47),
    ("natAddress", 47),
    ("callForwardURI", 127),
    ("externalNumberMask", 39),
];

fn check_device_tree(root: &Node, protocol: Protocol, file: &str) {
    assert_eq!(root.name, "device", "{file}");
    // The top-level order CUCM writes (spec §1.2), as far as phoneboot writes the elements.
    let mut order = vec![
        "fullConfig",
        "deviceProtocol",
        "sshUserId",
        "sshPassword",
        "ipAddressMode",
        "allowAutoConfig",
        "dadEnable",
        "ipPreferenceModeControl",
        "devicePool",
    ];
    if protocol == Protocol::Sip {
        order.extend(["sipProfile", "featurePolicyFile", "MissedCallLoggingOption"]);
    }
    order.extend(["commonProfile", "loadInformation"]);
    let names = root.names();
    let got: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| *n != "vendorConfig")
        .collect();
    assert_eq!(&got[..order.len()], &order[..], "{file}: top-level order");
    let rest = [
        "versionStamp",
        "userLocale",
        "networkLocale",
        "networkLocaleInfo",
        "deviceSecurityMode",
        "authenticationURL",
        "directoryURL",
        "idleURL",
        "informationURL",
        "messagesURL",
        "proxyServerURL",
        "servicesURL",
        "idleTimeout",
        "dscpForSCCPPhoneConfig",
        "dscpForSCCPPhoneServices",
        "dscpForCm2Dvce",
        "transportLayerProtocol",
        "capfAuthMode",
        "certHash",
        "encrConfig",
        "userId",
        "ownerId",
    ];
    assert_eq!(
        &got[order.len()..],
        &rest[..],
        "{file}: top-level order after the load"
    );
    assert_eq!(root.text_at("deviceProtocol"), protocol.to_string());
    let pool = root.child("devicePool").unwrap();
    assert_eq!(
        pool.names(),
        [
            "revertPriority",
            "name",
            "dateTimeSetting",
            "callManagerGroup",
            "srstInfo",
            "connectionMonitorDuration"
        ],
        "{file}"
    );
    let dt = pool.child("dateTimeSetting").unwrap();
    assert_eq!(dt.names(), ["name", "dateTemplate", "timeZone", "ntps"]);
    let members = pool.at("callManagerGroup/members").unwrap();
    assert!(
        (1..=3).contains(&members.children.len()),
        "{file}: 1 to 3 call managers"
    );
    for (i, m) in members.children.iter().enumerate() {
        assert_eq!(m.name, "member");
        assert_eq!(
            m.attr("priority"),
            Some(i.to_string().as_str()),
            "{file}: priority 0 first"
        );
        let cm = m.child("callManager").unwrap();
        assert_eq!(
            cm.names(),
            ["name", "description", "ports", "processNodeName"]
        );
        assert_eq!(
            cm.at("ports").unwrap().names(),
            ["ethernetPhonePort", "sipPort", "securedSipPort"]
        );
        assert!(!cm.text_at("processNodeName").is_empty());
        assert!(cm.text_at("processNodeName").len() <= 50);
    }
    for url in [
        "authenticationURL",
        "directoryURL",
        "servicesURL",
        "informationURL",
    ] {
        assert!(root.text_at(url).len() <= 255);
    }
    let stamp = root.text_at("versionStamp");
    assert!(
        stamp.len() > 2 && stamp.len() <= 64,
        "{file}: versionStamp {stamp:?}"
    );
    if protocol == Protocol::Sip {
        let profile = root.child("sipProfile").unwrap();
        let lines = profile.child("sipLines").unwrap();
        assert!(
            !lines.children.is_empty(),
            "{file}: a SIP phone needs a line"
        );
        let first = &lines.children[0];
        assert_eq!(first.text_at("featureID"), "9");
        assert!(
            !first.text_at("name").is_empty(),
            "{file}: empty <name> crashes the phone"
        );
        assert!(
            !first.text_at("proxy").is_empty(),
            "{file}: empty <proxy> crashes the phone"
        );
        assert!(!first.text_at("port").is_empty());
        for line in &lines.children {
            let button: u32 = line
                .attr("button")
                .expect("every line has a button")
                .parse()
                .unwrap();
            assert!((1..=36).contains(&button), "{file}: button {button}");
        }
        let codec = profile.text_at("preferredCodec");
        assert!(
            [
                "g711ulaw", "g711alaw", "g729a", "L16", "CiscoWb", "g722", "iLBC", "iSAC", "none"
            ]
            .contains(&codec.as_str())
        );
        assert!(["none", "avt", "avt_always"].contains(&profile.text_at("dtmfOutofBand").as_str()));
        assert!(["none", "phone", "ip"].contains(&profile.text_at("sipStack/userInfo").as_str()));
    } else {
        assert!(
            root.child("sipProfile").is_none(),
            "{file}: SCCP lines come over signalling"
        );
    }
}

fn check_parser_rules(root: &Node, file: &str) {
    let mut all = Vec::new();
    root.walk(&mut all);
    for node in all {
        if BOOLEANS.contains(&node.name.as_str()) {
            assert!(
                node.text == "true" || node.text == "false",
                "{file}: <{}>{}",
                node.name,
                node.text
            );
        }
        if let Some((_, max)) = LIMITS.iter().find(|(n, _)| *n == node.name) {
            assert!(
                node.text.len() <= *max,
                "{file}: <{}> longer than {max}",
                node.name
            );
        }
    }
}

#[test]
fn device_files_have_cucms_element_tree_and_keep_the_parser_rules() {
    let s = support::snapshot();
    let mut checked = 0;
    for file in all(&s) {
        let (protocol, name) = match &file {
            Built::SepXml(mac) => (s.device_by_mac(*mac).unwrap().protocol, file.to_string()),
            Built::DeviceXml(n) | Built::TabletXml(n) => {
                (s.devices.get(n).unwrap().protocol, file.to_string())
            }
            _ => continue,
        };
        let text = String::from_utf8(render(&s, &file).unwrap().unwrap()).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<device>\n"));
        let root = parse(&text);
        check_device_tree(&root, protocol, &name);
        check_parser_rules(&root, &name);
        checked += 1;
    }
    assert!(checked >= 12, "{checked}");
}

#[test]
fn xml_default_lists_the_default_group_and_every_xml_models_load() {
    let s = support::snapshot();
    let root = parse(&text_of(&s, "xmldefault.CNF.xml"));
    assert_eq!(root.name, "Default");
    let members = root.at("callManagerGroup/members").unwrap();
    assert_eq!(members.children.len(), 2);
    assert_eq!(
        members.children[0].text_at("callManager/processNodeName"),
        "192.0.2.11"
    );
    let load = root.child("loadInformation683").expect("8841 is code 683");
    assert_eq!(load.attr("model"), Some("Cisco 8841"));
    assert_eq!(load.text, "sip88xx.14-2-1-0001-14");
    assert_eq!(
        root.text_at("loadInformation115"),
        "SCCP41.9-4-2SR3-1S",
        "SCCP auto-registration"
    );
    assert!(
        root.child("loadInformation9").is_none(),
        "7935 has no XML load"
    );
    assert_eq!(
        root.text_at("directoryURL"),
        "http://192.0.2.11:8080/ccmcip/xmldirectory.jsp"
    );
}

#[test]
fn dial_plans_carry_only_the_attributes_phones_accept() {
    let s = support::snapshot();
    for name in ["DRStandard.xml", "Standard.xml"] {
        let text = text_of(&s, name);
        assert!(text.len() < MAX_DIAL_PLAN_BYTES);
        let root = parse(&text);
        assert_eq!(root.name, "DIALTEMPLATE");
        assert!(root.text_at("versionStamp").len() > 2);
        let rules: Vec<&Node> = root
            .children
            .iter()
            .filter(|c| c.name == "TEMPLATE")
            .collect();
        assert_eq!(rules.len(), 3);
        for rule in &rules {
            for (k, _) in &rule.attrs {
                assert!(
                    [
                        "MATCH", "Timeout", "User", "Rewrite", "Line", "Route", "Tone"
                    ]
                    .contains(&k.as_str()),
                    "{k}"
                );
            }
        }
        assert_eq!(
            rules[1].attr("Tone"),
            Some("Bellcore-Outside"),
            "one tone per rule"
        );
        assert_eq!(rules[1].attr("Route"), Some("Emergency"));
        assert!(
            text.contains("MATCH=\"9,911\""),
            "attribute values in double quotes"
        );
    }
}

#[test]
fn softkeys_and_feature_policy_follow_their_schemas() {
    let s = support::snapshot();
    let sk = parse(&text_of(&s, "SKStandard.xml"));
    assert_eq!(sk.names(), ["versionStamp", "typeSoftKey", "softKeySets"]);
    let defs = sk.child("typeSoftKey").unwrap();
    assert_eq!(
        defs.children.len(),
        3,
        "Redial, NewCall, Answer defined once each"
    );
    let redial = &defs.children[0];
    assert_eq!(
        (
            redial.attr("keyID"),
            redial.text_at("tag"),
            redial.text_at("helpID")
        ),
        (Some("Redial"), "1".into(), "301".into())
    );
    let sets = sk.child("softKeySets").unwrap();
    assert_eq!(sets.children[0].attr("id"), Some("On Hook"));
    assert!(sets.children.iter().all(|set| set.children.len() <= 16));
    let fp = parse(&text_of(&s, "FPDefault.xml"));
    assert_eq!(fp.attr("name"), Some("Default"));
    let defs: Vec<&Node> = fp
        .children
        .iter()
        .filter(|c| c.name == "featureDef")
        .collect();
    assert!(defs.len() <= 9);
    assert_eq!(defs[1].text_at("id"), "8");
    assert_eq!(defs[1].text_at("enable"), "false");
}

#[test]
fn text_formats_for_7940_sip_and_7905_profiles() {
    let s = support::snapshot();
    let sip = text_of(&s, "sip000000007960.CNF");
    for line in sip.lines().filter(|l| !l.starts_with('#')) {
        let (key, value) = line.split_once(": ").unwrap_or_else(|| panic!("{line:?}"));
        assert!(
            key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{key}"
        );
        assert!(!value.is_empty());
    }
    assert!(sip.contains("line1_name: \"1001\"\n"));
    assert!(sip.contains("proxy2_address: \"cm2.example.com\"\n"));
    assert!(sip.contains("dial_template: \"Standard\"\n"));
    let ld = text_of(&s, "LD000000007905");
    assert!(ld.starts_with("#txt\n"), "{ld}");
    let gk = text_of(&s, "gk000000079120");
    assert!(
        gk.contains("UID:1001\n") && gk.contains("Proxy:192.0.2.11\n"),
        "{gk}"
    );
    let default = text_of(&s, "SIPDefault.cnf");
    assert!(default.contains("proxy1_address: \"192.0.2.11\"\n"));
}

#[test]
fn legacy_cnf_holds_the_primary_call_manager_in_the_documented_layout() {
    let s = support::snapshot();
    let (_, bytes) = render_name(&s, "SEP000000007935.cnf").unwrap();
    let bytes = bytes.unwrap();
    assert_eq!(&bytes[..5], &[0x01, 0x01, 0x00, 0x01, 0x02]);
    assert_eq!(&bytes[5..9], &[192, 0, 2, 11]);
    assert_eq!(
        &bytes[9..15],
        &[0x01, 0x03, 0xd0, 0x07, 0x00, 0x00],
        "2000, little-endian"
    );
    assert_eq!(bytes.last(), Some(&0xff));
    // Build Selective: an XML phone gets none; Build All: every device does; None: nobody.
    assert!(resolve(&s, "SEP000000008841.cnf").is_none());
    let mut all_mode = s.clone();
    let mut params = (*s.params).clone();
    params.build_cnf = phoneboot_model::BuildCnf::All;
    all_mode.put(Object::Params(params.clone()));
    assert!(resolve(&all_mode, "SEP000000008841.cnf").is_some());
    params.build_cnf = phoneboot_model::BuildCnf::None;
    all_mode.put(Object::Params(params));
    assert!(resolve(&all_mode, "SEP000000008841.cnf").is_none());
    assert!(
        resolve(&all_mode, "SEP000000007935.cnf").is_some(),
        "a non-XML load needs its .cnf"
    );
}

#[test]
fn names_resolve_case_insensitively_and_only_for_files_a_device_gets() {
    let s = support::snapshot();
    assert!(resolve(&s, "sep000000008841.CNF.XML").is_some());
    assert!(
        resolve(&s, "SEP000000007960.cnf.xml").is_none(),
        "7960 SIP gets SIP<MAC>.cnf"
    );
    assert!(
        resolve(&s, "SIP000000079600.cnf").is_none(),
        "7960 SCCP gets SEP<MAC>.cnf.xml"
    );
    assert!(
        resolve(&s, "SEPFFFFFFFFFFFF.cnf.xml").is_none(),
        "unknown phone: the disk decides"
    );
    assert!(
        resolve(&s, "gk000000007905").is_none(),
        "7905 asks ld, not gk"
    );
    assert!(resolve(&s, "alice-icm.cnf.xml").is_some());
    assert!(resolve(&s, "sub/SEP000000008841.cnf.xml").is_none());
    assert!(resolve(&s, "RingList.xml").is_none());
    assert!(resolve(&s, "DRNope.xml").is_none());
}

#[test]
fn version_stamp_changes_exactly_when_the_content_does() {
    let s = support::snapshot();
    let stamp = |s: &phoneboot_model::Snapshot, name: &str| {
        parse(&text_of(s, name)).text_at("versionStamp")
    };
    let before = stamp(&s, "SEP000000008841.cnf.xml");
    assert_eq!(
        before,
        stamp(&s, "SEP000000008841.cnf.xml"),
        "same content, same stamp"
    );
    // Another device's change leaves this file alone.
    let mut other = s.clone();
    let mut d = s.devices.get("SEP000000007821").unwrap().clone();
    d.description = "changed".into();
    other.put(Object::Device(d));
    assert_eq!(before, stamp(&other, "SEP000000008841.cnf.xml"));
    // Its own change moves it.
    let mut mine = s.clone();
    let mut d = s.devices.get("SEP000000008841").unwrap().clone();
    d.lines[0].display_name = "Alicia".into();
    mine.put(Object::Device(d));
    assert_ne!(before, stamp(&mine, "SEP000000008841.cnf.xml"));
    // So does a change of something it contains: its call manager's host.
    let mut cm_changed = s.clone();
    let mut cm = s.call_managers.get("cm2").unwrap().clone();
    cm.host = "192.0.2.99".into();
    cm_changed.put(Object::CallManager(cm));
    assert_ne!(before, stamp(&cm_changed, "SEP000000008841.cnf.xml"));
}

#[test]
fn extension_mobility_login_puts_the_users_profile_on_the_phone_and_logout_restores_it() {
    let s = support::snapshot();
    let lines = |s: &phoneboot_model::Snapshot| {
        let root = parse(&text_of(s, "SEP000000008841.cnf.xml"));
        let profile = root.child("sipProfile").unwrap();
        let names: Vec<String> = profile
            .child("sipLines")
            .unwrap()
            .children
            .iter()
            .filter(|l| l.text_at("featureID") == "9")
            .map(|l| l.text_at("name"))
            .collect();
        (
            names,
            profile.text_at("dialTemplate"),
            root.text_at("userId"),
        )
    };
    let own = lines(&s);
    assert_eq!(own.0, ["1001"]);
    let mut logged_in = s.clone();
    let mut d = s.devices.get("SEP000000008841").unwrap().clone();
    d.em_user = Some("alice".into());
    logged_in.put(Object::Device(d.clone()));
    assert_eq!(
        lines(&logged_in),
        (
            vec!["2001".to_string()],
            "DRMobile.xml".to_string(),
            "alice".to_string()
        )
    );
    d.em_user = None;
    logged_in.put(Object::Device(d));
    assert_eq!(lines(&logged_in), own);
    let _ = Kind::User;
}
