//! Admission control: the Maximum Serving Count, the queue in front of it, the transfers whose
//! client has not answered yet, and the duplicate-request guard.
//!
//! A request that finds every slot taken waits in a bounded queue for one, up to a deadline
//! well inside a phone's own retransmission timer, and is answered busy only when the wait
//! cannot be met or the queue is full: a burst is absorbed, busy means real overload. A
//! transfer holds its slot while its client answers; one whose first packet went unanswered
//! for the grace time (a half-open request, a spoofed source, a client gone) gives its slot to
//! the queue and waits in a bounded pool of its own, taking a slot again if its client does
//! answer. So half-open requests cannot hold the server, however many come. When the queue is
//! full, a source holding more than its share of slots and queue loses its newest waiter to a
//! newcomer from another source.
//!
//! Everything is handed out as RAII guards ([`Slot`], [`Wait`], [`Unanswered`], [`Claim`]),
//! so a slot or a place can never leak, whatever path a transfer takes to its end.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::config::AdmissionConfig;
use crate::counters::{Counter, Counters};

/// Serving slots, the queue for them, and the set of clients with a request being handled.
#[derive(Debug)]
pub(crate) struct Admission {
    pool: Mutex<Pool>,
    counters: Arc<Counters>,
    /// Client address -> the claim holding it. A claim whose transfer has heard from the client
    /// is `answered`: a new request from that address then replaces it.
    clients: Mutex<HashMap<SocketAddr, Entry>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Pool {
    config: AdmissionConfig,
    /// The Maximum Serving Count; changes when the database's parameter does.
    limit: usize,
    /// Slots held. May pass `limit` for a moment: a transfer whose client answers late takes
    /// its slot back whatever the count (it holds its client already).
    serving: usize,
    queue: VecDeque<Waiter>,
    /// Slots held and places queued per source address; sources holding none are removed.
    sources: HashMap<IpAddr, usize>,
    /// Transfers waiting for their client's first answer, oldest first.
    unanswered: VecDeque<(u64, CancellationToken)>,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    source: IpAddr,
    /// Sent when the waiter is given a slot (already counted as its own).
    grant: oneshot::Sender<()>,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    /// Hash of the request datagram: a retransmission is identical, anything else is new.
    request: u64,
    answered: bool,
    /// Cancelled when a new request from the same address and port replaces this one.
    moved_on: CancellationToken,
    /// Counts and announces the client's repetitions of this request before it heard from us.
    repeated: Arc<Repeats>,
    /// In single-port mode, where the listener hands this client's other datagrams (its ACKs
    /// and ERRORs) to the transfer.
    inbox: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
}

/// Datagrams a single-port transfer may have waiting: a lock-step client has one in flight,
/// a windowed one a few (its ACKs); more are dropped, as a full socket buffer would.
const INBOX: usize = 16;
/// The most of a client's datagram handed to its transfer (what the transfer's own socket
/// reads too).
const MAX_FROM_CLIENT: usize = 2048;

/// How often a client repeated its request, and a wake-up for each time.
#[derive(Debug, Default)]
pub(crate) struct Repeats {
    count: AtomicU64,
    notify: tokio::sync::Notify,
}

impl Repeats {
    /// Repetitions so far.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Completes when a repetition may have come since it was called (a wake-up left from
    /// before is possible: compare [`Repeats::count`]).
    pub(crate) async fn changed(&self) {
        self.notify.notified().await;
    }
}

/// What a request gets from [`Admission::admit`].
#[derive(Debug)]
pub(crate) enum Admit {
    Now(Slot),
    /// Every slot is taken: wait for one.
    Wait(Wait),
    /// The queue is full.
    Busy,
}

impl Pool {
    fn holds(&mut self, source: IpAddr, delta: isize) {
        let n = self.sources.entry(source).or_insert(0);
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            self.sources.remove(&source);
        }
    }

    /// Gives free slots to the waiters at the head of the queue.
    fn grant(&mut self, counters: &Counters) {
        while self.serving < self.limit {
            let Some(waiter) = self.queue.pop_front() else {
                break;
            };
            counters.decr(Counter::QueueLength);
            if waiter.grant.send(()).is_ok() {
                self.serving += 1;
            } else {
                // Its wait ended (deadline, client gone) as the slot came.
                self.holds(waiter.source, -1);
            }
        }
    }

