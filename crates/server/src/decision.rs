//! The one decision every request gets, whatever its transport: serve the file, holding a
//! serving slot, or refuse it — counted once and logged once, here. TFTP and HTTP only
//! translate a [`Decision`] to their wire, both from one table ([`REFUSALS`]).
//!
//! A request is counted from arrival to its one outcome by a [`Ticket`]: opened when it
//! arrives (Requests, RequestsInProgress; HttpRequests, HttpConnectRequests), closed exactly
//! once with its outcome, and closed as aborted if it is dropped on a path that forgot to
//! (a task cancelled, a client gone). So the accounting identity of `counters` holds by
//! construction, not by care at each call site.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::StatusCode;
use phoneboot_source::{Denied, File, Lookup, Query, Transport};
use phoneboot_tftp::ErrorCode;
use tracing::{debug, info, warn};

use crate::admission::{Admit, Slot, Unanswered, Wait};
use crate::config::{BusyReply, Config};
use crate::counters::{Counter, Counters};
use crate::{Shared, misses};

/// Why a request is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No source has the file.
    NotFound,
    /// The name may not be served.
    Denied,
    /// At Maximum Serving Count, or the alternate server that has the file is busy: try later.
    Busy,
    /// A source failed (a read error, a profile converter that broke).
    Failed,
    /// A missing device file asked for by a source that asks for too many of them (a
    /// configuration harvest): left unanswered over TFTP, 429 over HTTP.
    Throttled,
}

/// What a request gets.
#[derive(Debug)]
pub(crate) enum Decision {
    Serve(Serving),
    /// Every serving slot is taken: the file is served when one frees within the queue wait,
    /// else refused busy ([`Queued::admitted`]).
    Queued(Queued),
    Refuse(Refusal),
}

/// A found file waiting for a serving slot.
#[derive(Debug)]
pub(crate) struct Queued {
    file: File,
    ticket: Ticket,
    wait: Wait,
    client: std::net::SocketAddr,
}

impl Queued {
    /// Waits for the slot: the file to serve, or busy when none came in time.
    pub(crate) async fn admitted(self) -> Result<Serving, Refusal> {
        let Self {
            file,
            ticket,
            wait,
            client,
        } = self;
        match wait.slot().await {
            Some(slot) => Ok(Serving::holding(file, ticket, slot)),
            None => {
                debug!(%client, "busy: no serving slot within the queue wait");
                ticket.close(Outcome::Overflow);
                Err(Refusal::Busy)
            }
        }
    }
}

impl Decision {
    /// The decision once any wait for a slot is over: the file to serve, or the refusal.
    pub(crate) async fn settled(self) -> Result<Serving, Refusal> {
        match self {
            Self::Serve(serving) => Ok(serving),
            Self::Refuse(refusal) => Err(refusal),
            Self::Queued(queued) => queued.admitted().await,
        }
    }
}

/// A file to send, with what it holds while it is sent.
#[derive(Debug)]
pub(crate) struct Serving {
    pub(crate) file: File,
    ticket: Ticket,
    hold: Hold,
}

/// What a file being sent holds of the serving count.
#[derive(Debug)]
enum Hold {
    /// An empty file: one packet, no slot (CUCM's defect was that missing and empty files
    /// took one).
    Nothing,
    Slot(Slot),
    /// The client has not answered the first packet within the grace time: no slot.
    Unanswered(Unanswered),
}

impl Serving {
    fn holding(file: File, ticket: Ticket, slot: Slot) -> Self {
        Self {
            file,
            ticket,
            hold: Hold::Slot(slot),
        }
    }

    /// How long the first packet may go unanswered before the slot goes to the queue; `None`
    /// when no slot is held.
    pub(crate) fn grace(&self) -> Option<std::time::Duration> {
        match &self.hold {
            Hold::Slot(slot) => Some(slot.grace()),
            _ => None,
        }
    }

    /// The client has not answered within the grace time: the slot goes to the queue.
    pub(crate) fn unanswered(&mut self) {
        if let Hold::Slot(slot) = std::mem::replace(&mut self.hold, Hold::Nothing) {
            self.hold = Hold::Unanswered(slot.unanswered());
        }
    }

    /// The client answered: a slot is held again.
    pub(crate) fn answered(&mut self) {
        match std::mem::replace(&mut self.hold, Hold::Nothing) {
            Hold::Unanswered(pending) => self.hold = Hold::Slot(pending.answered()),
            other => self.hold = other,
        }
    }

    /// Cancelled when an unanswered transfer is to end (the pool of them is full).
    pub(crate) fn reaped(&self) -> Option<tokio_util::sync::CancellationToken> {
        match &self.hold {
            Hold::Unanswered(pending) => Some(pending.reaped().clone()),
            _ => None,
        }
    }

    /// The file has gone out (or not): the request is counted, the slot freed.
    pub(crate) fn close(self, outcome: Outcome) {
        self.ticket.close(outcome);
    }
}

