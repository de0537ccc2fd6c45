//! TFTP packets: strict parsing of a datagram into a borrowed [`Packet`], and emission.
//!
//! # No-panic contract
//!
//! [`Packet::parse`] accepts any byte slice, of any length and content, and returns either a
//! packet borrowing from it or a [`ParseError`]. It never panics, never allocates and never reads
//! past the slice. The fuzz target `packet_roundtrip` and the corpus replay test hold it to that.
//!
//! # Wire layout (RFC 1350 §5, RFC 2347 §2)
//!
//! ```text
//! RRQ/WRQ  | 01/02 | filename | 0 | mode | 0 | opt1 | 0 | value1 | 0 | ...
//! DATA     | 03    | block (u16)  | data (0..=blksize bytes)
//! ACK      | 04    | block (u16)
//! ERROR    | 05    | code (u16)   | message | 0
//! OACK     | 06    | opt1 | 0 | value1 | 0 | ...
//! ```

use std::fmt;

/// Size of the opcode field.
const OPCODE_LEN: usize = 2;
/// Size of DATA's and ACK's header (opcode + block number); also ERROR's before the message.
pub const HEADER_LEN: usize = 4;
/// The largest datagram a TFTP peer may send us: RFC 2348's largest block plus the header.
pub const MAX_DATAGRAM: usize = 65_464 + HEADER_LEN;

/// A TFTP opcode (RFC 1350 §5, RFC 2347 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Opcode {
    Rrq = 1,
    Wrq = 2,
    Data = 3,
    Ack = 4,
    Error = 5,
    Oack = 6,
}

impl Opcode {
    fn from_u16(value: u16) -> Option<Self> {
        Some(match value {
            1 => Self::Rrq,
            2 => Self::Wrq,
            3 => Self::Data,
            4 => Self::Ack,
            5 => Self::Error,
            6 => Self::Oack,
            _ => return None,
        })
    }
}

/// Transfer mode of a request (RFC 1350 §1); compared case-insensitively on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bytes as they are.
    Octet,
    /// Text: LF is sent as CR LF and CR as CR NUL (RFC 764's NVT ASCII).
    Netascii,
}

impl Mode {
    /// The canonical lower-case wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Octet => "octet",
            Mode::Netascii => "netascii",
        }
    }
}

/// TFTP error codes (RFC 1350 appendix, RFC 2347 adds 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0: not defined, see the message.
    NotDefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID.
    UnknownTransferId,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: option negotiation refused (RFC 2347).
    OptionRefused,
    /// Any other value a peer sent; kept so that it can be logged as received.
    Other(u16),
}

impl ErrorCode {
    /// The numeric wire value.
    pub fn as_u16(self) -> u16 {
        match self {
            Self::NotDefined => 0,
            Self::FileNotFound => 1,
            Self::AccessViolation => 2,
            Self::DiskFull => 3,
            Self::IllegalOperation => 4,
            Self::UnknownTransferId => 5,
            Self::FileExists => 6,
            Self::NoSuchUser => 7,
            Self::OptionRefused => 8,
            Self::Other(code) => code,
        }
    }

    /// The code for a numeric wire value.
    pub fn from_u16(value: u16) -> Self {
        match value {
            0 => Self::NotDefined,
            1 => Self::FileNotFound,
            2 => Self::AccessViolation,
            3 => Self::DiskFull,
            4 => Self::IllegalOperation,
            5 => Self::UnknownTransferId,
            6 => Self::FileExists,
            7 => Self::NoSuchUser,
            8 => Self::OptionRefused,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u16())
    }
}