    /// A full queue: the newest waiter of the heaviest source other than `newcomer`, if that
    /// source holds more than its share and more than the newcomer does, gives way.
    fn evict_for(&mut self, newcomer: IpAddr) -> bool {
        let share = (self.limit + self.config.queue_length)
            * usize::from(self.config.source_share_percent)
            / 100;
        let mine = self.sources.get(&newcomer).copied().unwrap_or(0);
        // The heaviest source that has a place to lose.
        let Some((heavy, held)) = self
            .queue
            .iter()
            .map(|w| (w.source, self.sources.get(&w.source).copied().unwrap_or(0)))
            .max_by_key(|(_, held)| *held)
        else {
            return false;
        };
        if heavy == newcomer || held <= share.max(1) || held <= mine + 1 {
            return false;
        }
        let Some(at) = self.queue.iter().rposition(|w| w.source == heavy) else {
            return false;
        };
        // Dropping its sender ends the waiter's wait: it is answered busy.
        self.queue.remove(at);
        self.holds(heavy, -1);
        true
    }
}

impl Admission {
    pub(crate) fn new(limit: usize, config: AdmissionConfig, counters: Arc<Counters>) -> Arc<Self> {
        Arc::new(Self {
            pool: Mutex::new(Pool {
                config,
                limit,
                serving: 0,
                queue: VecDeque::new(),
                sources: HashMap::new(),
                unanswered: VecDeque::new(),
            }),
            counters,
            clients: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        })
    }

    fn pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
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
        // The same request again: a retransmission, as long as we have not answered it. On
        // the request port (single-port mode) even after: the transfer it would start would
        // share its client's address and port with the running one, as dnsmasq also rules.
        if let Some(entry) = clients
            .get(&client)
            .filter(|e| e.request == request && (!e.answered || e.inbox.is_some()))
        {
            if !entry.answered {
                entry.repeated.count.fetch_add(1, Ordering::AcqRel);
                entry.repeated.notify.notify_one();
            }
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let moved_on = CancellationToken::new();
        let repeated = Arc::new(Repeats::default());
        let previous = clients.insert(
            client,
            Entry {
                id,
                request,
                answered: false,
                moved_on: moved_on.clone(),
                repeated: Arc::clone(&repeated),
                inbox: None,
            },
        );
        // A different request: the client gave the old one up. (The same request again after
        // an answer is a late duplicate or a new download of the same file: the old transfer,
        // if its client is still there, finishes.)
        if let Some(previous) = previous.filter(|p| p.request != request) {
            // Whatever still goes to this address and port would reach the new request's
            // socket, which takes the first answer it hears.
            previous.moved_on.cancel();
        }
        Some(Claim {
            admission: Arc::clone(self),
            client,
            id,
            moved_on,
            repeated,
        })
    }

    /// Hands a datagram from `client` to its single-port transfer, if it has one (dropped when
    /// the transfer has too many waiting). False: no transfer takes this client's datagrams.
    pub(crate) fn deliver(&self, client: SocketAddr, datagram: &[u8]) -> bool {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        match clients.get(&client).and_then(|e| e.inbox.as_ref()) {
            Some(inbox) => {
                // A client sends a read transfer ACKs and ERRORs: a short prefix is all there
                // is to read, and nothing is copied for a full inbox.
                if let Ok(place) = inbox.try_reserve() {
                    place.send(datagram.get(..MAX_FROM_CLIENT).unwrap_or(datagram).to_vec());
                }
                true
            }
            None => false,
        }
    }

    /// A new Maximum Serving Count. Transfers already running keep their slots; a lower
    /// limit makes new requests wait until enough of them end, a higher one serves waiting
    /// requests at once.
    pub(crate) fn set_limit(&self, limit: usize) {
        let mut pool = self.pool();
        pool.limit = limit;
        pool.grant(&self.counters);
    }

