//! Admission control: the Maximum Serving Count and the duplicate-request guard.
//!
//! Both hand out RAII guards, so a slot or a claim can never leak, whatever path a transfer
//! takes to its end.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Serving slots and the set of clients with a request being handled.
#[derive(Debug)]
pub(crate) struct Admission {
    /// The Maximum Serving Count; changes when the database's parameter does.
    limit: AtomicUsize,
    serving: AtomicUsize,
    /// Client address -> the claim holding it. A claim whose transfer has heard from the client
    /// is `answered`: a new request from that address then replaces it.
    clients: Mutex<HashMap<SocketAddr, Entry>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    /// Hash of the request datagram: a retransmission is identical, anything else is new.
    request: u64,
    answered: bool,
}

impl Admission {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: AtomicUsize::new(limit),
            serving: AtomicUsize::new(0),
            clients: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        })
    }

    /// Claims a client's address and port for one request. `None` means the same request from
    /// the same address and port is being handled and not yet answered: this one is a
    /// retransmission (a client resends its request, unchanged, until it is answered) and must
    /// not start a second transfer. A different request, or one after the client answered, is
    /// new: the client has moved on (or its port was reused).
    pub(crate) fn claim(self: &Arc<Self>, client: SocketAddr, datagram: &[u8]) -> Option<Claim> {
        let request = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hasher::write(&mut h, datagram);
            std::hash::Hasher::finish(&h)
        };
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients
            .get(&client)
            .is_some_and(|e| !e.answered && e.request == request)
        {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        clients.insert(
            client,
            Entry {
                id,
                request,
                answered: false,
            },
        );
        Some(Claim {
            admission: Arc::clone(self),
            client,
            id,
        })
    }

    /// A new Maximum Serving Count. Transfers already running keep their slots; a lower
    /// limit turns new requests away until enough of them end.
    pub(crate) fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Takes a serving slot, or `None` at Maximum Serving Count.
    pub(crate) fn try_slot(self: &Arc<Self>) -> Option<Slot> {
        self.serving
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit.load(Ordering::Relaxed)).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot {
                admission: Arc::clone(self),
            })
    }
}

/// A client's claim; released on drop.
#[derive(Debug)]
pub(crate) struct Claim {
    admission: Arc<Admission>,
    client: SocketAddr,
    id: u64,
}

impl Claim {
    /// The client has our answer: its next request from this address is a new one (a client
    /// whose port is reused, or a phone asking for its next file from the same port).
    pub(crate) fn mark_answered(&self) {
        let mut clients = self
            .admission
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(e) = clients.get_mut(&self.client).filter(|e| e.id == self.id) {
            e.answered = true;
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut clients = self
            .admission
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Only our own entry: a newer request may already have replaced it.
        if clients.get(&self.client).is_some_and(|e| e.id == self.id) {
            clients.remove(&self.client);
        }
    }
}

/// A serving slot; released on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    admission: Arc<Admission>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.serving.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stop_at_the_limit_and_come_back_on_drop() {
        let a = Admission::new(2);
        let s1 = a.try_slot().unwrap();
        let _s2 = a.try_slot().unwrap();
        assert!(a.try_slot().is_none());
        drop(s1);
        assert!(a.try_slot().is_some());
    }

    #[test]
    fn a_new_limit_applies_to_the_next_request_and_running_slots_are_kept() {
        let a = Admission::new(3);
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
        let a = Admission::new(1);
        let c: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let claim = a.claim(c, b"rrq").unwrap();
        assert!(a.claim(c, b"rrq").is_none());
        assert!(a.claim("127.0.0.1:5001".parse().unwrap(), b"rrq").is_some());
        drop(claim);
        assert!(a.claim(c, b"rrq").is_some());
    }

    #[test]
    fn an_answered_claim_gives_way_to_a_new_request_and_keeps_it() {
        let a = Admission::new(1);
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
    fn a_different_request_from_the_same_port_is_new() {
        let a = Admission::new(1);
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
}
