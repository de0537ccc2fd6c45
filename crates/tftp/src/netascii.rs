//! Netascii conversion (RFC 1350 §1, RFC 764): the server converts a whole file once, so that
//! block N maps to a fixed offset and the transfer size is exact.

/// File bytes to netascii: LF becomes CR LF, a bare CR becomes CR NUL.
pub fn encode(input: &[u8]) -> Vec<u8> {
    let extra = input.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
    let mut out = Vec::with_capacity(input.len() + extra);
    for &byte in input {
        match byte {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            other => out.push(other),
        }
    }
    out
}

/// Incremental netascii to file bytes: CR LF becomes LF, CR NUL becomes CR. A CR followed by
/// anything else is kept as it is (undefined by the RFC; tftp-hpa does the same). The state
/// carries across blocks, since a CR can end one block and its LF start the next.
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    pending_cr: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one chunk, appending to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &byte in input {
            if std::mem::take(&mut self.pending_cr) {
                match byte {
                    b'\n' => {
                        out.push(b'\n');
                        continue;
                    }
                    0 => {
                        out.push(b'\r');
                        continue;
                    }
                    _ => out.push(b'\r'),
                }
            }
            if byte == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(byte);
            }
        }
    }

    /// Ends the stream: a trailing lone CR is kept.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

/// Decodes a whole netascii buffer.
pub fn decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut decoder = Decoder::new();
    decoder.decode(input, &mut out);
    decoder.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lf_becomes_crlf_and_cr_becomes_crnul() {
        assert_eq!(encode(b"a\nb\rc\r\n"), b"a\r\nb\r\0c\r\0\r\n");
    }

    #[test]
    fn decoder_joins_a_cr_split_across_blocks() {
        let mut out = Vec::new();
        let mut d = Decoder::new();
        d.decode(b"line\r", &mut out);
        d.decode(b"\nnext\r", &mut out);
        d.decode(b"\0", &mut out);
        d.finish(&mut out);
        assert_eq!(out, b"line\nnext\r");
    }

    #[test]
    fn lone_cr_followed_by_other_byte_is_kept() {
        assert_eq!(decode(b"a\rb\r"), b"a\rb\r");
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
            prop_assert_eq!(decode(&encode(&input)), input);
        }

        #[test]
        fn decode_is_independent_of_chunking(
            input in proptest::collection::vec(any::<u8>(), 0..512),
            cut in 0usize..512,
        ) {
            let wire = encode(&input);
            let cut = cut.min(wire.len());
            let mut out = Vec::new();
            let mut d = Decoder::new();
            d.decode(&wire[..cut], &mut out);
            d.decode(&wire[cut..], &mut out);
            d.finish(&mut out);
            prop_assert_eq!(out, input);
        }
    }
}
