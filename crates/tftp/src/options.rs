//! Option negotiation (RFC 2347), server side and client side.
//!
//! The server's rule, from tftp-hpa and the RFCs: an option it does not know, or a known one with
//! a value outside the RFC's range, is left out of the OACK — never a failed transfer. When no
//! option survives, no OACK is sent at all and the transfer runs as in RFC 1350.

use std::time::Duration;

use crate::block::Rollover;
use crate::packet::{Options, OptionsBuf};

/// RFC 1350's block size, used whenever `blksize` is not negotiated.
pub const DEFAULT_BLKSIZE: u16 = 512;
/// RFC 2348 §2: "Valid values range between 8 and 65464 octets, inclusive."
pub const MIN_BLKSIZE: u16 = 8;
pub const MAX_BLKSIZE: u16 = 65_464;
/// tftp-hpa's hard cap on windowsize: its source calls larger windows unsafe.
pub const MAX_WINDOWSIZE: u16 = 32_768;

/// What the server is willing to grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Largest block size granted (RFC 2348: the server may only lower the request).
    pub max_blksize: u16,
    /// Largest window granted (RFC 7440 §4: the server may only lower the request).
    pub max_windowsize: u16,
    /// Honour RFC 2349 `timeout`.
    pub timeout: bool,
    /// Honour RFC 2349 `tsize`.
    pub tsize: bool,
    /// Honour tftp-hpa's non-standard `rollover` option (0 or 1).
    pub rollover: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            // Ethernet MTU 1500 - IPv4 20 - UDP 8 - TFTP 4 (spec tftp-protocol.md A11).
            max_blksize: 1468,
            max_windowsize: 64,
            timeout: true,
            tsize: true,
            rollover: true,
        }
    }
}

/// The parameters a transfer runs with after negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub blksize: u16,
    pub windowsize: u16,
    /// The retransmission interval the client asked for, if granted.
    pub timeout: Option<Duration>,
    /// A wrap policy the client asked for with tftp-hpa's `rollover`, if granted.
    pub rollover: Option<Rollover>,
}

impl Default for Negotiated {
    fn default() -> Self {
        Self {
            blksize: DEFAULT_BLKSIZE,
            windowsize: 1,
            timeout: None,
            rollover: None,
        }
    }
}

/// The result of negotiating a request's options against the server's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    pub params: Negotiated,
    /// The OACK's options; empty means "send no OACK" (RFC 2347: never an empty OACK).
    pub oack: OptionsBuf,
}

/// Negotiates a read request's options. `size` is the exact number of bytes that will be sent
/// (after any netascii conversion).
pub fn negotiate_read(requested: Options<'_>, size: u64, limits: &ServerLimits) -> Negotiation {
    let mut params = Negotiated::default();
    let mut oack = OptionsBuf::new();
    for (name, value) in requested.iter() {
        let Some(kind) = OptionKind::from_name(name) else {
            continue; // RFC 2347 §2: unknown options are silently ignored.
        };
        match kind {
            OptionKind::Blksize => {
                let Some(v) = parse_decimal(value).and_then(|v| u16::try_from(v).ok()) else {
                    continue;
                };
                if !(MIN_BLKSIZE..=MAX_BLKSIZE).contains(&v) {
                    continue;
                }
                // RFC 2348 §2: the server may answer a smaller value, never a larger one.
                params.blksize = v.min(limits.max_blksize.max(MIN_BLKSIZE));
                oack.push_num(name, u64::from(params.blksize));
            }
            OptionKind::Timeout if limits.timeout => {
                // RFC 2349 §3.1: 1..255 seconds; the server echoes it or leaves it out.
                let Some(v) = parse_decimal(value).filter(|v| (1..=255).contains(v)) else {
                    continue;
                };
                params.timeout = Some(Duration::from_secs(v));
                oack.push_num(name, v);
            }
            OptionKind::Tsize if limits.tsize => {
                if parse_decimal(value).is_none() {
                    continue;
                }
                // RFC 2349 §4: on a read the server answers the file's size. A size of 0 is left
                // out: curl rejects an OACK with tsize 0 (spec A5).
                if size > 0 {
                    oack.push_num(name, size);
                }
            }
            OptionKind::Windowsize => {
                // RFC 7440 §2: 1..65535 blocks; the server may only go down.
                let Some(v) = parse_decimal(value).and_then(|v| u16::try_from(v).ok()) else {
                    continue;
                };
                if v == 0 || limits.max_windowsize <= 1 {
                    continue;
                }
                params.windowsize = v.min(limits.max_windowsize.min(MAX_WINDOWSIZE));
                oack.push_num(name, u64::from(params.windowsize));
            }
            OptionKind::Rollover if limits.rollover => {
                let policy = match value {
                    b"0" => Rollover::ToZero,
                    b"1" => Rollover::ToOne,
                    _ => continue,
                };
                params.rollover = Some(policy);
                oack.push(name, value);
            }
            OptionKind::Timeout | OptionKind::Tsize | OptionKind::Rollover => {}
        }
    }
    Negotiation { params, oack }
}

