//! Virtual-time tests of read transfers: every rule of the sender and the receiver, under loss,
//! duplication and reordering of every packet kind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::{Duration, Instant};

use bytes::Bytes;
use phoneboot_tftp::packet::{Opcode, Packet};
use phoneboot_tftp::*;
use proptest::prelude::*;
use sim::*;

/// A server-side transfer of `len` zero bytes to CLIENT, without options.
fn plain_transfer(len: usize) -> (Instant, ReadTransfer) {
    let now = Instant::now();
    let n = negotiate_read(Default::default(), len as u64, &ServerLimits::default());
    let t = ReadTransfer::new(
        now,
        addr(CLIENT),
        Bytes::from(vec![0; len]),
        &n,
        &SenderConfig::default(),
    );
    (now, t.unwrap())
}

#[test]
fn lock_step_delivers_files_of_every_boundary_size() {
    for len in [0usize, 1, 511, 512, 513, 1024, 5000] {
        let content = pseudo_random(len, len as u64);
        let run = Sim::new(content.clone()).run();
        assert_eq!(run.client_result.as_deref(), Ok(&content[..]), "len {len}");
        assert_eq!(run.outcome, Some(Outcome::Completed));
        // RFC 1350: the last block is short, so a multiple of 512 ends with an empty block.
        assert_eq!(
            run.sent(Dir::ToClient, Opcode::Data),
            len / 512 + 1,
            "len {len}"
        );
    }
}

#[test]
fn file_that_is_a_multiple_of_blksize_ends_with_an_empty_block() {
    let run = Sim::new(vec![7u8; 1024]).run();
    let (_, _, last) = run
        .log
        .iter()
        .rev()
        .find(|(_, d, _)| *d == Dir::ToClient)
        .unwrap();
    assert_eq!(
        Packet::parse(last),
        Ok(Packet::Data {
            block: 3,
            payload: &[]
        })
    );
}

#[test]
fn no_oack_when_no_option_is_granted() {
    let run = Sim::new(vec![1u8; 100])
        .options(ClientRequest {
            timeout: None,
            ..opts(Some(4), None, false) // blksize 4 is invalid: left out
        })
        .run();
    assert_eq!(run.sent(Dir::ToClient, Opcode::Oack), 0);
    assert_eq!(run.negotiated.blksize, 512);
    assert!(run.client_result.is_ok());
}

#[test]
fn oack_carries_blksize_and_tsize_and_is_acknowledged_with_ack_zero() {
    let content = pseudo_random(10_000, 3);
    let run = Sim::new(content.clone())
        .options(opts(Some(1428), None, true))
        .run();
    assert_eq!(run.client_result.as_deref(), Ok(&content[..]));
    assert_eq!(run.tsize, Some(10_000));
    assert_eq!(run.negotiated.blksize, 1428);
    let first_ack = run
        .log
        .iter()
        .find(|(_, d, b)| *d == Dir::ToServer && b[1] == Opcode::Ack as u8)
        .unwrap();
    assert_eq!(Packet::parse(&first_ack.2), Ok(Packet::Ack { block: 0 }));
    assert_eq!(run.sent(Dir::ToClient, Opcode::Data), 10_000 / 1428 + 1);
}

#[test]
fn tsize_is_left_out_for_an_empty_file() {
    let run = Sim::new(Vec::new()).options(opts(None, None, true)).run();
    assert_eq!(run.sent(Dir::ToClient, Opcode::Oack), 0);
    assert_eq!(run.tsize, None);
    assert_eq!(run.client_result, Ok(vec![]));
}

#[test]
fn windowed_transfer_acks_once_per_window() {
    let content = pseudo_random(64 * 512 + 100, 9);
    let run = Sim::new(content.clone())
        .options(opts(None, Some(16), false))
        .run();
    assert_eq!(run.client_result.as_deref(), Ok(&content[..]));
    assert_eq!(run.negotiated.windowsize, 16);
    // 65 blocks: ACK 0, ACKs of blocks 16, 32, 48, 64, and of the final block 65.
    assert_eq!(run.sent(Dir::ToServer, Opcode::Ack), 6);
    assert_eq!(run.server_stats.unwrap().segments_retransmitted, 0);
}

