//! How a Cisco phone's own parser (SIPCC, spec §9) reads the files, as far as the tests need
//! it: a second reader, written from the spec's facts and not from our writer, so that a
//! value is proven to reach the phone as meant and not only to be well-formed XML.

/// libxml2 refuses the whole file for one character outside XML 1.0's `Char`.
pub fn accepts_xml(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(u32::from(c), 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10_FFFF)
    })
}

/// C's `atoi` into a 32-bit `int`: leading digits, wrapping past `i32::MAX` (what the phone
/// stores for an integer element).
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)] // the C conversion
pub fn atoi(text: &str) -> i32 {
    let digits: String = text
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let wide: u64 = digits.parse().unwrap_or(0);
    // Two's complement, as the C conversion does on the phone.
    wide as u32 as i32
}

/// `processNodeName`: read into 48 bytes; a longer name is dropped with its member.
pub fn process_node_name(text: &str) -> Option<&str> {
    (text.len() <= 47).then_some(text)
}

/// The tone names the dial-plan parser knows (spec §1.7).
const TONES: &[&str] = phoneboot_model::TONES;

/// A dial plan as the phone's tokenizer reads it: each `<TEMPLATE .../>` as (attribute, raw
/// value) pairs — no XML entity is decoded, values are cut at 63 characters — or `None`
/// when the phone refuses the plan (one bad template drops it whole).
pub fn dial_plan(text: &str) -> Option<Vec<Vec<(String, String)>>> {
    if text.len() >= 8192 {
        return None;
    }
    let mut templates = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("<TEMPLATE") {
        let body = &rest[at + "<TEMPLATE".len()..];
        let end = body.find("/>")?;
        let mut attrs = Vec::new();
        let mut inner = body[..end].trim();
        while !inner.is_empty() {
            let (name, after) = inner.split_once("=\"")?;
            let (value, after) = after.split_once('"')?;
            let name = name.trim().to_owned();
            let allowed = [
                "MATCH", "LINE", "TIMEOUT", "USER", "REWRITE", "ROUTE", "TONE",
            ];
            if !allowed.contains(&name.to_ascii_uppercase().as_str()) {
                return None;
            }
            let value: String = value.chars().take(63).collect();
            match name.to_ascii_uppercase().as_str() {
                "TIMEOUT" if atoi(&value) < 0 => return None,
                "TONE" if !TONES.contains(&value.as_str()) => return None,
                "USER" if !["Phone", "IP"].contains(&value.as_str()) => return None,
                _ => {}
            }
            attrs.push((name, value));
            inner = after.trim();
        }
        templates.push(attrs);
        rest = &body[end..];
    }
    Some(templates)
}
