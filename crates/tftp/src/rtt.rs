//! The adaptive retransmission timeout of a read transfer (RFC 1123 §4.2.3.2: a TFTP
//! implementation MUST use one). The estimator is RFC 6298's (smoothed round trip and its
//! variation), fed by Karn's rule: a sample is taken only from a packet sent once, so an ACK
//! that might answer a retransmission never skews it.
//!
//! The transfer owns the timing (which packet is timed, when it went out); this module only
//! turns samples into a timeout.

use std::time::Duration;

/// RFC 6298 §2: below this the variation term stops shrinking the timeout (our clock's
/// granularity, as the RFC's G).
const GRANULARITY: Duration = Duration::from_millis(1);

/// Smoothed round-trip time and its mean deviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RttEstimator {
    /// `None` until the first sample.
    srtt: Option<Duration>,
    rttvar: Duration,
}

impl RttEstimator {
    /// Takes in one round trip measured on a packet sent once.
    pub(crate) fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let deviation = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + deviation) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    /// The timeout the samples call for, within `[floor, ceiling]`; `initial` until there is a
    /// sample.
    pub(crate) fn timeout(
        &self,
        initial: Duration,
        floor: Duration,
        ceiling: Duration,
    ) -> Duration {
        match self.srtt {
            None => initial,
            Some(srtt) => {
                (srtt + (self.rttvar * 4).max(GRANULARITY)).clamp(floor, ceiling.max(floor))
            }
        }
    }

    /// The smoothed round trip, once there is one.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_initial_timeout_holds_until_the_first_sample() {
        let rtt = RttEstimator::default();
        assert_eq!(rtt.timeout(1000 * MS, 100 * MS, 8000 * MS), 1000 * MS);
    }

    #[test]
    fn a_steady_round_trip_brings_the_timeout_to_it_plus_the_variation() {
        let mut rtt = RttEstimator::default();
        rtt.sample(40 * MS);
        // First sample: srtt 40, rttvar 20: 40 + 80.
        assert_eq!(rtt.timeout(1000 * MS, 10 * MS, 8000 * MS), 120 * MS);
        for _ in 0..50 {
            rtt.sample(40 * MS);
        }
        let settled = rtt.timeout(1000 * MS, 10 * MS, 8000 * MS);
        assert!(settled < 45 * MS && settled >= 41 * MS, "{settled:?}");
        assert_eq!(rtt.srtt(), Some(40 * MS));
    }

    #[test]
    fn the_floor_and_the_ceiling_bound_the_timeout() {
        let mut fast = RttEstimator::default();
        fast.sample(Duration::from_micros(50));
        assert_eq!(fast.timeout(1000 * MS, 100 * MS, 8000 * MS), 100 * MS);
        let mut slow = RttEstimator::default();
        slow.sample(20_000 * MS);
        assert_eq!(slow.timeout(1000 * MS, 100 * MS, 8000 * MS), 8000 * MS);
    }

    #[test]
    fn a_jump_in_the_round_trip_raises_the_timeout_at_once() {
        let mut rtt = RttEstimator::default();
        for _ in 0..20 {
            rtt.sample(10 * MS);
        }
        let before = rtt.timeout(1000 * MS, 1 * MS, 8000 * MS);
        rtt.sample(200 * MS);
        let after = rtt.timeout(1000 * MS, 1 * MS, 8000 * MS);
        assert!(
            after > 200 * MS,
            "the variation covers the new round trip: {before:?} -> {after:?}"
        );
    }
}