/// Why a datagram is not a well-formed TFTP packet. Small and `Copy`: it is made on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("datagram of {0} bytes is too short for a TFTP packet")]
    TooShort(usize),
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    #[error("the {0} field is not terminated by a NUL byte")]
    MissingNul(Field),
    #[error("the filename is empty")]
    EmptyFilename,
    #[error("unknown transfer mode")]
    UnknownMode,
    #[error("mode \"mail\" is obsolete and not supported")]
    MailMode,
    #[error("option #{0} has no value")]
    OptionWithoutValue(usize),
    #[error("option #{0} has an empty name")]
    EmptyOptionName(usize),
    #[error("option #{0} repeats an earlier option")]
    DuplicateOption(usize),
    #[error("an OACK must carry at least one option")]
    EmptyOack,
    #[error("{0} bytes of trailing garbage after the packet")]
    TrailingBytes(usize),
}

/// The variable-length field a [`ParseError::MissingNul`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Filename,
    Mode,
    Option,
    ErrorMessage,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Filename => "filename",
            Field::Mode => "mode",
            Field::Option => "option",
            Field::ErrorMessage => "error message",
        })
    }
}

/// A read or write request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The file name exactly as sent (not UTF-8 checked: that is the file namespace's business).
    pub filename: &'a [u8],
    pub mode: Mode,
    pub options: Options<'a>,
}

/// A validated list of RFC 2347 options: NUL-terminated name/value pairs, names unique
/// (case-insensitively), names non-empty. Values may be empty; their meaning is the
/// negotiation's business.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Options<'a> {
    raw: &'a [u8],
}

impl<'a> Options<'a> {
    /// Iterates over `(name, value)` pairs in wire order.
    pub fn iter(&self) -> OptionIter<'a> {
        OptionIter { rest: self.raw }
    }

    /// The value of an option, matched case-insensitively.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// True when no option was sent.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Validates `raw` (which must end at the end of the packet) as an option list.
    fn parse(raw: &'a [u8]) -> Result<Self, ParseError> {
        let mut rest = raw;
        let mut index = 0usize;
        while !rest.is_empty() {
            index += 1;
            let (name, after_name) = split_cstr(rest, Field::Option)?;
            if name.is_empty() {
                return Err(ParseError::EmptyOptionName(index));
            }
            if after_name.is_empty() {
                return Err(ParseError::OptionWithoutValue(index));
            }
            let (_value, after_value) = split_cstr(after_name, Field::Option)?;
            // RFC 2347 allows each option once. Quadratic, but a request is at most 64 KiB and
            // this loop only runs over options already accepted; typical requests carry 2–4.
            let seen = Options {
                raw: &raw[..raw.len() - rest.len()],
            };
            if seen.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                return Err(ParseError::DuplicateOption(index));
            }
            rest = after_value;
        }
        Ok(Options { raw })
    }
}

impl fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            }))
            .finish()
    }
}

/// Iterator over a validated option list.
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // The list was validated on construction, so both splits succeed; `ok()?` keeps this
        // total anyway.
        let (name, rest) = split_cstr(self.rest, Field::Option).ok()?;
        let (value, rest) = split_cstr(rest, Field::Option).ok()?;
        self.rest = rest;
        Some((name, value))
    }
}