/// The options a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientRequest {
    pub blksize: Option<u16>,
    pub windowsize: Option<u16>,
    /// Whole seconds, 1..=255.
    pub timeout: Option<u8>,
    /// Ask the server for the transfer size.
    pub tsize: bool,
}

impl ClientRequest {
    /// The options as they go into the RRQ.
    pub fn to_options(&self) -> OptionsBuf {
        let mut buf = OptionsBuf::new();
        if let Some(v) = self.blksize {
            buf.push_num(b"blksize", u64::from(v));
        }
        if let Some(v) = self.timeout {
            buf.push_num(b"timeout", u64::from(v));
        }
        if self.tsize {
            buf.push_num(b"tsize", 0);
        }
        if let Some(v) = self.windowsize {
            buf.push_num(b"windowsize", u64::from(v));
        }
        buf
    }

    /// Checks a server's OACK against what was asked (RFC 2347 §3: a client that does not
    /// accept the OACK answers ERROR 8). Returns the parameters and the announced size.
    pub fn accept_oack(&self, oack: Options<'_>) -> Result<(Negotiated, Option<u64>), OackError> {
        let mut params = Negotiated::default();
        let mut tsize = None;
        for (name, value) in oack.iter() {
            let kind = OptionKind::from_name(name).ok_or(OackError::Unrequested)?;
            let v = parse_decimal(value).ok_or(OackError::BadValue)?;
            match kind {
                OptionKind::Blksize => {
                    let asked = self.blksize.ok_or(OackError::Unrequested)?;
                    let v = u16::try_from(v).map_err(|_| OackError::BadValue)?;
                    if v < MIN_BLKSIZE || v > asked {
                        return Err(OackError::BadValue);
                    }
                    params.blksize = v;
                }
                OptionKind::Windowsize => {
                    let asked = self.windowsize.ok_or(OackError::Unrequested)?;
                    let v = u16::try_from(v).map_err(|_| OackError::BadValue)?;
                    if v == 0 || v > asked {
                        return Err(OackError::BadValue);
                    }
                    params.windowsize = v;
                }
                OptionKind::Timeout => {
                    let asked = self.timeout.ok_or(OackError::Unrequested)?;
                    // RFC 2349 §3.1: the server must echo the value unchanged.
                    if v != u64::from(asked) {
                        return Err(OackError::BadValue);
                    }
                    params.timeout = Some(Duration::from_secs(v));
                }
                OptionKind::Tsize => {
                    if !self.tsize {
                        return Err(OackError::Unrequested);
                    }
                    tsize = Some(v);
                }
                OptionKind::Rollover => return Err(OackError::Unrequested),
            }
        }
        Ok((params, tsize))
    }
}

/// Why a client refuses an OACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OackError {
    #[error("the OACK carries an option that was not requested")]
    Unrequested,
    #[error("the OACK carries a value outside what was requested")]
    BadValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OptionKind {
    Blksize,
    Timeout,
    Tsize,
    Windowsize,
    Rollover,
}

impl OptionKind {
    fn from_name(name: &[u8]) -> Option<Self> {
        // Option names are case-insensitive (RFC 2347 §2).
        [
            (&b"blksize"[..], Self::Blksize),
            (b"timeout", Self::Timeout),
            (b"tsize", Self::Tsize),
            (b"windowsize", Self::Windowsize),
            (b"rollover", Self::Rollover),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, k)| k)
    }
}