/// How one refusal goes on each wire, and how it is counted: the one table both transports
/// read, so a refusal cannot mean one thing over TFTP and another over HTTP.
#[derive(Debug)]
pub struct RefusalWire {
    pub refusal: Refusal,
    /// The TFTP ERROR, `None` for silence; for [`Refusal::Busy`] the text is the configured
    /// busy message (or nothing at all with `busy_reply = "drop"`).
    pub tftp: Option<(ErrorCode, &'static str)>,
    /// The HTTP status and body; a 503 also carries Retry-After.
    pub http: (StatusCode, &'static str),
    pub outcome: Outcome,
}

pub static REFUSALS: [RefusalWire; 5] = [
    RefusalWire {
        refusal: Refusal::NotFound,
        tftp: Some((ErrorCode::FileNotFound, "File not found")),
        http: (StatusCode::NOT_FOUND, "File not found\n"),
        outcome: Outcome::NotFound,
    },
    RefusalWire {
        refusal: Refusal::Denied,
        tftp: Some((ErrorCode::AccessViolation, "Access violation")),
        http: (StatusCode::FORBIDDEN, "Access violation\n"),
        outcome: Outcome::Denied,
    },
    RefusalWire {
        refusal: Refusal::Busy,
        tftp: Some((ErrorCode::NotDefined, crate::config::default::BUSY_MESSAGE)),
        http: (
            StatusCode::SERVICE_UNAVAILABLE,
            "Server busy, try again later\n",
        ),
        outcome: Outcome::Overflow,
    },
    RefusalWire {
        refusal: Refusal::Failed,
        tftp: Some((ErrorCode::NotDefined, "Read error")),
        http: (StatusCode::INTERNAL_SERVER_ERROR, "Read error\n"),
        outcome: Outcome::Aborted,
    },
    RefusalWire {
        refusal: Refusal::Throttled,
        // Silence: a harvester waits out its own timeout for each name.
        tftp: None,
        http: (StatusCode::TOO_MANY_REQUESTS, "Too many requests\n"),
        // It is a miss, and counted as one.
        outcome: Outcome::NotFound,
    },
];

impl Refusal {
    pub fn wire(self) -> &'static RefusalWire {
        match self {
            Self::NotFound => &REFUSALS[0],
            Self::Denied => &REFUSALS[1],
            Self::Busy => &REFUSALS[2],
            Self::Failed => &REFUSALS[3],
            Self::Throttled => &REFUSALS[4],
        }
    }

    /// The TFTP ERROR to send, or `None` (a busy server configured to stay silent).
    pub(crate) fn tftp_reply(self, config: &Config) -> Option<(ErrorCode, Cow<'_, str>)> {
        let (code, text) = self.wire().tftp?;
        match self {
            Self::Busy if config.busy_reply == BusyReply::Drop => None,
            Self::Busy => Some((code, Cow::Borrowed(config.busy_message.as_str()))),
            _ => Some((code, Cow::Borrowed(text))),
        }
    }
}

/// How a request ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Processed,
    NotFound,
    Overflow,
    Aborted,
    Denied,
    /// The client refused our options (a firmware's tsize probe); TFTP only.
    OptionProbe,
}

impl Outcome {
    /// Where a request that ended so over `transport` is counted.
    pub fn counter(self, transport: Transport) -> Counter {
        match (transport, self) {
            (Transport::Tftp, Self::Processed) => Counter::RequestsProcessed,
            (Transport::Tftp, Self::NotFound) => Counter::RequestsNotFound,
            (Transport::Tftp, Self::Overflow) => Counter::RequestsOverflow,
            (Transport::Tftp, Self::Aborted) => Counter::RequestsAborted,
            (Transport::Tftp, Self::Denied) => Counter::RequestsDenied,
            (Transport::Tftp, Self::OptionProbe) => Counter::RequestsOptionProbe,
            (Transport::Http, Self::Processed | Self::OptionProbe) => {
                Counter::HttpRequestsProcessed
            }
            (Transport::Http, Self::NotFound) => Counter::HttpRequestsNotFound,
            (Transport::Http, Self::Overflow) => Counter::HttpRequestsOverflow,
            (Transport::Http, Self::Aborted) => Counter::HttpRequestsAborted,
            (Transport::Http, Self::Denied) => Counter::HttpRequestsDenied,
        }
    }
}

/// One request's place in the counters, from arrival to its one outcome.
#[derive(Debug)]
pub(crate) struct Ticket {
    counters: Arc<Counters>,
    transport: Transport,
    open: bool,
    /// A device's own file: recorded as fetched when the request ends processed.
    fetch: Option<(Arc<crate::fetches::Fetches>, crate::fetches::Pending)>,
}

impl Ticket {
    /// A request arrived: counted in Requests and RequestsInProgress (HTTP: HttpRequests and
    /// HttpConnectRequests) until it is closed.
    pub(crate) fn open(counters: &Arc<Counters>, transport: Transport) -> Self {
        let (arrived, running) = Self::gauges(transport);
        counters.incr(arrived);
        counters.incr(running);
        Self {
            counters: Arc::clone(counters),
            transport,
            open: true,
            fetch: None,
        }
    }

