//! An indented XML writer that escapes every value.
//!
//! Indentation is not cosmetic: Cisco's parser skips an element whose text-node list is
//! empty, so in minified XML the containers (`<sipLines>`, `<members>`, …) vanish and a phone
//! boots with no lines or call managers (spec cisco-tftp.md §9). Every container therefore
//! gets a newline and indentation inside it, as CUCM writes it.
//!
//! Escaping is XML escaping (`&amp; &lt; &gt; &quot; &apos;`, by quick-xml), not HTML
//! escaping: no `&#x2f;` for `/`, which a phone would show literally.

use quick_xml::escape::{escape, partial_escape};

/// Where the version stamp goes until the content is known (see [`crate::stamp`]).
pub(crate) const STAMP_MARK: &str = "\u{0}versionStamp\u{0}";

#[derive(Debug)]
pub(crate) struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    /// A document with the XML declaration.
    pub(crate) fn document() -> Self {
        let mut out = String::with_capacity(4096);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        Self { out, depth: 0 }
    }

    /// A document without a declaration (CUCM writes some files that way).
    pub(crate) fn bare() -> Self {
        Self {
            out: String::with_capacity(4096),
            depth: 0,
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            self.out.push_str(&escape(*value));
            self.out.push('"');
        }
    }

    /// `<name attrs>` and a new line; the content that follows is indented.
    pub(crate) fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start_tag(name, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
        self
    }

    pub(crate) fn close(&mut self, name: &str) -> &mut Self {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
        self
    }

    /// `<name>text</name>`.
    pub(crate) fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.leaf_with(name, &[], text)
    }

    pub(crate) fn leaf_with(
        &mut self,
        name: &str,
        attrs: &[(&str, &str)],
        text: &str,
    ) -> &mut Self {
        self.start_tag(name, attrs);
        self.out.push('>');
        // Text needs only `<`, `>` and `&` escaped; quotes stay as they are.
        self.out.push_str(&partial_escape(text));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
        self
    }

    /// A number or other value whose text needs no escaping.
    pub(crate) fn num(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        self.leaf(name, &value.to_string())
    }

    /// Booleans as the exact strings Cisco's parser reads (`true`; anything else is false).
    pub(crate) fn bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.leaf(name, if value { "true" } else { "false" })
    }

    /// `<name attrs/>`.
    pub(crate) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start_tag(name, attrs);
        self.out.push_str("/>\n");
        self
    }

    /// The version stamp's place; filled in by [`crate::stamp::seal`].
    pub(crate) fn stamp(&mut self) -> &mut Self {
        self.indent();
        self.out.push_str("<versionStamp>");
        self.out.push_str(STAMP_MARK);
        self.out.push_str("</versionStamp>\n");
        self
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_xml_escaped_not_html_escaped() {
        let mut x = Xml::bare();
        x.open("a", &[("q", "\"'<&>/")])
            .leaf("b", "x < y & ]]> 'z' / \"w\"")
            .close("a");
        let text = x.finish();
        assert!(!text.contains("&#x2f;"), "{text}");
        assert!(
            text.contains("<b>x &lt; y &amp; ]]&gt; 'z' / \"w\"</b>"),
            "{text}"
        );
        assert!(text.contains("q=\"&quot;&apos;&lt;&amp;&gt;/\""), "{text}");
    }

    #[test]
    fn containers_are_indented_so_phones_see_their_children() {
        let mut x = Xml::bare();
        x.open("sipLines", &[])
            .open("line", &[("button", "1")])
            .num("featureID", 9);
        x.close("line").close("sipLines");
        assert_eq!(
            x.finish(),
            "<sipLines>\n  <line button=\"1\">\n    <featureID>9</featureID>\n  </line>\n</sipLines>\n"
        );
    }
}
