//! What the emulated phone reads from the files it got (XML elements, SIP key values), and the boot family each model follows.

use super::*;

#[test]
fn xml_text_finds_elements_with_attributes_and_skips_empty_ones() {
    let xml = "<device><loadInformation model=\"x\">SIP78xx.14-2-1</loadInformation>\n<dialTemplate/>\n<softKeyFile> SKdefault.xml </softKeyFile></device>";
    assert_eq!(
        xml_text(xml, "loadInformation").as_deref(),
        Some("SIP78xx.14-2-1")
    );
    assert_eq!(xml_text(xml, "dialTemplate"), None);
    assert_eq!(
        xml_text(xml, "softKeyFile").as_deref(),
        Some("SKdefault.xml")
    );
    assert_eq!(xml_text(xml, "missing"), None);
    let escaped = "<device>\n  <softKeyFile>SKa&amp;b.xml</softKeyFile>\n</device>";
    assert_eq!(
        xml_text(escaped, "softKeyFile").as_deref(),
        Some("SKa&b.xml")
    );
    assert_eq!(
        xml_text("<device><softKeyFile>x", "softKeyFile"),
        None,
        "cut short"
    );
}

#[test]
fn key_values_of_sip_cnf_files() {
    let text =
        "# SIPDefault.cnf\nimage_version: \"P0S3-8-12-00\" # comment\nproxy1_address: 10.0.0.1\n";
    assert_eq!(
        key_value(text, "image_version").as_deref(),
        Some("P0S3-8-12-00")
    );
    assert_eq!(key_value(text, "absent"), None);
}

#[test]
fn families_follow_the_model() {
    assert_eq!(Family::of_model("CP-7960G", true), Family::Sip79x0);
    assert_eq!(Family::of_model("7960", false), Family::Xml);
    assert_eq!(
        Family::of_model("7912", false),
        Family::Small {
            profile: Profile::Gk
        }
    );
    assert_eq!(Family::of_model("CP-8845", true), Family::Xml);
}