/// A parsed TFTP packet, borrowing from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    Rrq(Request<'a>),
    Wrq(Request<'a>),
    Data { block: u16, payload: &'a [u8] },
    Ack { block: u16 },
    Error { code: ErrorCode, message: &'a [u8] },
    Oack(Options<'a>),
}

impl<'a> Packet<'a> {
    /// Parses one datagram strictly. See the module's no-panic contract.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, ParseError> {
        let (opcode, body) = read_u16(datagram).ok_or(ParseError::TooShort(datagram.len()))?;
        let opcode = Opcode::from_u16(opcode).ok_or(ParseError::UnknownOpcode(opcode))?;
        match opcode {
            Opcode::Rrq => parse_request(body).map(Packet::Rrq),
            Opcode::Wrq => parse_request(body).map(Packet::Wrq),
            Opcode::Data => {
                let (block, payload) =
                    read_u16(body).ok_or(ParseError::TooShort(datagram.len()))?;
                Ok(Packet::Data { block, payload })
            }
            Opcode::Ack => {
                let (block, rest) = read_u16(body).ok_or(ParseError::TooShort(datagram.len()))?;
                if !rest.is_empty() {
                    return Err(ParseError::TrailingBytes(rest.len()));
                }
                Ok(Packet::Ack { block })
            }
            Opcode::Error => {
                let (code, rest) = read_u16(body).ok_or(ParseError::TooShort(datagram.len()))?;
                let (message, rest) = split_cstr(rest, Field::ErrorMessage)?;
                if !rest.is_empty() {
                    return Err(ParseError::TrailingBytes(rest.len()));
                }
                Ok(Packet::Error {
                    code: ErrorCode::from_u16(code),
                    message,
                })
            }
            Opcode::Oack => {
                if body.is_empty() {
                    return Err(ParseError::EmptyOack);
                }
                Options::parse(body).map(Packet::Oack)
            }
        }
    }

    /// The packet's opcode.
    pub fn opcode(&self) -> Opcode {
        match self {
            Packet::Rrq(_) => Opcode::Rrq,
            Packet::Wrq(_) => Opcode::Wrq,
            Packet::Data { .. } => Opcode::Data,
            Packet::Ack { .. } => Opcode::Ack,
            Packet::Error { .. } => Opcode::Error,
            Packet::Oack(_) => Opcode::Oack,
        }
    }

    /// Appends the packet's wire form to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.opcode() as u16).to_be_bytes());
        match self {
            Packet::Rrq(req) | Packet::Wrq(req) => {
                push_cstr(out, req.filename);
                push_cstr(out, req.mode.as_str().as_bytes());
                out.extend_from_slice(req.options.raw);
            }
            Packet::Data { block, payload } => {
                out.extend_from_slice(&block.to_be_bytes());
                out.extend_from_slice(payload);
            }
            Packet::Ack { block } => out.extend_from_slice(&block.to_be_bytes()),
            Packet::Error { code, message } => {
                out.extend_from_slice(&code.as_u16().to_be_bytes());
                push_cstr(out, message);
            }
            Packet::Oack(options) => out.extend_from_slice(options.raw),
        }
    }
}

fn parse_request(body: &[u8]) -> Result<Request<'_>, ParseError> {
    let (filename, rest) = split_cstr(body, Field::Filename)?;
    if filename.is_empty() {
        return Err(ParseError::EmptyFilename);
    }
    let (mode, rest) = split_cstr(rest, Field::Mode)?;
    let mode = if mode.eq_ignore_ascii_case(b"octet") {
        Mode::Octet
    } else if mode.eq_ignore_ascii_case(b"netascii") {
        Mode::Netascii
    } else if mode.eq_ignore_ascii_case(b"mail") {
        return Err(ParseError::MailMode);
    } else {
        return Err(ParseError::UnknownMode);
    };
    Ok(Request {
        filename,
        mode,
        options: Options::parse(rest)?,
    })
}

/// Reads a big-endian u16 from the front of `bytes`.
fn read_u16(bytes: &[u8]) -> Option<(u16, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<OPCODE_LEN>()?;
    Some((u16::from_be_bytes(*head), rest))
}

/// Splits a NUL-terminated string off the front of `bytes` (the NUL is consumed).
fn split_cstr(bytes: &[u8], field: Field) -> Result<(&[u8], &[u8]), ParseError> {
    let nul = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(ParseError::MissingNul(field))?;
    let (text, rest) = bytes.split_at(nul);
    Ok((text, rest.get(1..).unwrap_or_default()))
}

fn push_cstr(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    out.push(0);
}

/// Builds an option list for an RRQ, WRQ or OACK.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionsBuf {
    raw: Vec<u8>,
}