/// A strict decimal: ASCII digits only (no sign, no spaces), at most 20 of them, no overflow.
fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| {
        let digit = u64::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        acc.checked_mul(10)?.checked_add(digit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> OptionsBuf {
        let mut b = OptionsBuf::new();
        for (n, v) in pairs {
            b.push(n.as_bytes(), v.as_bytes());
        }
        b
    }

    fn oack_pairs(n: &Negotiation) -> Vec<(String, String)> {
        n.oack
            .as_options()
            .iter()
            .map(|(a, b)| {
                (
                    String::from_utf8_lossy(a).into_owned(),
                    String::from_utf8_lossy(b).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn grants_blksize_capped_by_the_server_limit_and_echoes_the_clients_spelling() {
        let req = opts(&[("BlkSize", "65464")]);
        let n = negotiate_read(req.as_options(), 10, &ServerLimits::default());
        assert_eq!(n.params.blksize, 1468);
        assert_eq!(oack_pairs(&n), [("BlkSize".into(), "1468".into())]);
    }

    #[test]
    fn ignores_out_of_range_and_malformed_values() {
        let limits = ServerLimits::default();
        for (name, value) in [
            ("blksize", "7"),
            ("blksize", "65465"),
            ("blksize", "+512"),
            ("blksize", " 512"),
            ("blksize", "-1"),
            ("blksize", "99999999999999999999999"),
            ("blksize", ""),
            ("timeout", "0"),
            ("timeout", "256"),
            ("windowsize", "0"),
            ("windowsize", "65536"),
            ("tsize", "x"),
            ("rollover", "2"),
            ("utimeout", "1000"),
            ("blksize2", "1024"),
            ("multicast", ""),
        ] {
            let req = opts(&[(name, value)]);
            let n = negotiate_read(req.as_options(), 10, &limits);
            assert!(n.oack.is_empty(), "{name}={value} must be left out");
            assert_eq!(n.params, Negotiated::default());
        }
    }

    #[test]
    fn tsize_answers_the_real_size_but_is_left_out_for_an_empty_file() {
        let req = opts(&[("tsize", "0")]);
        let n = negotiate_read(req.as_options(), 4096, &ServerLimits::default());
        assert_eq!(oack_pairs(&n), [("tsize".into(), "4096".into())]);
        let n = negotiate_read(req.as_options(), 0, &ServerLimits::default());
        assert!(n.oack.is_empty());
    }

    #[test]
    fn windowsize_is_capped_and_timeout_echoed() {
        let req = opts(&[("windowsize", "1000"), ("timeout", "3")]);
        let n = negotiate_read(req.as_options(), 1, &ServerLimits::default());
        assert_eq!(n.params.windowsize, 64);
        assert_eq!(n.params.timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            oack_pairs(&n),
            [
                ("windowsize".into(), "64".into()),
                ("timeout".into(), "3".into())
            ]
        );
    }

    #[test]
    fn disabled_options_are_not_granted() {
        let limits = ServerLimits {
            max_windowsize: 1,
            timeout: false,
            tsize: false,
            rollover: false,
            ..ServerLimits::default()
        };
        let req = opts(&[
            ("windowsize", "8"),
            ("timeout", "3"),
            ("tsize", "0"),
            ("rollover", "1"),
        ]);
        assert!(negotiate_read(req.as_options(), 5, &limits).oack.is_empty());
    }

    #[test]
    fn client_refuses_an_oack_it_did_not_ask_for() {
        let ask = ClientRequest {
            blksize: Some(1024),
            ..ClientRequest::default()
        };
        assert_eq!(
            ask.accept_oack(opts(&[("tsize", "5")]).as_options()),
            Err(OackError::Unrequested)
        );
        assert_eq!(
            ask.accept_oack(opts(&[("blksize", "2048")]).as_options()),
            Err(OackError::BadValue)
        );
        let (params, _) = ask
            .accept_oack(opts(&[("BLKSIZE", "512")]).as_options())
            .unwrap();
        assert_eq!(params.blksize, 512);
    }
}
