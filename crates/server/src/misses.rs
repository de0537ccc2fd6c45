//! What phones ask for and do not get: the per-device-file counters (SEPFoundCount, …) and a
//! log of missing files that cannot flood.
//!
//! Phones probe for many files that do not exist: every phone of a nonsecure cluster asks for
//! `CTLSEP<MAC>.tlv` and `ITLSEP<MAC>.tlv` at each boot (seed: "normal"). A line per miss would
//! bury everything else during a boot storm, so a miss is logged at most once per interval per
//! *pattern*: MAC addresses in the name are folded into `<MAC>`, so 5 000 phones probing 5 000
//! different CTL names make one line, which says how many were folded into it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use phoneboot_model::Profile;
use phoneboot_render::{Name, Requested};
use phoneboot_source::FileName;

use crate::counters::{Counter, Counters};

/// The device configuration files CUCM counts apart (spec cisco-tftp.md §3), in any form
/// (`.sgn` too), by the last component of the name, read through the one file-name grammar.
fn counters_of(name: &FileName) -> Option<(Counter, Counter)> {
    let requested = Requested::parse(name.base())?;
    Some(match requested.name {
        Name::SepXml(_) | Name::SepCnf(_) => (Counter::SepFound, Counter::SepNotFound),
        Name::SipCnf(_) => (Counter::SipFound, Counter::SipNotFound),
        Name::Profile(Profile::Ld, _) => (Counter::LdFound, Counter::LdNotFound),
        Name::Profile(Profile::Gk, _) => (Counter::GkFound, Counter::GkNotFound),
        _ => return None,
    })
}

/// Counts a lookup of a device file in SEPFoundCount, SEPNotFoundCount and their kin; true
/// when `name` is a device's configuration file.
pub(crate) fn count_lookup(counters: &Counters, name: &FileName, found: bool) -> bool {
    let Some((hit, miss)) = counters_of(name) else {
        return false;
    };
    counters.incr(if found { hit } else { miss });
    true
}

/// Patterns remembered at most; past it the table starts over (costs extra lines, not memory).
const MAX_PATTERNS: usize = 4096;

/// Rate-limits "not found" log lines per name pattern.
#[derive(Debug)]
pub(crate) struct MissLog {
    interval: Duration,
    seen: Mutex<HashMap<String, Seen>>,
}

#[derive(Debug)]
struct Seen {
    logged_at: Instant,
    folded: u64,
}

/// What to log for one miss.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MissLine {
    pub(crate) pattern: String,
    /// Misses of this pattern since its last line that were not logged.
    pub(crate) folded: u64,
}

impl MissLog {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Notes a miss at `now`; returns a line to log, or `None` when this pattern was logged
    /// less than an interval ago.
    pub(crate) fn note(&self, now: Instant, name: &str) -> Option<MissLine> {
        let pattern = phoneboot_render::pattern(name);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = seen.get_mut(&pattern) {
            if now.duration_since(s.logged_at) < self.interval {
                s.folded += 1;
                return None;
            }
            let folded = std::mem::take(&mut s.folded);
            s.logged_at = now;
            return Some(MissLine { pattern, folded });
        }
        if seen.len() >= MAX_PATTERNS {
            seen.clear();
        }
        seen.insert(
            pattern.clone(),
            Seen {
                logged_at: now,
                folded: 0,
            },
        );
        Some(MissLine { pattern, folded: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<Counter> {
        counters_of(&FileName::parse(s.as_bytes()).unwrap()).map(|(found, _)| found)
    }

    #[test]
    fn device_files_are_classified_by_their_name() {
        let sep = Some(Counter::SepFound);
        assert_eq!(class("SEP001122AABBCC.cnf.xml"), sep);
        assert_eq!(class("sep001122aabbcc.CNF"), sep);
        assert_eq!(class("SEP001122AABBCC.cnf.xml.sgn"), sep);
        assert_eq!(class("SEP001122AABBCC.cnf.xml.enc.sgn"), sep);
        assert_eq!(class("SIP001122AABBCC.cnf"), Some(Counter::SipFound));
        assert_eq!(class("ld001122aabbcc"), Some(Counter::LdFound));
        assert_eq!(class("gk001122aabbcc"), Some(Counter::GkFound));
        assert_eq!(class("dir/SEP001122AABBCC.cnf.xml"), sep);
        for other in [
            "CTLSEP001122AABBCC.tlv",
            "ITLSEP001122AABBCC.tlv",
            "SEPDefault.cnf",
            "SIPDefault.cnf",
            "SEP0011.cnf.xml",
            "SEP001122AABBCCDD.cnf.xml",
            "XMLDefault.cnf.xml",
            "lddefault.cfg",
            "ff001122aabbcc",
        ] {
            assert_eq!(class(other), None, "{other}");
        }
    }

    #[test]
    fn a_pattern_is_logged_once_per_interval_with_the_folded_count() {
        let log = MissLog::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let first = log.note(t0, "CTLSEP000000000001.tlv").unwrap();
        assert_eq!(
            first,
            MissLine {
                pattern: "CTLSEP<MAC>.tlv".into(),
                folded: 0
            }
        );
        for i in 2..=5000u64 {
            assert_eq!(
                log.note(t0 + Duration::from_millis(i), &format!("CTLSEP{i:012}.tlv")),
                None
            );
        }
        assert!(
            log.note(t0, "ITLSEP000000000001.tlv").is_some(),
            "another pattern is logged"
        );
        let later = log
            .note(t0 + Duration::from_secs(61), "CTLSEP000000009999.tlv")
            .unwrap();
        assert_eq!(later.folded, 4999);
    }
}
