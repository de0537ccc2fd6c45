//! Admission in-process: a request beyond the serving count waits instead of being refused,
//! a half-open request gives its slot up, a harvester is slowed while phones are not, and a
//! request no client sends is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use phoneboot_server::counters::Counter;
use phoneboot_source::Source;
use support::{Peer, Running, Scripted, as_error, found};

const FILE: &[u8] = &[7u8; 3000];

fn files() -> Vec<Arc<dyn Source>> {
    vec![Arc::new(Scripted {
        answers: vec![
            ("load.bin", found(FILE)),
            ("SEP00AA00000001.cnf.xml", found(b"<device/>")),
        ],
        immediate: true,
    })]
}

/// Reads DATA blocks until the short one, ACKing each: the whole file, or None on an ERROR or
/// silence.
async fn fetch_rest(peer: &Peer, first: Vec<u8>, from: std::net::SocketAddr) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut datagram = first;
    loop {
        if datagram[..2] != [0, 3] {
            return None;
        }
        got.extend_from_slice(&datagram[4..]);
        peer.socket
            .send_to(&[0, 4, datagram[2], datagram[3]], from)
            .await
            .unwrap();
        if datagram.len() < 516 {
            return Some(got);
        }
        datagram = peer.recv(Duration::from_secs(5)).await?.0;
    }
}

#[tokio::test]
async fn a_half_open_request_gives_its_slot_to_a_waiting_phone_within_the_grace() {
    let server = Running::start(Some(files()), None, |c| c.max_serving_count = 1).await;
    // A request whose sender never answers (a spoofed source, a client gone).
    let half_open = Peer::new().await;
    half_open.rrq(server.tftp, "load.bin").await;
    assert!(
        half_open.recv(Duration::from_secs(2)).await.is_some(),
        "DATA 1, never ACKed"
    );
    // A phone asks while the only slot is held: it waits, and is served, not refused.
    let phone = Peer::new().await;
    phone.rrq(server.tftp, "load.bin").await;
    let (first, from) = phone.recv(Duration::from_secs(5)).await.expect("an answer");
    assert_eq!(fetch_rest(&phone, first, from).await.as_deref(), Some(FILE));
    // The phone got the slot the half-open transfer gave up, which goes on without one.
    assert_eq!(server.counter(Counter::SlotsYielded), 1);
    assert_eq!(server.counter(Counter::RequestsQueued), 1);
    assert_eq!(server.counter(Counter::QueueServed), 1);
    assert_eq!(server.counter(Counter::RequestsOverflow), 0);
    assert_eq!(server.counter(Counter::TransfersUnanswered), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_request_that_finds_no_slot_within_the_queue_wait_is_answered_busy() {
    let server = Running::start(Some(files()), None, |c| {
        c.max_serving_count = 1;
        c.admission.queue_wait = Duration::from_millis(200);
        c.admission.unanswered_grace = Duration::from_secs(1);
    })
    .await;
    let holder = Peer::new().await;
    holder.rrq(server.tftp, "load.bin").await;
    let _ = holder.recv(Duration::from_secs(2)).await.unwrap();
    let late = Peer::new().await;
    late.rrq(server.tftp, "load.bin").await;
    let (reply, from) = late.recv(Duration::from_secs(5)).await.unwrap();
    assert_eq!(from, server.tftp, "busy goes from the request port");
    assert_eq!(as_error(&reply).map(|e| e.0), Some(0));
    assert_eq!(server.counter(Counter::QueueTimedOut), 1);
    assert_eq!(server.counter(Counter::RequestsOverflow), 1);
    assert_eq!(server.counter(Counter::QueueLength), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_harvester_is_slowed_and_logged_once_while_phones_are_answered() {
    let server = Running::start(Some(files()), None, |c| {
        c.harvest.burst = 50;
        c.harvest.per_minute = 60;
    })
    .await;
    let began = Instant::now();
    let scanner = Peer::on("127.0.0.1").await;
    for i in 0..2000u32 {
        scanner
            .rrq(server.tftp, &format!("SEP00BB{i:08X}.cnf.xml"))
            .await;
        if i % 100 == 99 {
            tokio::task::yield_now().await;
        }
    }
    // A phone on another address: its own file, and a miss of another device file.
    let phone = Peer::on("127.0.0.2").await;
    phone.rrq(server.tftp, "SEP00AA00000001.cnf.xml").await;
    let (data, _) = phone.recv(Duration::from_secs(2)).await.expect("its file");
    assert_eq!(&data[4..], b"<device/>");
    let other = Peer::on("127.0.0.3").await;
    other.rrq(server.tftp, "SEP00AA00000002.cnf.xml").await;
    let (miss, _) = other
        .recv(Duration::from_secs(2))
        .await
        .expect("not found, at once");
    assert_eq!(as_error(&miss).map(|e| e.0), Some(1));
    let mut answered = 0;
    while scanner.recv(Duration::from_millis(300)).await.is_some() {
        answered += 1;
    }
    let refills = began.elapsed().as_secs() + 1;
    assert!(
        answered >= 50 && answered <= 50 + refills,
        "the burst, then one a second: {answered} in {refills} s"
    );
    assert!(server.counter(Counter::HarvestThrottled) >= 1940);
    assert_eq!(server.counter(Counter::HarvestSources), 1);
    // Still counted as misses: the accounting identity holds.
    assert_eq!(server.counter(Counter::RequestsNotFound), 2001);
    server.stop().await;
}

#[tokio::test]
async fn a_request_longer_than_any_client_sends_is_refused() {
    let server = Running::start(Some(files()), None, |_| {}).await;
    let peer = Peer::new().await;
    let mut datagram = vec![0, 1];
    datagram.extend_from_slice(b"load.bin\0octet\0");
    for i in 0..400 {
        datagram.extend_from_slice(format!("opt{i}\0{}\0", "9".repeat(8)).as_bytes());
    }
    peer.socket.send_to(&datagram, server.tftp).await.unwrap();
    let (reply, _) = peer.recv(Duration::from_secs(2)).await.unwrap();
    assert_eq!(as_error(&reply), Some((4, "Request too long".into())));
    assert_eq!(server.counter(Counter::Requests), 0);
    assert_eq!(server.counter(Counter::MalformedDatagrams), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_quiet_transfer_answers_each_repeated_request_with_its_first_packet_and_nothing_else() {
    let server = Running::start(Some(files()), None, |_| {}).await;
    let client = Peer::new().await;
    client.rrq(server.tftp, "load.bin").await;
    let (first, tid) = client.recv(Duration::from_secs(2)).await.unwrap();
    assert_eq!(&first[..4], &[0, 3, 0, 1]);
    // Past the grace the transfer is quiet: no resend on its timer...
    assert!(client.recv(Duration::from_millis(1500)).await.is_none());
    assert_eq!(server.counter(Counter::TransfersUnanswered), 1);
    // ...but the client's repeated request gets DATA 1 again, from the same transfer.
    let mut again = Vec::new();
    for _ in 0..2 {
        client.rrq(server.tftp, "load.bin").await;
        let (data, from) = client.recv(Duration::from_secs(2)).await.unwrap();
        assert_eq!((&data[..4], from), (&[0u8, 3, 0, 1][..], tid));
        assert!(client.recv(Duration::from_millis(200)).await.is_none());
        again = data;
    }
    assert_eq!(server.counter(Counter::RequestsDuplicate), 2);
    // It answers at last: the rest of the file follows.
    assert_eq!(fetch_rest(&client, again, tid).await.as_deref(), Some(FILE));
    server.stop().await;
}