#[test]
fn windowsize_is_capped_by_the_server() {
    let mut sim = Sim::new(vec![0u8; 100_000]).options(opts(None, Some(1000), false));
    sim.limits.max_windowsize = 8;
    let run = sim.run();
    assert_eq!(run.negotiated.windowsize, 8);
    assert!(run.client_result.is_ok());
}

/// Every packet kind of a windowed, optioned transfer, lost once, then duplicated, then delayed
/// behind the next ones: the file always arrives intact.
#[test]
fn survives_loss_duplication_and_reordering_of_every_packet_kind() {
    let content = pseudo_random(20 * 512 + 17, 5);
    // (direction, opcode, block) of each packet kind in the transfer.
    let kinds: Vec<(Dir, Opcode, Option<u16>)> = vec![
        (Dir::ToServer, Opcode::Rrq, None),
        (Dir::ToClient, Opcode::Oack, None),
        (Dir::ToServer, Opcode::Ack, Some(0)),
        (Dir::ToClient, Opcode::Data, Some(1)),
        (Dir::ToClient, Opcode::Data, Some(3)),
        (Dir::ToServer, Opcode::Ack, Some(4)),
        (Dir::ToClient, Opcode::Data, Some(21)), // the final, short block
        (Dir::ToServer, Opcode::Ack, Some(21)),  // the final ACK
    ];
    for fate in [
        Fate::Drop,
        Fate::Duplicate,
        Fate::Delay(Duration::from_millis(30)),
    ] {
        for &(dir, opcode, block) in &kinds {
            for windowsize in [None, Some(4)] {
                let run = Sim::new(content.clone())
                    .options(opts(Some(512), windowsize, true))
                    .fault(move |s| {
                        if s.dir == dir
                            && s.opcode == Some(opcode)
                            && s.block == block
                            && s.occurrence == 0
                        {
                            fate
                        } else {
                            Fate::Deliver
                        }
                    })
                    .run();
                let what =
                    format!("{fate:?} of {dir:?} {opcode:?} {block:?}, window {windowsize:?}");
                assert_eq!(run.client_result.as_deref(), Ok(&content[..]), "{what}");
                let outcome = run.outcome.unwrap();
                assert!(outcome.is_success(), "{what}: {outcome:?}");
                if fate == Fate::Duplicate {
                    // Sorcerer's Apprentice: duplicates never cause a retransmission.
                    assert_eq!(
                        run.server_stats.unwrap().segments_retransmitted,
                        0,
                        "{what}"
                    );
                }
            }
        }
    }
}

#[test]
fn duplicate_acks_never_trigger_a_resend() {
    // Every ACK duplicated for the whole transfer: still exactly one DATA per block.
    let content = pseudo_random(50 * 512, 11);
    let run = Sim::new(content.clone())
        .fault(|s| {
            if s.opcode == Some(Opcode::Ack) {
                Fate::Duplicate
            } else {
                Fate::Deliver
            }
        })
        .run();
    assert_eq!(run.client_result.as_deref(), Ok(&content[..]));
    assert_eq!(run.sent(Dir::ToClient, Opcode::Data), 51);
    assert_eq!(run.server_stats.unwrap().segments_retransmitted, 0);
}

#[test]
fn delayed_ack_after_timeout_does_not_start_the_sorcerers_apprentice() {
    // ACK 3 arrives after the server already timed out and resent DATA 4... no: DATA 3. The
    // classic trigger; afterwards every block must still be sent once more at most.
    let content = pseudo_random(30 * 512, 12);
    let run = Sim::new(content.clone())
        .fault(|s| match (s.opcode, s.block, s.occurrence) {
            (Some(Opcode::Ack), Some(3), 0) => Fate::Delay(Duration::from_millis(1500)),
            _ => Fate::Deliver,
        })
        .run();
    assert_eq!(run.client_result.as_deref(), Ok(&content[..]));
    assert_eq!(run.server_stats.unwrap().segments_retransmitted, 1);
}

