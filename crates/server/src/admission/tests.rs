//! Admission under a paused clock: slots, the queue, fairness, the unanswered pool.

use super::*;

const CONFIG: AdmissionConfig = AdmissionConfig {
    queue_length: 4,
    queue_wait: Duration::from_secs(1),
    unanswered_grace: Duration::from_millis(50),
    max_unanswered: 2,
    source_share_percent: 25,
};

fn admission(limit: usize) -> (Arc<Admission>, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    (
        Admission::new(limit, CONFIG, Arc::clone(&counters)),
        counters,
    )
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

fn waits(admit: Admit) -> Wait {
    match admit {
        Admit::Wait(w) => w,
        other => panic!("expected a wait, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_beyond_the_limit_waits_and_gets_the_first_freed_slot() {
    let (a, counters) = admission(1);
    let first = a.try_slot().unwrap();
    let wait = waits(a.admit(ip(2)));
    assert_eq!(counters.get(Counter::QueueLength), 1);
    let waiting = tokio::spawn(wait.slot());
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(first);
    let slot = waiting.await.unwrap().expect("the freed slot");
    assert_eq!(counters.get(Counter::QueueLength), 0);
    assert_eq!(counters.get(Counter::QueueServed), 1);
    assert_eq!(counters.get(Counter::QueueWaitMs), 300);
    assert!(a.try_slot().is_none(), "the slot went to the waiter");
    drop(slot);
    assert!(a.try_slot().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_wait_that_cannot_be_met_is_busy_and_leaves_nothing_behind() {
    let (a, counters) = admission(1);
    let _held = a.try_slot().unwrap();
    let wait = waits(a.admit(ip(2)));
    assert!(wait.slot().await.is_none(), "the deadline passed");
    assert_eq!(counters.get(Counter::QueueTimedOut), 1);
    assert_eq!(counters.get(Counter::QueueLength), 0);
    let pool = a.pool();
    assert!(pool.queue.is_empty());
    assert_eq!(pool.sources.get(&ip(2)), None, "the place is given back");
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_answers_busy_at_once() {
    let (a, counters) = admission(1);
    let _held = a.try_slot().unwrap();
    let queued: Vec<Wait> = (0..4).map(|i| waits(a.admit(ip(10 + i)))).collect();
    assert!(matches!(a.admit(ip(20)), Admit::Busy));
    assert_eq!(counters.get(Counter::QueueFull), 1);
    drop(queued);
    assert_eq!(counters.get(Counter::QueueLength), 0);
}

#[tokio::test(start_paused = true)]
async fn a_source_holding_more_than_its_share_loses_its_newest_place_first() {
    let (a, counters) = admission(1);
    let _held = a.try_slot().unwrap(); // 127.0.0.1
    // Share: 25 % of 1 slot + 4 places = 1. The flooder holds the whole queue.
    let flood: Vec<Wait> = (0..4).map(|_| waits(a.admit(ip(66)))).collect();
    let phone = waits(a.admit(ip(7)));
    assert_eq!(counters.get(Counter::QueueEvicted), 1);
    let mut flood = flood.into_iter();
    let oldest = flood.next().unwrap();
    let newest = flood.next_back().unwrap();
    assert!(
        newest.slot().await.is_none(),
        "the newest flooder place went"
    );
    assert_eq!(a.pool().queue.back().map(|w| w.source), Some(ip(7)));
    // Another source's newcomer does not evict the phone (it holds one, no more).
    assert!(matches!(a.admit(ip(8)), Admit::Wait(_) | Admit::Busy));
    drop((oldest, phone));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_takes_the_place_from_the_heaviest_source_that_has_one() {
    let (a, counters) = admission(10);
    // One source holds every slot but waits for none; another holds the whole queue.
    let _slots: Vec<Slot> = (0..10)
        .map(|_| match a.admit(ip(1)) {
            Admit::Now(slot) => slot,
            other => panic!("{other:?}"),
        })
        .collect();
    let _flood: Vec<Wait> = (0..4).map(|_| waits(a.admit(ip(66)))).collect();
    let _newcomer = waits(a.admit(ip(7)));
    assert_eq!(counters.get(Counter::QueueEvicted), 1);
    assert_eq!(a.pool().queue.back().map(|w| w.source), Some(ip(7)));
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_transfer_gives_its_slot_to_the_queue_and_takes_one_back_when_answered() {
    let (a, counters) = admission(1);
    let half_open = a.try_slot().unwrap();
    let phone = tokio::spawn(waits(a.admit(ip(2))).slot());
    let pending = half_open.unanswered();
    let phone = phone.await.unwrap().expect("the yielded slot");
    assert_eq!(counters.get(Counter::SlotsYielded), 1);
    assert_eq!(counters.get(Counter::TransfersUnanswered), 1);
    // Its client answers after all: the count passes the limit for a moment...
    let late = pending.answered();
    assert_eq!(counters.get(Counter::TransfersUnanswered), 0);
    assert_eq!(a.pool().serving, 2);
    // ...and new requests wait until it is back under.
    let next = waits(a.admit(ip(3)));
    drop(phone);
    assert!(
        a.pool().queue.len() == 1,
        "one slot freed, still at the limit"
    );
    drop(late);
    assert!(next.slot().await.is_some());
}

#[tokio::test(start_paused = true)]
async fn the_unanswered_pool_ends_its_oldest_transfer_when_full() {
    let (a, counters) = admission(10);
    let pending: Vec<Unanswered> = (0..3).map(|_| a.try_slot().unwrap().unanswered()).collect();
    assert!(
        pending[0].reaped().is_cancelled(),
        "the oldest is told to end"
    );
    assert!(!pending[1].reaped().is_cancelled() && !pending[2].reaped().is_cancelled());
    assert_eq!(counters.get(Counter::UnansweredReaped), 1);
    assert_eq!(counters.get(Counter::TransfersUnanswered), 2);
    drop(pending);
    assert_eq!(counters.get(Counter::TransfersUnanswered), 0);
    assert_eq!(a.pool().serving, 0);
}

#[tokio::test(start_paused = true)]
async fn a_higher_limit_serves_waiting_requests_at_once() {
    let (a, _) = admission(1);
    let _held = a.try_slot().unwrap();
    let wait = waits(a.admit(ip(2)));
    a.set_limit(2);
    assert!(wait.slot().await.is_some());
}

#[test]
fn slots_stop_at_the_limit_and_come_back_on_drop() {
    let (a, _) = admission(2);
    let s1 = a.try_slot().unwrap();
    let _s2 = a.try_slot().unwrap();
    assert!(a.try_slot().is_none());
    drop(s1);
    assert!(a.try_slot().is_some());
}

#[test]
fn a_new_limit_applies_to_the_next_request_and_running_slots_are_kept() {
    let (a, _) = admission(3);
    let s1 = a.try_slot().unwrap();
    let s2 = a.try_slot().unwrap();
    a.set_limit(1);
    assert!(a.try_slot().is_none(), "two running, limit one");
    drop(s1);
    assert!(a.try_slot().is_none(), "still one running");
    drop(s2);
    let _s3 = a.try_slot().unwrap();
    a.set_limit(5);
    assert!(a.try_slot().is_some());
}

#[test]
fn a_client_can_hold_one_claim_at_a_time() {
    let (a, _) = admission(1);
    let c: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let claim = a.claim(c, b"rrq").unwrap();
    assert!(a.claim(c, b"rrq").is_none());
    assert!(a.claim("127.0.0.1:5001".parse().unwrap(), b"rrq").is_some());
    drop(claim);
    assert!(a.claim(c, b"rrq").is_some());
}

#[test]
fn an_answered_claim_gives_way_to_a_new_request_and_keeps_it() {
    let (a, _) = admission(1);
    let c: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let first = a.claim(c, b"rrq").unwrap();
    first.mark_answered();
    let second = a.claim(c, b"rrq").expect("a new request after an answer");
    assert!(
        a.claim(c, b"rrq").is_none(),
        "the new request is guarded in turn"
    );
    drop(first); // the old transfer ends: the new claim must survive
    assert!(a.claim(c, b"rrq").is_none());
    drop(second);
    assert!(a.claim(c, b"rrq").is_some());
}

#[test]
fn a_new_request_from_the_same_port_tells_the_old_transfer_its_client_moved_on() {
    let (a, _) = admission(1);
    let c: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let first = a.claim(c, b"XMLDefault.cnf.xml").unwrap();
    let second = a.claim(c, b"SEP001122334455.cnf.xml").unwrap();
    assert!(first.moved_on().is_cancelled());
    assert!(!second.moved_on().is_cancelled());
    assert!(
        a.claim(c, b"SEP001122334455.cnf.xml").is_none(),
        "a retransmission"
    );
    assert!(
        !second.moved_on().is_cancelled(),
        "a retransmission replaces nothing"
    );
}

#[test]
fn a_different_request_from_the_same_port_is_new() {
    let (a, _) = admission(1);
    let c: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let _first = a.claim(c, b"CTLSEP.tlv").unwrap();
    assert!(
        a.claim(c, b"CTLSEP.tlv").is_none(),
        "identical: a retransmission"
    );
    assert!(
        a.claim(c, b"ITLSEP.tlv").is_some(),
        "different: the client moved on"
    );
}
