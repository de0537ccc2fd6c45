//! Shared by the render tests: a cluster with one device of every family, and a small XML
//! tree read with quick-xml (an independent parser, not our writer).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use phoneboot_model::*;
use quick_xml::events::Event;

pub mod phone;

pub fn mac(text: &str) -> Mac {
    text.parse().unwrap()
}

pub fn line(dn: &str, name: &str) -> Line {
    Line {
        dn: dn.into(),
        label: format!("{name} {dn}"),
        display_name: name.into(),
        auth_name: name.to_lowercase(),
        auth_password: "s3cret".into(),
        voicemail: "8000".into(),
    }
}

/// A phone of `model` and `protocol` named by `mac`, with one line and one speed dial.
pub fn phone(mac_text: &str, model: &str, protocol: Protocol) -> Device {
    let mut d = Device::phone(mac(mac_text), model, protocol, "HQ");
    d.description = format!("{model} {protocol}");
    d.lines = vec![line("1001", "Alice")];
    if Catalogue::builtin().get(model).unwrap().buttons > 1 {
        d.speed_dials = vec![SpeedDial {
            number: "1002".into(),
            label: "Bob".into(),
        }];
    }
    if protocol == Protocol::Sip {
        d.dial_plan = Some("Standard".into());
        d.softkeys = Some("Standard".into());
    }
    d
}

/// The devices of the golden set: (device, the files it gets).
pub fn devices() -> Vec<Device> {
    let mut list = vec![
        phone("000000008841", "8841", Protocol::Sip),
        phone("000000007821", "7821", Protocol::Sip),
        phone("000000009971", "9971", Protocol::Sip),
        phone("000000007941", "7941", Protocol::Sccp),
        phone("000000079411", "7941", Protocol::Sip),
        phone("000000007975", "7975", Protocol::Sccp),
        phone("000000001000", "TP1000", Protocol::Sip),
        phone("000000007960", "7960", Protocol::Sip),
        phone("000000079600", "7960", Protocol::Sccp),
        phone("000000007905", "7905", Protocol::Sccp),
        phone("000000079120", "7912", Protocol::Sip),
        phone("000000007935", "7935", Protocol::Sccp),
    ];
    let mut fp = phone("000000008961", "8961", Protocol::Sip);
    fp.feature_policy = Some("Default".into());
    fp.vendor_config = BTreeMap::from([
        ("pcPort".into(), "0".into()),
        ("webAccess".into(), "1".into()),
    ]);
    list.push(fp);
    let mut icm = phone("00000000C1C1", "IPCommunicator", Protocol::Sccp);
    icm.name = "ALICE-ICM".into();
    list.push(icm);
    let mut tab = phone("00000000AB1E", "JabberTablet", Protocol::Sip);
    tab.name = "TABALICE".into();
    tab.owner = Some("alice".into());
    tab.dial_plan = None;
    list.push(tab);
    list
}

pub fn objects() -> Vec<Object> {
    let mut cm2 = CallManager::new("cm2", "cm2.example.com");
    cm2.description = "backup".into();
    let mut objects = vec![
        Object::Params(Params {
            urls: Urls {
                directory: Some("http://192.0.2.11:8080/ccmcip/xmldirectory.jsp".into()),
                services: Some("http://192.0.2.11:8080/ccmcip/getservicesmenu.jsp".into()),
                ..Urls::default()
            },
            ..Params::default()
        }),
        Object::CallManager(CallManager::new("cm1", "192.0.2.11")),
        Object::CallManager(cm2),
        Object::CmGroup(CmGroup {
            name: "G1".into(),
            members: vec!["cm1".into(), "cm2".into()],
            tftp_default: true,
        }),
        Object::DateTimeGroup(DateTimeGroup {
            name: "CET".into(),
            date_template: "D.M.Y".into(),
            time_zone: "W. Europe Standard/Daylight Time".into(),
            ntp: vec!["192.0.2.10".into()],
        }),
        Object::DevicePool(DevicePool::new("HQ", "G1", "CET")),
        Object::DialPlan(DialPlan {
            name: "Standard".into(),
            rules: vec![
                DialRule {
                    timeout: Some(0),
                    user: Some(RuleUser::Phone),
                    ..DialRule::new("1...")
                },
                DialRule {
                    route: Some(Route::Emergency),
                    tones: vec!["Bellcore-Outside".into()],
                    rewrite: Some("%s".into()),
                    line: Some(1),
                    ..DialRule::new("9,911")
                },
                DialRule {
                    timeout: Some(10),
                    ..DialRule::new("*")
                },
            ],
        }),
        Object::Softkeys(SoftkeyTemplate {
            name: "Standard".into(),
            sets: vec![
                SoftkeySet {
                    id: "On Hook".into(),
                    keys: vec!["Redial".into(), "NewCall".into()],
                },
                SoftkeySet {
                    id: "Ring In".into(),
                    keys: vec!["Answer".into()],
                },
            ],
        }),
        Object::FeaturePolicy(FeaturePolicy {
            name: "Default".into(),
            features: BTreeMap::from([(1, true), (8, false)]),
        }),
        Object::User(User {
            id: "alice".into(),
            name: "Alice".into(),
            profile: Some(MobilityProfile {
                lines: vec![line("2001", "Alice Mobile")],
                speed_dials: vec![],
                dial_plan: Some("Mobile".into()),
            }),
        }),
        Object::DialPlan(DialPlan {
            name: "Mobile".into(),
            rules: vec![DialRule::new("2...")],
        }),
    ];
    objects.extend(devices().into_iter().map(Object::Device));
    objects
}