#[test]
fn loss_inside_a_window_restarts_after_the_last_in_order_block() {
    let content = pseudo_random(32 * 512 + 1, 13);
    let run = Sim::new(content.clone())
        .options(opts(None, Some(8), false))
        .fault(|s| match (s.dir, s.opcode, s.block, s.occurrence) {
            (Dir::ToClient, Some(Opcode::Data), Some(5), 0) => Fate::Drop,
            _ => Fate::Deliver,
        })
        .run();
    assert_eq!(run.client_result.as_deref(), Ok(&content[..]));
    let stats = run.server_stats.unwrap();
    // The client ACKs block 4 at once when 6 arrives; the sender goes back to 5 and resends
    // 5..=8 of the window plus what it had already sent past the gap (6, 7, 8), nothing more.
    assert!(stats.segments_retransmitted <= 4, "{stats:?}");
    assert_eq!(
        stats.timeouts, 0,
        "recovery must not wait for a timeout: {stats:?}"
    );
}

#[test]
fn reordered_window_is_recovered() {
    let content = pseudo_random(16 * 512 + 3, 14);
    let run = Sim::new(content.clone())
        .options(opts(None, Some(16), false))
        .fault(|s| match (s.dir, s.block, s.occurrence) {
            (Dir::ToClient, Some(2), 0) => Fate::Delay(Duration::from_micros(500)),
            _ => Fate::Deliver,
        })
        .run();
    assert_eq!(run.client_result.as_deref(), Ok(&content[..]));
}