    fn gauges(transport: Transport) -> (Counter, Counter) {
        match transport {
            Transport::Tftp => (Counter::Requests, Counter::RequestsInProgress),
            Transport::Http => (Counter::HttpRequests, Counter::HttpConnectRequests),
        }
    }

    /// The request ended with `outcome`.
    pub(crate) fn close(mut self, outcome: Outcome) {
        self.finish(outcome);
    }

    fn finish(&mut self, outcome: Outcome) {
        if std::mem::take(&mut self.open) {
            self.counters.decr(Self::gauges(self.transport).1);
            self.counters.incr(outcome.counter(self.transport));
            if let (Outcome::Processed, Some((fetches, pending))) = (outcome, self.fetch.take()) {
                fetches.record(pending);
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.finish(Outcome::Aborted);
    }
}

/// Decides what `query` gets from the chain's `lookup`: counts the device-file lookups
/// (SEPFoundCount, …), logs a refusal once (misses rate-limited), takes a serving slot for a
/// file with content, and closes the ticket of a refused request.
pub(crate) fn decide(
    shared: &Shared,
    mut ticket: Ticket,
    query: &Query,
    lookup: Lookup,
) -> Decision {
    let counters = &shared.counters;
    let (client, file) = (query.client, query.name.display());
    let refusal = match lookup {
        Lookup::Found(found) => {
            misses::count_lookup(counters, &query.name, true);
            ticket.fetch = crate::fetches::Fetches::pending(query, &found)
                .map(|pending| (Arc::clone(&shared.fetches), pending));
            if found.content.is_empty() {
                return Decision::Serve(Serving {
                    file: found,
                    ticket,
                    hold: Hold::Nothing,
                });
            }
            match shared.admission.admit(crate::net::source_of(client.ip())) {
                Admit::Now(slot) => return Decision::Serve(Serving::holding(found, ticket, slot)),
                Admit::Wait(wait) => {
                    return Decision::Queued(Queued {
                        file: found,
                        ticket,
                        wait,
                        client,
                    });
                }
                Admit::Busy => {
                    debug!(%client, %file, "busy: Maximum Serving Count reached and the queue full");
                    Refusal::Busy
                }
            }
        }
        Lookup::Skip => {
            let device_file = misses::count_lookup(counters, &query.name, false);
            if device_file
                && !shared.harvest.allow(
                    crate::net::source_of(client.ip()),
                    std::time::Instant::now(),
                )
            {
                counters.incr(Counter::HarvestThrottled);
                Refusal::Throttled
            } else {
                crate::log_miss(shared, query.transport, client, &file);
                Refusal::NotFound
            }
        }
        Lookup::Denied(why) => {
            info!(%client, %file, transport = %query.transport, "refused: {why}");
            Refusal::Denied
        }
        Lookup::Busy => {
            debug!(%client, %file, "busy: the alternate server that has it is busy");
            Refusal::Busy
        }
        Lookup::Failed(why) => {
            warn!(%client, %file, transport = %query.transport, "lookup failed: {why}");
            Refusal::Failed
        }
    };
    ticket.close(refusal.wire().outcome);
    Decision::Refuse(refusal)
}

/// A request for a name that could not even be read as one (`..`, control characters, …).
pub(crate) fn refuse_name(
    ticket: Ticket,
    client: std::net::SocketAddr,
    raw: &str,
    why: Denied,
) -> Refusal {
    info!(%client, file = %raw, "refused: {why}");
    ticket.close(Outcome::Denied);
    Refusal::Denied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_each_refusal_once_in_its_own_row() {
        for (i, row) in REFUSALS.iter().enumerate() {
            assert!(std::ptr::eq(row.refusal.wire(), &REFUSALS[i]));
        }
    }

    #[test]
    fn a_ticket_counts_its_request_once_even_when_dropped() {
        let counters = Arc::new(Counters::default());
        let served = Ticket::open(&counters, Transport::Tftp);
        let dropped = Ticket::open(&counters, Transport::Tftp);
        assert_eq!(counters.get(Counter::RequestsInProgress), 2);
        served.close(Outcome::Processed);
        drop(dropped);
        assert_eq!(counters.get(Counter::Requests), 2);
        assert_eq!(counters.get(Counter::RequestsInProgress), 0);
        assert_eq!(counters.get(Counter::RequestsProcessed), 1);
        assert_eq!(counters.get(Counter::RequestsAborted), 1);
        let http = Ticket::open(&counters, Transport::Http);
        assert_eq!(counters.get(Counter::HttpConnectRequests), 1);
        http.close(Outcome::NotFound);
        assert_eq!(counters.get(Counter::HttpConnectRequests), 0);
        assert_eq!(counters.get(Counter::HttpRequestsNotFound), 1);
        assert_eq!(counters.get(Counter::RequestsNotFound), 0);
    }
}
