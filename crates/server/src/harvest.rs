//! The harvest guard: a source that asks for many device configuration files that do not
//! exist is scanning for them (SEP<MAC>.cnf.xml names hold SIP credentials), and is slowed.
//!
//! Each source (an address; for IPv6 its /64) has a bucket of misses of device files (the
//! names the file-name grammar reads as a device's configuration), refilled at a slow rate: a
//! phone misses one or two at a boot, a scanner thousands. Past the bucket, that source's misses of device files are left unanswered
//! except at the refill rate, so a scanner waits out its own timeout for almost every name,
//! and the source is logged once. Found files and every other source are untouched: a phone
//! asking for its own file never meets the guard.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::warn;

use crate::config::HarvestConfig;
use crate::counters::{Counter, Counters};

/// Sources remembered at most; past it, the idle ones are forgotten first.
const MAX_SOURCES: usize = 16_384;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Logged as a harvester (once, until its bucket is full again and it is forgotten).
    flagged: bool,
}

/// One lock per miss on the request path: the limits and the buckets together.
#[derive(Debug)]
struct Table {
    config: HarvestConfig,
    sources: HashMap<IpAddr, Bucket>,
}

#[derive(Debug)]
pub(crate) struct HarvestGuard {
    table: Mutex<Table>,
    counters: Arc<Counters>,
}

impl HarvestGuard {
    pub(crate) fn new(config: HarvestConfig, counters: Arc<Counters>) -> Self {
        Self {
            table: Mutex::new(Table {
                config,
                sources: HashMap::new(),
            }),
            counters,
        }
    }

    pub(crate) fn set_config(&self, config: HarvestConfig) {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).config = config;
    }

    /// A miss of a device file from `source` at `now`: true when it is to be answered.
    pub(crate) fn allow(&self, source: IpAddr, now: Instant) -> bool {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let config = table.config;
        if config.burst == 0 {
            return true;
        }
        let burst = f64::from(config.burst);
        let rate = f64::from(config.per_minute) / 60.0;
        let sources = &mut table.sources;
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&source) {
            // In bulk, so that a flood of new sources does not scan the table per request:
            // first the buckets that are full again, then, if that freed little, all but the
            // flagged sources (a scanner must not reset its own bucket by spoofing others).
            sources.retain(|_, b| {
                b.flagged || b.tokens + rate * now.duration_since(b.at).as_secs_f64() < burst
            });
            if sources.len() > MAX_SOURCES / 2 {
                sources.retain(|_, b| b.flagged);
            }
            if sources.len() >= MAX_SOURCES {
                sources.clear(); // costs a few more misses answered, never memory
            }
        }
        let bucket = sources.entry(source).or_insert(Bucket {
            tokens: burst,
            at: now,
            flagged: false,
        });
        bucket.tokens =
            (bucket.tokens + rate * now.duration_since(bucket.at).as_secs_f64()).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return true;
        }
        if !bucket.flagged {
            bucket.flagged = true;
            self.counters.incr(Counter::HarvestSources);
            warn!(
                %source,
                "{source} asked for more than {} device configuration files that do not exist: \
                 a configuration harvest? Its misses of device files are answered {} a minute \
                 from now on (tftp.harvest_burst, tftp.harvest_per_minute); found files and \
                 other sources are not affected",
                config.burst,
                config.per_minute
            );
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn guard(burst: u32, per_minute: u32) -> (HarvestGuard, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        (
            HarvestGuard::new(HarvestConfig { burst, per_minute }, Arc::clone(&counters)),
            counters,
        )
    }

    #[test]
    fn a_scanner_is_slowed_after_its_burst_and_flagged_once() {
        let (g, counters) = guard(100, 60);
        let scanner: IpAddr = "192.0.2.66".parse().unwrap();
        let t0 = Instant::now();
        let answered = (0..10_000u64)
            .filter(|i| g.allow(scanner, t0 + Duration::from_millis(*i / 5)))
            .count();
        // 100 at once, then one a second over the 2 s the scan took.
        assert!((100..=102).contains(&answered), "{answered}");
        assert_eq!(counters.get(Counter::HarvestSources), 1);
    }

    #[test]
    fn other_sources_keep_their_own_bucket() {
        let (g, _) = guard(3, 60);
        let t0 = Instant::now();
        let scanner: IpAddr = "192.0.2.66".parse().unwrap();
        for _ in 0..10 {
            g.allow(scanner, t0);
        }
        assert!(!g.allow(scanner, t0));
        assert!(
            g.allow("192.0.2.7".parse().unwrap(), t0),
            "a phone is not slowed"
        );
    }

    #[test]
    fn a_burst_of_zero_turns_the_guard_off() {
        let (g, counters) = guard(0, 0);
        let t0 = Instant::now();
        assert!((0..1000).all(|_| g.allow("192.0.2.66".parse().unwrap(), t0)));
        assert_eq!(counters.get(Counter::HarvestSources), 0);
    }

    #[test]
    fn a_scanner_cannot_reset_its_bucket_by_spoofing_other_sources() {
        let (g, counters) = guard(3, 1);
        let t0 = Instant::now();
        let scanner: IpAddr = "192.0.2.66".parse().unwrap();
        for _ in 0..4 {
            g.allow(scanner, t0);
        }
        for i in 0..u32::try_from(MAX_SOURCES + 10).unwrap() {
            g.allow(IpAddr::from((0x0A00_0000 + i).to_be_bytes()), t0);
        }
        assert!(!g.allow(scanner, t0), "still slowed");
        assert_eq!(counters.get(Counter::HarvestSources), 1, "and logged once");
    }

    #[test]
    fn an_ipv6_scanner_is_one_source_across_its_slash_64() {
        let (g, _) = guard(3, 1);
        let t0 = Instant::now();
        let source =
            |host: u16| crate::net::source_of(format!("2001:db8::{host:x}").parse().unwrap());
        for host in 1..=3 {
            assert!(g.allow(source(host), t0));
        }
        assert!(!g.allow(source(99), t0), "another address of the same /64");
    }

    #[test]
    fn the_table_of_sources_is_bounded() {
        let (g, _) = guard(10, 60);
        let t0 = Instant::now();
        for i in 0..u32::try_from(MAX_SOURCES + 100).unwrap() {
            g.allow(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(g.table.lock().unwrap().sources.len() <= MAX_SOURCES);
    }
}