#[test]
fn silent_client_times_out_after_bounded_retries_with_exponential_backoff() {
    let mut sim = Sim::new(vec![1u8; 2000]).fault(|s| {
        if s.dir == Dir::ToServer && s.opcode == Some(Opcode::Ack) {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    sim.client.max_retries = 100; // keep the client alive: we test the server's give-up
    sim.client.timeout = Duration::from_secs(100);
    sim.sender.retry.unanswered_retries = 5; // the full budget, to see the backoff cap
    let run = sim.run();
    assert_eq!(run.outcome, Some(Outcome::TimedOut));
    let data_times: Vec<Duration> = run
        .log
        .iter()
        .filter(|(_, d, b)| *d == Dir::ToClient && b[1] == Opcode::Data as u8)
        .map(|(t, _, _)| *t)
        .collect();
    // DATA 1 once plus 5 retries, 1, 2, 4, 8, 8 seconds apart (capped at 8).
    assert_eq!(data_times.len(), 6);
    let gaps: Vec<u64> = data_times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs())
        .collect();
    assert_eq!(gaps, [1, 2, 4, 8, 8]);
}

/// When the server sent DATA `block` (wire number), each time.
fn data_times(run: &Run, block: u16) -> Vec<Duration> {
    let [hi, lo] = block.to_be_bytes();
    run.log
        .iter()
        .filter(|(_, d, b)| *d == Dir::ToClient && b[..4] == [0, 3, hi, lo])
        .map(|(t, _, _)| *t)
        .collect()
}

#[test]
fn a_loss_after_the_round_trip_was_measured_costs_the_floor_not_the_initial_timeout() {
    let content = pseudo_random(40 * 512 + 7, 31);
    let mut sim = Sim::new(content.clone()).fault(|s| match (s.dir, s.opcode, s.block) {
        (Dir::ToClient, Some(Opcode::Data), Some(20)) if s.occurrence == 0 => Fate::Drop,
        _ => Fate::Deliver,
    });
    sim.client.timeout = Duration::from_secs(100); // only the server's timer may recover
    let run = sim.run();
    assert_eq!(run.client_result.as_deref(), Ok(&content[..]));
    let resent = data_times(&run, 20);
    assert_eq!(resent.len(), 2, "DATA 20 lost once, sent again once");
    // A 2 ms round trip: the timeout is the 100 ms floor, not the 1 s a first packet gets.
    assert_eq!(resent[1] - resent[0], Duration::from_millis(100));
    assert_eq!(run.server_stats.unwrap().segments_retransmitted, 1);
}

#[test]
fn no_round_trip_is_measured_on_a_retransmitted_block() {
    // Karn's rule: the ACK after a retransmission may answer either copy.
    let (t0, mut t) = plain_transfer(3 * 512 + 1);
    let mut buf = [0u8; 1024];
    assert!(t.poll_transmit(t0, &mut buf).is_some()); // DATA 1
    let t1 = t0 + Duration::from_secs(1);
    t.handle_timeout(t1);
    assert!(t.poll_transmit(t1, &mut buf).is_some()); // DATA 1 again
    t.handle_datagram(t1 + Duration::from_millis(900), addr(CLIENT), &[0, 4, 0, 1]);
    assert_eq!(
        t.srtt(),
        None,
        "the 1.9 s (or 0.9 s) round trip is not trusted"
    );
    let t2 = t1 + Duration::from_millis(900);
    assert!(t.poll_transmit(t2, &mut buf).is_some()); // DATA 2, sent once
    t.handle_datagram(t2 + Duration::from_millis(30), addr(CLIENT), &[0, 4, 0, 2]);
    assert_eq!(t.srtt(), Some(Duration::from_millis(30)));
    // RFC 6298's first timeout, srtt + 4 * srtt / 2 = 90 ms, raised to the 100 ms floor.
    assert_eq!(t.current_timeout(), Duration::from_millis(100));
}

#[test]
fn a_client_that_goes_silent_is_waited_for_as_long_as_before_however_fast_the_path() {
    let mut sim = Sim::new(vec![1u8; 40 * 512]).fault(|s| match (s.dir, s.opcode, s.block) {
        (Dir::ToServer, Some(Opcode::Ack), Some(b)) if b >= 10 => Fate::Drop,
        _ => Fate::Deliver,
    });
    sim.client.max_retries = 1000;
    sim.client.timeout = Duration::from_secs(1000);
    let run = sim.run();
    assert_eq!(run.outcome, Some(Outcome::TimedOut));
    let tries = data_times(&run, 10);
    let gaps: Vec<u64> = tries
        .windows(2)
        .map(|w| u64::try_from((w[1] - w[0]).as_millis()).unwrap())
        .collect();
    // From the 100 ms floor, doubling to the 8 s cap...
    assert_eq!(gaps, [100, 200, 400, 800, 1600, 3200, 6400, 8000, 8000]);
    // ...and given up exactly when the fixed schedule's 1 + 2 + 4 + 8 + 8 + 8 s were waited:
    // the wait after the last try is cut to the 2.3 s left of it.
    assert_eq!(gaps.iter().sum::<u64>(), 28_700);
    assert_eq!(run.server_stats.unwrap().timeouts, 9);
}

#[test]
fn negotiated_timeout_sets_the_servers_retransmission_interval() {
    let mut sim = Sim::new(vec![1u8; 2000])
        .options(ClientRequest {
            timeout: Some(3),
            ..opts(None, None, false)
        })
        .fault(|s| match (s.dir, s.opcode, s.block, s.occurrence) {
            (Dir::ToServer, Some(Opcode::Ack), Some(1), 0) => Fate::Drop,
            _ => Fate::Deliver,
        });
    sim.client.timeout = Duration::from_secs(100); // only the server's timer may recover
    let run = sim.run();
    assert_eq!(run.negotiated.timeout, Some(Duration::from_secs(3)));
    assert!(run.client_result.is_ok());
    let data2: Vec<Duration> = run
        .log
        .iter()
        .filter(|(_, d, b)| *d == Dir::ToClient && b[..4] == [0, 3, 0, 1])
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(
        data2.len(),
        2,
        "DATA 1 sent, then resent once when its ACK was lost"
    );
    assert_eq!((data2[1] - data2[0]).as_secs(), 3);
}

#[test]
fn a_client_that_never_answers_gets_few_retransmissions() {
    // A spoofed request: every reply goes to a victim that never answers.
    let mut sim = Sim::new(vec![1u8; 2000]).fault(|s| {
        if s.dir == Dir::ToServer && s.opcode != Some(Opcode::Rrq) {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    sim.client.max_retries = 0;
    sim.client.timeout = Duration::from_secs(1000);
    let run = sim.run();
    assert_eq!(run.outcome, Some(Outcome::TimedOut));
    assert_eq!(
        run.sent(Dir::ToClient, Opcode::Data),
        1 + 3,
        "DATA 1 and 3 retransmissions"
    );
}

#[test]
fn lost_final_ack_ends_unconfirmed_after_a_short_linger() {
    let content = pseudo_random(3 * 512 + 1, 15);
    let mut sim = Sim::new(content.clone()).fault(|s| {
        if s.dir == Dir::ToServer && s.block == Some(4) {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    sim.client.timeout = Duration::from_millis(200); // the client dallies briefly and leaves
    let run = sim.run();
    assert_eq!(run.client_result.as_deref(), Ok(&content[..]));
    assert_eq!(run.outcome, Some(Outcome::Unconfirmed));
    // The final block is resent for as long as final_retries (2) take on the 1 s schedule
    // (1 + 2 + 4 s), not max_retries (5): on the measured 100 ms timeout that is 6 resends
    // (0.1 + 0.2 + 0.4 + 0.8 + 1.6 + 3.2 s), then it ends.
    assert_eq!(run.sent(Dir::ToClient, Opcode::Data), 4 + 6);
}

#[test]
fn unacknowledged_oack_is_retransmitted() {
    let content = pseudo_random(700, 16);
    let mut sim = Sim::new(content.clone());
    // A patient client, so that the server's own retransmissions are what recover.
    sim.client.timeout = Duration::from_secs(30);
    let run = sim
        .options(opts(Some(1024), None, true))
        .fault(|s| match (s.dir, s.opcode, s.occurrence) {
            (Dir::ToServer, Some(Opcode::Ack), 0 | 1) if s.block == Some(0) => Fate::Drop,
            _ => Fate::Deliver,
        })
        .run();
    assert_eq!(run.client_result.as_deref(), Ok(&content[..]));
    assert_eq!(run.sent(Dir::ToClient, Opcode::Oack), 3);
}

#[test]
fn error_8_in_reply_to_the_oack_ends_as_options_rejected() {
    let now = Instant::now();
    let mut req = packet::OptionsBuf::new();
    req.push(b"tsize", b"0");
    let n = negotiate_read(req.as_options(), 5000, &ServerLimits::default());
    let mut t = ReadTransfer::new(
        now,
        addr(CLIENT),
        Bytes::from(vec![0; 5000]),
        &n,
        &SenderConfig::default(),
    )
    .unwrap();
    let mut buf = vec![0u8; 600];
    let tx = t.poll_transmit(now, &mut buf).unwrap();
    assert!(matches!(Packet::parse(&buf[..tx.len]), Ok(Packet::Oack(_))));
    t.handle_datagram(now, addr(CLIENT), b"\0\x05\0\x08tsize probe\0");
    assert_eq!(
        t.outcome(),
        Some(&Outcome::OptionsRejected {
            code: ErrorCode::OptionRefused
        })
    );
    assert!(!t.outcome().unwrap().is_success());
    assert_eq!(
        t.poll_transmit(now, &mut buf),
        None,
        "never answer an ERROR"
    );
}

#[test]
fn datagram_from_a_wrong_tid_gets_error_5_and_leaves_the_transfer_alone() {
    let (now, mut t) = plain_transfer(600);
    let mut buf = vec![0u8; 600];
    t.poll_transmit(now, &mut buf).unwrap(); // DATA 1
    let stranger = addr("192.0.2.99:1234");
    t.handle_datagram(now, stranger, &[0, 4, 0, 1]);
    let tx = t.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(tx.destination, stranger);
    assert!(matches!(
        Packet::parse(&buf[..tx.len]),
        Ok(Packet::Error {
            code: ErrorCode::UnknownTransferId,
            ..
        })
    ));
    assert_eq!(
        t.poll_transmit(now, &mut buf),
        None,
        "the stranger's ACK moved nothing"
    );
    // An ERROR from a stranger is not answered.
    t.handle_datagram(now, stranger, b"\0\x05\0\x00x\0");
    assert_eq!(t.poll_transmit(now, &mut buf), None);
    // The real client goes on.
    t.handle_datagram(now, addr(CLIENT), &[0, 4, 0, 1]);
    let tx = t.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(
        Packet::parse(&buf[..tx.len]),
        Ok(Packet::Data {
            block: 2,
            payload: &[0; 88]
        })
    );
    assert_eq!(t.stats().foreign_datagrams, 2);
}

#[test]
fn any_datagram_from_the_peer_shows_it_has_our_answer() {
    let (now, mut t) = plain_transfer(10);
    assert!(!t.heard_from_peer());
    t.handle_datagram(now, addr("192.0.2.99:1"), &[0, 4, 0, 1]);
    assert!(!t.heard_from_peer(), "a stranger proves nothing");
    t.handle_datagram(now, addr(CLIENT), &[0, 4, 0, 9]);
    assert!(
        t.heard_from_peer(),
        "the client knows our port, so it has our answer"
    );
}

#[test]
fn stranger_flood_queues_a_bounded_number_of_replies() {
    let (now, mut t) = plain_transfer(10);
    let mut buf = vec![0u8; 600];
    t.poll_transmit(now, &mut buf).unwrap();
    for port in 0..10_000u16 {
        t.handle_datagram(
            now,
            format!("192.0.2.7:{port}").parse().unwrap(),
            &[0, 4, 0, 1],
        );
    }
    let mut replies = 0;
    while t.poll_transmit(now, &mut buf).is_some() {
        replies += 1;
    }
    assert!(replies <= 4);
}

#[test]
fn data_sent_to_the_server_is_an_illegal_operation() {
    let (now, mut t) = plain_transfer(10);
    let mut buf = vec![0u8; 600];
    t.poll_transmit(now, &mut buf).unwrap();
    t.handle_datagram(now, addr(CLIENT), &[0, 3, 0, 1, 9]);
    let tx = t.poll_transmit(now, &mut buf).unwrap();
    assert!(matches!(
        Packet::parse(&buf[..tx.len]),
        Ok(Packet::Error {
            code: ErrorCode::IllegalOperation,
            ..
        })
    ));
    assert_eq!(t.outcome(), Some(&Outcome::ProtocolViolation));
}

#[test]
fn ack_for_a_future_block_is_ignored() {
    let (now, mut t) = plain_transfer(5000);
    let mut buf = vec![0u8; 600];
    t.poll_transmit(now, &mut buf).unwrap(); // DATA 1
    t.handle_datagram(now, addr(CLIENT), &[0, 4, 0, 7]);
    assert_eq!(t.poll_transmit(now, &mut buf), None);
    assert_eq!(t.stats().segments_acknowledged, 0);
}

fn rollover_run(policy: Rollover, client_policy: Rollover) -> Run {
    // 65536 + 10 blocks of 8 bytes: the block numbers wrap once.
    let content = pseudo_random(8 * (65_536 + 10) + 3, 17);
    let mut sim = Sim::new(content).options(opts(Some(8), Some(64), false));
    sim.sender.rollover = policy;
    sim.client.rollover = client_policy;
    sim.run()
}

#[test]
fn block_numbers_wrap_to_zero_by_default() {
    let run = rollover_run(Rollover::ToZero, Rollover::ToZero);
    assert!(run.client_result.is_ok());
    assert_eq!(run.outcome, Some(Outcome::Completed));
    assert!(
        run.log
            .iter()
            .any(|(_, d, b)| *d == Dir::ToClient && b[..4] == [0, 3, 0, 0])
    );
}

#[test]
fn block_numbers_can_wrap_to_one() {
    let run = rollover_run(Rollover::ToOne, Rollover::ToOne);
    assert!(run.client_result.is_ok());
    assert!(
        !run.log
            .iter()
            .any(|(_, d, b)| *d == Dir::ToClient && b[..4] == [0, 3, 0, 0])
    );
}

#[test]
fn rollover_can_be_refused() {
    let run = rollover_run(Rollover::Refuse, Rollover::ToZero);
    assert!(matches!(
        run.client_result,
        Err(ClientError::Remote {
            code: ErrorCode::NotDefined,
            ..
        })
    ));
    // A file that needs no more than 65535 blocks is still served.
    let mut sim = Sim::new(vec![1u8; 8 * 1000]).options(opts(Some(8), None, false));
    sim.sender.rollover = Rollover::Refuse;
    assert!(sim.run().client_result.is_ok());
}

#[test]
fn client_may_choose_the_wrap_with_the_rollover_option() {
    let content = pseudo_random(8 * 65_540, 18);
    let now = Instant::now();
    let mut req = packet::OptionsBuf::new();
    req.push(b"blksize", b"8").push(b"rollover", b"1");
    let n = negotiate_read(
        req.as_options(),
        content.len() as u64,
        &ServerLimits::default(),
    );
    assert_eq!(n.params.rollover, Some(Rollover::ToOne));
    let t = ReadTransfer::new(
        now,
        addr(CLIENT),
        Bytes::from(content),
        &n,
        &SenderConfig::default(),
    );
    assert!(t.is_ok());
}

#[test]
fn netascii_transfer_converts_line_ends_both_ways() {
    let text = b"line one\nline two\r\nbare cr\r end\n".repeat(40);
    let mut sim = Sim::new(text.clone()).options(opts(None, None, true));
    sim.mode = packet::Mode::Netascii;
    sim.client.mode = packet::Mode::Netascii;
    let run = sim.run();
    assert_eq!(run.client_result.as_deref(), Ok(&text[..]));
    // tsize is the size on the wire, after conversion.
    assert_eq!(run.tsize, Some(netascii::encode(&text).len() as u64));
}

#[test]
fn client_refuses_an_oack_with_an_unrequested_option() {
    let now = Instant::now();
    let mut c = ReadClient::new(now, addr(LISTEN), b"f", ClientConfig::default());
    let mut buf = vec![0u8; 600];
    c.poll_transmit(now, &mut buf).unwrap();
    c.handle_datagram(now, addr(TRANSFER), b"\0\x06blksize\x001024\0");
    let tx = c.poll_transmit(now, &mut buf).unwrap();
    assert!(matches!(
        Packet::parse(&buf[..tx.len]),
        Ok(Packet::Error {
            code: ErrorCode::OptionRefused,
            ..
        })
    ));
    assert!(matches!(c.error(), Some(ClientError::BadOack(_))));
}

#[test]
fn client_answers_a_stranger_with_error_5_and_keeps_its_server() {
    let now = Instant::now();
    let mut c = ReadClient::new(now, addr(LISTEN), b"f", ClientConfig::default());
    let mut buf = vec![0u8; 600];
    c.poll_transmit(now, &mut buf).unwrap();
    c.handle_datagram(now, addr(TRANSFER), &[0, 3, 0, 1, b'a']);
    assert!(c.is_complete());
    let tx = c.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(tx.destination, addr(TRANSFER));
    c.handle_datagram(now, addr("192.0.2.1:50001"), &[0, 3, 0, 1, b'b']);
    let tx = c.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(tx.destination, addr("192.0.2.1:50001"));
    assert_eq!(c.finish(), Ok(b"a".to_vec()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// Any mix of loss, duplication and delay: the transfer either delivers the exact file or
    /// both ends give up cleanly, in bounded virtual time.
    #[test]
    fn random_faults_never_corrupt_and_always_end(
        len in 0usize..6000,
        windowsize in prop_oneof![Just(None), (1u16..=16).prop_map(Some)],
        blksize in prop_oneof![Just(None), (8u16..=1500).prop_map(Some)],
        faults in proptest::collection::vec(0u8..10, 1..64),
    ) {
        let content = pseudo_random(len, len as u64 + 1);
        let mut i = 0usize;
        let run = Sim::new(content.clone())
            .options(opts(blksize, windowsize, true))
            .fault(move |_| {
                let f = faults[i % faults.len()];
                i += 1;
                match f {
                    0 => Fate::Drop,
                    1 => Fate::Duplicate,
                    2 => Fate::Delay(Duration::from_millis(3)),
                    _ => Fate::Deliver,
                }
            })
            .run();
        if let Ok(data) = &run.client_result {
            prop_assert_eq!(data, &content);
        }
        prop_assert!(run.elapsed < Duration::from_secs(3600));
    }
}

#[test]
fn a_client_that_moved_on_ends_the_transfer_at_once_and_a_complete_one_counts_as_delivered() {
    let (t0, mut t) = plain_transfer(3 * 512 + 1);
    let mut buf = [0u8; 1024];
    assert!(t.poll_transmit(t0, &mut buf).is_some());
    t.superseded();
    assert_eq!(t.outcome(), Some(&Outcome::Superseded));
    assert_eq!(t.poll_timeout(), None);
    assert!(
        t.poll_transmit(t0, &mut buf).is_none(),
        "nothing more goes out"
    );
    // Every block out and only the final ACK missing: the client has the file.
    let (t0, mut t) = plain_transfer(100);
    assert!(t.poll_transmit(t0, &mut buf).is_some());
    t.superseded();
    assert_eq!(t.outcome(), Some(&Outcome::Unconfirmed));
}

#[test]
fn a_quiet_transfer_resends_its_first_packet_only_when_the_request_comes_again() {
    let (t0, mut t) = plain_transfer(3 * 512 + 1);
    let mut buf = [0u8; 1024];
    assert!(t.poll_transmit(t0, &mut buf).is_some()); // DATA 1
    t.hold_quiet();
    let mut now = t0;
    let mut sent = 0;
    while let Some(deadline) = t.poll_timeout() {
        now = deadline;
        t.handle_timeout(now);
        while t.poll_transmit(now, &mut buf).is_some() {
            sent += 1;
        }
        if now - t0 == Duration::from_secs(3) {
            t.request_repeated(); // the client asks again
            while t.poll_transmit(now, &mut buf).is_some() {
                sent += 1;
            }
        }
    }
    assert_eq!(
        sent, 1,
        "one resend, for the repeated request, none on the timer"
    );
    assert_eq!(t.outcome(), Some(&Outcome::TimedOut));
    // Given up on the unanswered schedule: 1 + 2 + 4 + 8 s.
    assert_eq!(now - t0, Duration::from_secs(15));
}

#[test]
fn a_transfer_that_is_not_quiet_leaves_a_repeated_request_to_its_timer() {
    let (t0, mut t) = plain_transfer(100);
    let mut buf = [0u8; 1024];
    assert!(t.poll_transmit(t0, &mut buf).is_some());
    t.request_repeated();
    assert!(t.poll_transmit(t0, &mut buf).is_none());
}

#[test]
fn the_last_wait_is_cut_so_a_silent_client_holds_the_slot_no_longer_than_the_fixed_schedule() {
    // Measured round trip 30 ms, then silence: the transfer gives up 31 s after the last
    // progress, to the millisecond, not after a full last backoff.
    let (t0, mut t) = plain_transfer(4 * 512);
    let mut buf = [0u8; 1024];
    assert!(t.poll_transmit(t0, &mut buf).is_some());
    let heard = t0 + Duration::from_millis(30);
    t.handle_datagram(heard, addr(CLIENT), &[0, 4, 0, 1]);
    while t.poll_transmit(heard, &mut buf).is_some() {}
    let mut now = heard;
    while let Some(deadline) = t.poll_timeout() {
        now = deadline;
        t.handle_timeout(now);
        while t.poll_transmit(now, &mut buf).is_some() {}
    }
    assert_eq!(t.outcome(), Some(&Outcome::TimedOut));
    assert_eq!(now - heard, Duration::from_secs(31));
}