impl OptionsBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one option. Names and values must not contain NUL; such bytes are dropped rather
    /// than producing a list that would parse differently.
    pub fn push(&mut self, name: &[u8], value: &[u8]) -> &mut Self {
        self.raw.extend(name.iter().copied().filter(|&b| b != 0));
        self.raw.push(0);
        self.raw.extend(value.iter().copied().filter(|&b| b != 0));
        self.raw.push(0);
        self
    }

    /// Appends an option with a decimal value.
    pub fn push_num(&mut self, name: &[u8], value: u64) -> &mut Self {
        self.push(name, value.to_string().as_bytes())
    }

    /// The list as it will be put on the wire. May contain duplicates if the caller pushed them;
    /// the parser of the receiving side rejects those.
    pub fn as_options(&self) -> Options<'_> {
        Options { raw: &self.raw }
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// Writes a DATA header for `block` followed by `payload` into `buf`; returns the length.
/// `buf` must hold `HEADER_LEN + payload.len()` bytes (the caller sizes it for its blksize).
pub fn write_data(buf: &mut [u8], block: u16, payload: &[u8]) -> Option<usize> {
    let len = HEADER_LEN + payload.len();
    let out = buf.get_mut(..len)?;
    out[..2].copy_from_slice(&(Opcode::Data as u16).to_be_bytes());
    out[2..4].copy_from_slice(&block.to_be_bytes());
    out[4..].copy_from_slice(payload);
    Some(len)
}

/// Writes an ACK into `buf`; returns the length.
pub fn write_ack(buf: &mut [u8], block: u16) -> Option<usize> {
    let out = buf.get_mut(..HEADER_LEN)?;
    out[..2].copy_from_slice(&(Opcode::Ack as u16).to_be_bytes());
    out[2..].copy_from_slice(&block.to_be_bytes());
    Some(HEADER_LEN)
}