pub fn snapshot() -> Snapshot {
    let mut s = Snapshot::new(Arc::new(Catalogue::builtin().clone()));
    for o in objects() {
        o.validate(&s.catalogue)
            .unwrap_or_else(|e| panic!("{} {}: {e}", o.kind(), o.key()));
        s.put(o);
    }
    s
}

/// An element with its attributes, text and children.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text at a path of child names, e.g. `devicePool/name`.
    pub fn at(&self, path: &str) -> Option<&Node> {
        path.split('/').try_fold(self, |n, part| n.child(part))
    }

    pub fn text_at(&self, path: &str) -> String {
        self.at(path)
            .unwrap_or_else(|| panic!("no {path} under <{}>", self.name))
            .text
            .clone()
    }

    /// The texts of every element at a path, where several children share a name (the
    /// members of a group).
    pub fn texts_at(&self, path: &str) -> Vec<String> {
        match path.split_once('/') {
            None => self
                .children
                .iter()
                .filter(|c| c.name == path)
                .map(|c| c.text.clone())
                .collect(),
            Some((first, rest)) => self
                .children
                .iter()
                .filter(|c| c.name == first)
                .flat_map(|c| c.texts_at(rest))
                .collect(),
        }
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }

    pub fn walk<'a>(&'a self, out: &mut Vec<&'a Node>) {
        out.push(self);
        for c in &self.children {
            c.walk(out);
        }
    }
}

fn entity(name: &str) -> String {
    match name {
        "amp" => "&".into(),
        "lt" => "<".into(),
        "gt" => ">".into(),
        "quot" => "\"".into(),
        "apos" => "'".into(),
        other => {
            let code = other
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| other.strip_prefix('#').map(str::parse))
                .unwrap_or_else(|| panic!("unknown entity &{other};"))
                .unwrap();
            char::from_u32(code).unwrap().to_string()
        }
    }
}

/// Parses a whole document with quick-xml; panics (failing the test) on anything malformed.
/// Also checks the indentation rule: every element with children has a newline before its
/// first child (minified containers are skipped by Cisco's parser).
pub fn parse(text: &str) -> Node {
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Node> = vec![Node::default()];
    let mut whitespace_before_child: Vec<bool> = vec![true];
    loop {
        let event = reader.read_event().unwrap_or_else(|e| {
            panic!(
                "not well-formed at {}: {e}\n{text}",
                reader.buffer_position()
            )
        });
        match event {
            Event::Start(e) => {
                let node = element(&e);
                stack.push(node);
                whitespace_before_child.push(false);
            }
            Event::Empty(e) => {
                let node = element(&e);
                stack.last_mut().unwrap().children.push(node);
            }
            Event::End(_) => {
                let mut node = stack.pop().unwrap();
                if !node.children.is_empty() {
                    assert!(
                        node.text.trim().is_empty(),
                        "mixed content in <{}>",
                        node.name
                    );
                    node.text.clear();
                }
                let had_ws = whitespace_before_child.pop().unwrap();
                assert!(
                    node.children.is_empty() || had_ws,
                    "<{}> has children but no newline inside: Cisco's parser would skip it",
                    node.name
                );
                stack.last_mut().unwrap().children.push(node);
            }
            Event::Text(t) => {
                let s = t.decode().unwrap().into_owned();
                let top = stack.last_mut().unwrap();
                if top.children.is_empty() && s.contains('\n') {
                    *whitespace_before_child.last_mut().unwrap() = true;
                }
                top.text.push_str(&s);
            }
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap().into_owned();
                stack.last_mut().unwrap().text.push_str(&entity(&name));
            }
            Event::CData(_) => panic!("no CDATA expected"),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    let mut root = stack.pop().unwrap();
    assert_eq!(root.children.len(), 1, "one root element");
    root.children.pop().unwrap()
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Node {
    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
    let attrs = e
        .attributes()
        .map(|a| {
            let a = a.unwrap();
            (
                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                a.unescape_value().unwrap().into_owned(),
            )
        })
        .collect();
    Node {
        name,
        attrs,
        ..Node::default()
    }
}
