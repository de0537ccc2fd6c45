//! Block numbering: a transfer counts blocks with a `u64` internally and puts a 16-bit number on
//! the wire. No RFC says what follows block 65535 (spec tftp-protocol.md A7); the choice is a
//! [`Rollover`] policy.

/// What follows block 65535 on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rollover {
    /// 65535 -> 0 (tftp-hpa, curl, atftp, U-Boot, dnsmasq). The default.
    #[default]
    ToZero,
    /// 65535 -> 1 (some embedded clients; ARINC 615A).
    ToOne,
    /// Files needing more than 65535 blocks are refused at the request.
    Refuse,
}

impl Rollover {
    /// The wire number of internal block `index` (block 0 is the OACK's acknowledgement).
    pub fn wire(self, index: u64) -> u16 {
        let number = match self {
            Rollover::ToZero | Rollover::Refuse => index & 0xffff,
            Rollover::ToOne if index == 0 => 0,
            Rollover::ToOne => (index - 1) % 0xffff + 1,
        };
        // Both arms reduce the value below 65536.
        u16::try_from(number).unwrap_or(u16::MAX)
    }

    /// The internal index of a wire number `number` that lies in `base..=base + span`, where
    /// `span` is smaller than the sequence period. `None` when no block in that range carries
    /// `number`.
    pub fn index_in(self, number: u16, base: u64, span: u64) -> Option<u64> {
        let (period, number, base_number) = match self {
            Rollover::ToZero | Rollover::Refuse => (0x1_0000u64, u64::from(number), base & 0xffff),
            // Block 0 exists only as the OACK's acknowledgement, before any data.
            Rollover::ToOne if base == 0 => {
                return (u64::from(number) <= span).then_some(u64::from(number));
            }
            // Blocks 1.. carry 1..=65535, period 65535; shift both to 0-based first.
            Rollover::ToOne => {
                if number == 0 {
                    return None;
                }
                (0xffffu64, u64::from(number) - 1, (base - 1) % 0xffff)
            }
        };
        let distance = (number + period - base_number) % period;
        (distance <= span).then_some(base + distance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_numbers_wrap_to_zero_by_default() {
        let r = Rollover::ToZero;
        assert_eq!(r.wire(65535), 65535);
        assert_eq!(r.wire(65536), 0);
        assert_eq!(r.wire(65537), 1);
    }

    #[test]
    fn wire_numbers_can_wrap_to_one() {
        let r = Rollover::ToOne;
        assert_eq!(r.wire(0), 0);
        assert_eq!(r.wire(1), 1);
        assert_eq!(r.wire(65535), 65535);
        assert_eq!(r.wire(65536), 1);
        assert_eq!(r.wire(2 * 65535 + 1), 1);
    }

    #[test]
    fn index_in_finds_blocks_across_the_wrap() {
        for r in [Rollover::ToZero, Rollover::ToOne] {
            for base in [0u64, 1, 65530, 65535, 65536, 131_070, 131_071] {
                for index in base..=base + 16 {
                    assert_eq!(
                        r.index_in(r.wire(index), base, 16),
                        Some(index),
                        "{r:?} {base} {index}"
                    );
                }
                // A number outside the window is not mistaken for one inside it.
                let outside = r.wire(base + 17);
                if (base..=base + 16).all(|i| r.wire(i) != outside) {
                    assert_eq!(r.index_in(outside, base, 16), None);
                }
            }
        }
    }

    #[test]
    fn wrap_to_one_never_matches_zero_after_the_start() {
        assert_eq!(Rollover::ToOne.index_in(0, 65535, 8), None);
    }
}
