//! Virtual-time tests of streamed read transfers: content supplied in stretches as the
//! engine asks for it (`wanted` / `supply`), under loss inside windows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::Instant;

use bytes::Bytes;
use phoneboot_tftp::packet::Opcode;
use phoneboot_tftp::*;
use sim::*;

#[test]
fn a_streamed_transfer_holds_only_what_was_supplied_and_delivers_every_byte() {
    // Lock-step and windowed, with loss inside windows (restarts go back before what is held),
    // files of boundary sizes, read-ahead smaller and larger than a window.
    for (len, blksize, windowsize, ahead) in [
        (0usize, None, None, 1000),
        (1024, None, None, 700),
        (100_000, None, None, 4096),
        (100_000, Some(1428), Some(16), 5000),
        (100_000, Some(1428), Some(64), 65_536),
        (3 * 65_464, Some(65_464), Some(4), 1),
    ] {
        let content = pseudo_random(len, len as u64 + 7);
        let sim = Sim::new(content.clone())
            .options(opts(blksize, windowsize, true))
            .streamed(ahead)
            .fault(move |seen| {
                // Every 7th DATA is lost once.
                if seen.opcode == Some(Opcode::Data)
                    && seen.occurrence == 0
                    && seen.block.is_some_and(|b| b % 7 == 3)
                {
                    Fate::Drop
                } else {
                    Fate::Deliver
                }
            });
        let supplied = std::rc::Rc::clone(&sim.supplied);
        let run = sim.run();
        let case = format!("len {len} blksize {blksize:?} window {windowsize:?} ahead {ahead}");
        assert_eq!(run.client_result.as_deref(), Ok(&content[..]), "{case}");
        assert_eq!(run.outcome, Some(Outcome::Completed), "{case}");
        let block = usize::from(blksize.unwrap_or(512));
        for &(offset, got) in supplied.borrow().iter() {
            assert_eq!(
                offset % block as u64,
                0,
                "{case}: supplies start at a block"
            );
            assert!(got <= ahead.max(block), "{case}: never more than asked");
        }
        if len > 0 {
            assert!(!supplied.borrow().is_empty(), "{case}");
        }
    }
}

#[test]
fn a_streamed_transfer_sends_nothing_it_was_not_given() {
    let now = Instant::now();
    let n = negotiate_read(Default::default(), 2000, &ServerLimits::default());
    let mut t =
        ReadTransfer::streamed(now, addr(CLIENT), 2000, &n, &SenderConfig::default()).unwrap();
    let mut buf = [0u8; 600];
    assert_eq!(t.wanted(), Some(0..512));
    assert!(t.poll_transmit(now, &mut buf).is_none());
    t.supply(0, Bytes::from(vec![1u8; 600]));
    assert_eq!(t.wanted(), None);
    let tx = t.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(tx.len, 516);
    t.handle_datagram(now, addr(CLIENT), &[0, 4, 0, 1]);
    // Block 2 is bytes 512..1024: 600 bytes held from 0 do not cover it.
    assert_eq!(t.wanted(), Some(512..1024));
    assert!(t.poll_transmit(now, &mut buf).is_none());
}
