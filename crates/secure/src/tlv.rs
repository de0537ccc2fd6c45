//! The tag-length-value encoding of Cisco's trust lists and signed files (spec §1.9): a
//! one-byte tag, a two-byte big-endian length, the value. A container's value is more
//! elements. The one exception is the header's padding tag, a single byte with no length.

use std::ops::Range;

use crate::Error;

/// The header's padding tag: one byte, no length.
pub(crate) const PAD: u8 = 13;

/// Writes elements into a growing buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// One element. A value longer than 65,535 bytes cannot be spelled: callers bound
    /// what they write (names, keys and certificates) before they get here.
    pub(crate) fn put(&mut self, tag: u8, value: &[u8]) -> Result<(), Error> {
        let len = u16::try_from(value.len()).map_err(|_| Error::TooLong {
            what: "a field of a trust list or signed file",
            len: value.len(),
        })?;
        self.buf.push(tag);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(value);
        Ok(())
    }

    pub(crate) fn u8(&mut self, tag: u8, value: u8) -> Result<(), Error> {
        self.put(tag, &[value])
    }

    pub(crate) fn u16(&mut self, tag: u8, value: u16) -> Result<(), Error> {
        self.put(tag, &value.to_be_bytes())
    }

    pub(crate) fn u32(&mut self, tag: u8, value: u32) -> Result<(), Error> {
        self.put(tag, &value.to_be_bytes())
    }

    /// A NUL-terminated string (names, file names).
    pub(crate) fn text(&mut self, tag: u8, value: &str) -> Result<(), Error> {
        let mut bytes = Vec::with_capacity(value.len() + 1);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
        self.put(tag, &bytes)
    }

    /// A container: its elements are written by `inner`.
    pub(crate) fn nested(
        &mut self,
        tag: u8,
        inner: impl FnOnce(&mut Writer) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut w = Writer::default();
        inner(&mut w)?;
        self.put(tag, &w.buf)
    }

    pub(crate) fn pad(&mut self) {
        self.buf.push(PAD);
    }

    /// Overwrites a two-byte value written earlier (a length known only at the end).
    pub(crate) fn patch_u16(&mut self, value_at: usize, value: u16) {
        self.buf[value_at..value_at + 2].copy_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

/// One element read back: its tag, its value and where the whole element lies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    /// The element's bytes, tag to end of value, in the buffer it was read from.
    pub span: (usize, usize),
}

impl Element<'_> {
    pub(crate) fn span(&self) -> Range<usize> {
        self.span.0..self.span.1
    }

    pub(crate) fn u8(&self, what: &'static str) -> Result<u8, Error> {
        match self.value {
            [v] => Ok(*v),
            _ => Err(Error::malformed(what, "is not one byte")),
        }
    }

    pub(crate) fn u16(&self, what: &'static str) -> Result<u16, Error> {
        match self.value {
            [a, b] => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err(Error::malformed(what, "is not two bytes")),
        }
    }

    pub(crate) fn u32(&self, what: &'static str) -> Result<u32, Error> {
        <[u8; 4]>::try_from(self.value)
            .map(u32::from_be_bytes)
            .map_err(|_| Error::malformed(what, "is not four bytes"))
    }

    /// A NUL-terminated string; the NUL is dropped, invalid UTF-8 replaced.
    pub(crate) fn text(&self) -> String {
        let bytes = self.value.strip_suffix(&[0]).unwrap_or(self.value);
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Reads elements from `bytes[start..end]`; total: a truncated element is an error, never a
/// panic (these bytes come from the network when a phone reads them).
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
    /// Whether tag 13 is the one-byte padding (in a header) or an ordinary element.
    padding: bool,
}

impl<'a> Reader<'a> {
    /// A header's elements, from `start` up to `end` (padding allowed).
    pub(crate) fn header(bytes: &'a [u8], start: usize, end: usize) -> Self {
        Self {
            bytes,
            pos: start,
            end: end.min(bytes.len()),
            padding: true,
        }
    }

    /// The elements inside a container's value (offsets stay those of `outer`).
    pub(crate) fn inside(outer: &'a [u8], element: &Element<'_>) -> Self {
        Self {
            bytes: outer,
            pos: element.span.1 - element.value.len(),
            end: element.span.1,
            padding: false,
        }
    }

    pub(crate) fn records(bytes: &'a [u8], start: usize, end: usize) -> Self {
        Self {
            bytes,
            pos: start,
            end: end.min(bytes.len()),
            padding: false,
        }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Element<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        let start = self.pos;
        let tag = self.bytes[start];
        if self.padding && tag == PAD {
            self.pos += 1;
            return Some(Ok(Element {
                tag,
                value: &[],
                span: (start, start + 1),
            }));
        }
        let Some(len) = self.bytes.get(start + 1..start + 3) else {
            self.pos = self.end;
            return Some(Err(Error::malformed(
                "an element",
                "is cut off in its length",
            )));
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let value_end = start + 3 + len;
        if value_end > self.end {
            self.pos = self.end;
            return Some(Err(Error::malformed(
                "an element",
                "runs past the end of what holds it",
            )));
        }
        self.pos = value_end;
        Some(Ok(Element {
            tag,
            value: &self.bytes[start + 3..value_end],
            span: (start, value_end),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_round_trip_and_padding_is_one_byte() {
        let mut w = Writer::default();
        w.u16(1, 0x0102).unwrap();
        w.nested(3, |w| w.text(4, "CN=a")).unwrap();
        w.pad();
        w.u32(15, 7).unwrap();
        let bytes = w.into_bytes();
        let read: Vec<_> = Reader::header(&bytes, 0, bytes.len())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            read.iter().map(|e| e.tag).collect::<Vec<_>>(),
            [1, 3, 13, 15]
        );
        let inner: Vec<_> = Reader::inside(&bytes, &read[1])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(inner[0].text(), "CN=a");
        assert_eq!(read[3].u32("t").unwrap(), 7);
    }

    #[test]
    fn a_cut_off_element_is_an_error_at_every_length() {
        let mut w = Writer::default();
        w.put(9, &[1, 2, 3, 4]).unwrap();
        let bytes = w.into_bytes();
        for cut in 1..bytes.len() {
            let all: Vec<_> = Reader::header(&bytes[..cut], 0, cut).collect();
            assert!(all.iter().any(Result::is_err), "cut at {cut}");
        }
    }

    #[test]
    fn a_value_too_long_for_its_length_is_refused() {
        let mut w = Writer::default();
        assert!(w.put(9, &vec![0; 70_000]).is_err());
        assert_eq!(w.len(), 0, "nothing half-written");
    }
}