/// Writes an ERROR into `buf`, truncating the message so that it fits and never carrying a NUL
/// inside it; returns the length.
pub fn write_error(buf: &mut [u8], code: ErrorCode, message: &str) -> Option<usize> {
    let room = buf.len().checked_sub(HEADER_LEN + 1)?;
    let text: Vec<u8> = message.bytes().filter(|&b| b != 0).take(room).collect();
    let len = HEADER_LEN + text.len() + 1;
    buf[..2].copy_from_slice(&(Opcode::Error as u16).to_be_bytes());
    buf[2..4].copy_from_slice(&code.as_u16().to_be_bytes());
    buf[4..4 + text.len()].copy_from_slice(&text);
    buf[4 + text.len()] = 0;
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrq(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0, 1];
        for p in parts {
            out.extend_from_slice(p);
            out.push(0);
        }
        out
    }

    #[test]
    fn parses_rrq_with_options_in_any_case() {
        let d = rrq(&[
            b"SEP001122334455.cnf.xml",
            b"OcTeT",
            b"BLKSIZE",
            b"1428",
            b"tsize",
            b"0",
        ]);
        let Ok(Packet::Rrq(req)) = Packet::parse(&d) else {
            panic!("not an RRQ")
        };
        assert_eq!(req.filename, b"SEP001122334455.cnf.xml");
        assert_eq!(req.mode, Mode::Octet);
        assert_eq!(req.options.get("blksize"), Some(&b"1428"[..]));
        assert_eq!(req.options.get("TSIZE"), Some(&b"0"[..]));
        assert_eq!(req.options.iter().count(), 2);
    }

    #[test]
    fn netascii_mode_is_case_insensitive() {
        let d = rrq(&[b"a", b"NETASCII"]);
        assert!(matches!(Packet::parse(&d), Ok(Packet::Rrq(r)) if r.mode == Mode::Netascii));
    }

    #[test]
    fn rejects_each_malformed_request_with_a_precise_reason() {
        let cases: Vec<(Vec<u8>, ParseError)> = vec![
            (vec![], ParseError::TooShort(0)),
            (vec![0], ParseError::TooShort(1)),
            (vec![0, 9, 1, 2], ParseError::UnknownOpcode(9)),
            (vec![0, 0], ParseError::UnknownOpcode(0)),
            (
                b"\0\x01file".to_vec(),
                ParseError::MissingNul(Field::Filename),
            ),
            (
                b"\0\x01file\0octet".to_vec(),
                ParseError::MissingNul(Field::Mode),
            ),
            (rrq(&[b"", b"octet"]), ParseError::EmptyFilename),
            (rrq(&[b"f", b""]), ParseError::UnknownMode),
            (rrq(&[b"f", b"binary"]), ParseError::UnknownMode),
            (rrq(&[b"f", b"MAIL"]), ParseError::MailMode),
            (
                rrq(&[b"f", b"octet", b"blksize"]),
                ParseError::OptionWithoutValue(1),
            ),
            (
                [rrq(&[b"f", b"octet", b"blksize"]), b"512".to_vec()].concat(),
                ParseError::MissingNul(Field::Option),
            ),
            (
                rrq(&[b"f", b"octet", b"", b"1"]),
                ParseError::EmptyOptionName(1),
            ),
            (
                rrq(&[b"f", b"octet", b"blksize", b"512", b"BlkSize", b"1024"]),
                ParseError::DuplicateOption(2),
            ),
        ];
        for (datagram, want) in cases {
            assert_eq!(Packet::parse(&datagram), Err(want), "{datagram:?}");
        }
    }

    #[test]
    fn ack_and_error_reject_trailing_garbage() {
        assert_eq!(
            Packet::parse(&[0, 4, 0, 1, 9]),
            Err(ParseError::TrailingBytes(1))
        );
        assert_eq!(Packet::parse(&[0, 4, 0]), Err(ParseError::TooShort(3)));
        assert_eq!(
            Packet::parse(b"\0\x05\0\x01msg\0x"),
            Err(ParseError::TrailingBytes(1))
        );
        // atftpd CVE-2019-11365: a 3-byte ERROR.
        assert_eq!(Packet::parse(&[0, 5, 0]), Err(ParseError::TooShort(3)));
        assert_eq!(
            Packet::parse(&[0, 5, 0, 1]),
            Err(ParseError::MissingNul(Field::ErrorMessage))
        );
    }

    #[test]
    fn data_payload_may_be_empty() {
        assert_eq!(
            Packet::parse(&[0, 3, 0xff, 0xff]),
            Ok(Packet::Data {
                block: 65535,
                payload: &[]
            })
        );
    }

    #[test]
    fn empty_oack_is_an_error() {
        assert_eq!(Packet::parse(&[0, 6]), Err(ParseError::EmptyOack));
    }

    #[test]
    fn emit_then_parse_gives_the_same_packet() {
        let mut opts = OptionsBuf::new();
        opts.push(b"blksize", b"1468").push_num(b"tsize", 0);
        let packets = [
            Packet::Rrq(Request {
                filename: b"dir/file",
                mode: Mode::Netascii,
                options: opts.as_options(),
            }),
            Packet::Data {
                block: 7,
                payload: b"abc",
            },
            Packet::Ack { block: 0 },
            Packet::Error {
                code: ErrorCode::Other(99),
                message: b"x",
            },
            Packet::Oack(opts.as_options()),
        ];
        for p in packets {
            let mut out = Vec::new();
            p.emit(&mut out);
            assert_eq!(Packet::parse(&out), Ok(p));
        }
    }

    #[test]
    fn write_error_truncates_to_the_buffer_and_strips_nul() {
        let mut buf = [0u8; 10];
        let len = write_error(&mut buf, ErrorCode::NotDefined, "busy\0 server").unwrap();
        assert_eq!(len, 10);
        assert_eq!(
            Packet::parse(&buf[..len]),
            Ok(Packet::Error {
                code: ErrorCode::NotDefined,
                message: b"busy "
            })
        );
    }
}