    /// New limits of the queue and the unanswered pool (a configuration reload). Requests
    /// already waiting keep their places.
    pub(crate) fn set_config(&self, config: AdmissionConfig) {
        self.pool().config = config;
    }

    /// A slot for a request from `source`: at once, after a wait, or none.
    pub(crate) fn admit(self: &Arc<Self>, source: IpAddr) -> Admit {
        let mut pool = self.pool();
        if pool.serving < pool.limit && pool.queue.is_empty() {
            pool.serving += 1;
            pool.holds(source, 1);
            return Admit::Now(Slot::held(Arc::clone(self), source));
        }
        if pool.queue.len() >= pool.config.queue_length {
            if !pool.evict_for(source) {
                self.counters.incr(Counter::QueueFull);
                return Admit::Busy;
            }
            self.counters.decr(Counter::QueueLength);
            self.counters.incr(Counter::QueueEvicted);
        }
        let (grant, granted) = oneshot::channel();
        let id = self.id();
        pool.queue.push_back(Waiter { id, source, grant });
        pool.holds(source, 1);
        self.counters.incr(Counter::QueueLength);
        self.counters.incr(Counter::RequestsQueued);
        let deadline = tokio::time::Instant::now() + pool.config.queue_wait;
        Admit::Wait(Wait {
            admission: Arc::clone(self),
            id,
            source,
            granted,
            deadline,
            done: false,
        })
    }

    /// Takes a serving slot if one is free now (the queue empty), without waiting.
    #[cfg(test)]
    pub(crate) fn try_slot(self: &Arc<Self>) -> Option<Slot> {
        match self.admit("127.0.0.1".parse().expect("address")) {
            Admit::Now(slot) => Some(slot),
            _ => None,
        }
    }

    fn release(&self, source: IpAddr) {
        let mut pool = self.pool();
        pool.serving = pool.serving.saturating_sub(1);
        pool.holds(source, -1);
        pool.grant(&self.counters);
    }
}

/// A request's place in the queue; dropping it gives the place up.
#[derive(Debug)]
pub(crate) struct Wait {
    admission: Arc<Admission>,
    id: u64,
    source: IpAddr,
    granted: oneshot::Receiver<()>,
    deadline: tokio::time::Instant,
    /// The place became a slot: nothing for Drop to give back.
    done: bool,
}

impl Wait {
    /// Waits for a slot until the configured deadline; `None` when none came (busy).
    pub(crate) async fn slot(mut self) -> Option<Slot> {
        let waited = tokio::time::Instant::now();
        let got = tokio::time::timeout_at(self.deadline, &mut self.granted).await;
        let counters = &self.admission.counters;
        counters.add(
            Counter::QueueWaitMs,
            u64::try_from(waited.elapsed().as_millis()).unwrap_or(u64::MAX),
        );
        match got {
            Ok(Ok(())) => {
                counters.incr(Counter::QueueServed);
                Some(self.into_slot())
            }
            // The deadline passed, or a newcomer took the place (a heavy source's eviction).
            Ok(Err(_)) | Err(_) => {
                counters.incr(Counter::QueueTimedOut);
                None
            }
        }
    }

    fn into_slot(mut self) -> Slot {
        self.done = true;
        Slot::held(Arc::clone(&self.admission), self.source)
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut pool = self.admission.pool();
        if let Some(at) = pool.queue.iter().position(|w| w.id == self.id) {
            pool.queue.remove(at);
            pool.holds(self.source, -1);
            self.admission.counters.decr(Counter::QueueLength);
            return;
        }
        drop(pool);
        // Not queued any more: a slot may have been granted as the wait ended.
        self.granted.close();
        if self.granted.try_recv().is_ok() {
            self.admission.release(self.source);
        }
    }
}

/// A client's claim; released on drop.
#[derive(Debug)]
pub(crate) struct Claim {
    admission: Arc<Admission>,
    client: SocketAddr,
    id: u64,
    moved_on: CancellationToken,
    repeated: Arc<Repeats>,
}

impl Claim {
    /// The client's repetitions of its request before it heard from us.
    pub(crate) fn repeated(&self) -> &Repeats {
        &self.repeated
    }

    /// Cancelled when the client sends a new request from the same address and port: it has
    /// given this one up, and the transfer must stop sending there.
    pub(crate) fn moved_on(&self) -> &CancellationToken {
        &self.moved_on
    }

    /// From now on the listener hands this client's datagrams (all but requests) to the
    /// returned inbox: the transfer answers from the request port (single-port mode).
    pub(crate) fn inbox(&self) -> tokio::sync::mpsc::Receiver<Vec<u8>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(INBOX);
        self.with_entry(|e| e.inbox = Some(sender));
        receiver
    }

    /// The client has our answer: its next request from this address is a new one (a client
    /// whose port is reused, or a phone asking for its next file from the same port).
    pub(crate) fn mark_answered(&self) {
        self.with_entry(|e| e.answered = true);
    }

    /// Changes this claim's entry, if a newer request has not replaced it.
    fn with_entry(&self, change: impl FnOnce(&mut Entry)) {
        let mut clients = self
            .admission
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(e) = clients.get_mut(&self.client).filter(|e| e.id == self.id) {
            change(e);
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
    source: IpAddr,
    /// False once the slot was given up another way ([`Slot::unanswered`]).
    held: bool,
}

impl Slot {
    fn held(admission: Arc<Admission>, source: IpAddr) -> Self {
        Self {
            admission,
            source,
            held: true,
        }
    }

    /// The transfer's first packet went unanswered for the grace time: its slot goes to the
    /// queue, and the transfer waits in the unanswered pool. When the pool is full, its oldest
    /// transfer is told to end ([`Unanswered::reaped`]).
    pub(crate) fn unanswered(mut self) -> Unanswered {
        self.held = false;
        let admission = Arc::clone(&self.admission);
        let source = self.source;
        let id = admission.id();
        let reaped = CancellationToken::new();
        let mut pool = admission.pool();
        pool.serving = pool.serving.saturating_sub(1);
        pool.holds(source, -1);
        pool.grant(&admission.counters);
        // `while`: a reload may have lowered the bound.
        while pool.unanswered.len() >= pool.config.max_unanswered.max(1)
            && let Some((_, oldest)) = pool.unanswered.pop_front()
        {
            oldest.cancel();
            admission.counters.decr(Counter::TransfersUnanswered);
            admission.counters.incr(Counter::UnansweredReaped);
        }
        pool.unanswered.push_back((id, reaped.clone()));
        // Counted under the lock, as the reaping is: the gauge never dips below zero.
        admission.counters.incr(Counter::TransfersUnanswered);
        drop(pool);
        admission.counters.incr(Counter::SlotsYielded);
        Unanswered {
            admission,
            id,
            source,
            reaped,
        }
    }

    /// The grace a transfer's first packet gets before its slot goes to the queue.
    pub(crate) fn grace(&self) -> Duration {
        self.admission.pool().config.unanswered_grace
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.held {
            self.admission.release(self.source);
        }
    }
}

/// A transfer whose client has not answered its first packet; it holds no slot.
#[derive(Debug)]
pub(crate) struct Unanswered {
    admission: Arc<Admission>,
    id: u64,
    source: IpAddr,
    reaped: CancellationToken,
}

impl Unanswered {
    /// Cancelled when the pool needed this transfer's place: it is to end.
    pub(crate) fn reaped(&self) -> &CancellationToken {
        &self.reaped
    }

    /// The client answered: the transfer takes a slot again, whatever the count (it holds
    /// its client already; new requests wait until the count is back under the limit).
    pub(crate) fn answered(self) -> Slot {
        let admission = Arc::clone(&self.admission);
        let source = self.source;
        drop(self);
        let mut pool = admission.pool();
        pool.serving += 1;
        pool.holds(source, 1);
        drop(pool);
        Slot::held(admission, source)
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        let mut pool = self.admission.pool();
        if let Some(at) = pool.unanswered.iter().position(|(id, _)| *id == self.id) {
            pool.unanswered.remove(at);
            self.admission.counters.decr(Counter::TransfersUnanswered);
        }
    }
}

#[cfg(test)]
mod tests;
