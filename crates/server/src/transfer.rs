//! The driver of one read transfer: a task with its own UDP socket (its TID, RFC 1350 §4), bound
//! to the address the request arrived on, or the request port in single-port mode (see
//! [`crate::wire`]), running the engine's state machine.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use phoneboot_source::content::READ_AHEAD;
use phoneboot_source::{Content, Origin, Query, Source as _};
use phoneboot_tftp::packet::{self, ErrorCode, Mode, Packet};
use phoneboot_tftp::{Outcome, ReadTransfer, Stats, negotiate_read, netascii};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use crate::Shared;
use crate::admission::Claim;
use crate::counters::Counter;
use crate::decision::{self, Decision, Ticket};
use crate::listener::Reply;
use crate::net::{canonical, unspecified};
use crate::outbox::Outbox;
use crate::wire::Wire;

/// Where a transfer task starts: with the file decided already, or with the lookup still to
/// do (a disk read, a fetch from an alternate server), which it then decides as the listener
/// would have.
#[derive(Debug)]
pub(crate) enum Start {
    /// To serve, or waiting for a serving slot.
    Decided(Decision),
    Lookup(Ticket),
}

/// Everything a transfer task needs, handed over by the listener.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) query: Query,
    /// Refusals go from the request port, like those decided at once.
    pub(crate) reply: Reply,
    /// The request datagram, parsed again in the task (cheaper than owning its parts).
    pub(crate) request: Vec<u8>,
    /// Held until the task ends: a retransmitted request from this client is a duplicate.
    pub(crate) claim: Claim,
    pub(crate) start: Start,
}

/// How a transfer ended, for the counters and the log.
#[derive(Debug)]
enum End {
    Transfer(Outcome),
    /// The file needs more blocks than the rollover policy allows.
    TooLarge(String),
    Failed(String),
    Shutdown,
    /// The client never answered and the pool of unanswered transfers needed the place.
    Reaped,
}

pub(crate) fn spawn(shared: Arc<Shared>, job: Job) {
    let tasks = shared.tasks.clone();
    tasks.spawn(async move {
        let Job {
            query,
            reply,
            request,
            claim,
            start,
        } = job;
        let decision = match start {
            Start::Decided(decision) => decision,
            Start::Lookup(ticket) => {
                let chain = shared.chain();
                let lookup = chain.lookup(&query).await;
                decision::decide(&shared, ticket, &query, lookup)
            }
        };
        let mut serving = match decision.settled().await {
            Ok(serving) => serving,
            Err(refusal) => return reply.refuse(&shared, refusal),
        };
        let started = Instant::now();
        let (client, name) = (query.client, query.name.display());
        let mut report = Report {
            // Read from disk for this transfer: its segments count in SegmentsFromDisk.
            from_disk: serving.file.origin == Origin::Disk,
            ..Report::default()
        };
        let content = serving.file.content.clone();
        // On the heap: the transfer's state (about 5 KB, its receive buffer included) would
        // otherwise make the task's future that large, copied whole into the task at spawn.
        let sending = Box::pin(serve(
            &shared,
            (client, &reply),
            &request,
            content,
            (&claim, &mut serving),
            &mut report,
        ));
        let end = sending.await;
        let outcome = match &end {
            End::Transfer(o) if o.is_success() => decision::Outcome::Processed,
            End::Transfer(Outcome::OptionsRejected { .. }) => decision::Outcome::OptionProbe,
            End::Transfer(_) | End::Failed(_) | End::Shutdown | End::Reaped => {
                decision::Outcome::Aborted
            }
            End::TooLarge(_) => decision::Outcome::Denied,
        };
        serving.close(outcome);
        if matches!(end, End::Transfer(Outcome::Unconfirmed)) {
            shared.counters.incr(Counter::RequestsUnconfirmed);
        }
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &end {
            End::Transfer(outcome) => info!(
                %client,
                file = %name,
                bytes = report.bytes,
                blksize = report.blksize,
                windowsize = report.windowsize,
                duration_ms,
                retransmits = report.retransmits,
                outcome = ?outcome,
                "transfer finished"
            ),
            End::TooLarge(why) => info!(%client, file = %name, "refused: {why}"),
            End::Failed(why) => warn!(%client, file = %name, duration_ms, "transfer failed: {why}"),
            End::Shutdown => {
                info!(%client, file = %name, duration_ms, "transfer stopped by shutdown");
            }
            End::Reaped => debug!(
                %client,
                file = %name,
                duration_ms,
                "transfer ended: its client never answered and newer unanswered transfers needed the place"
            ),
        }
    });
}

#[derive(Debug, Default)]
struct Report {
    bytes: u64,
    blksize: usize,
    windowsize: u64,
    retransmits: u64,
    from_disk: bool,
}

async fn serve(
    shared: &Shared,
    (client, reply): (SocketAddr, &Reply),
    request: &[u8],
    content: Content,
    (claim, serving): (&Claim, &mut decision::Serving),
    report: &mut Report,
) -> End {
    let mut wire = if shared.config().single_port {
        Wire::RequestPort {
            reply: reply.clone(),
            client,
            inbox: claim.inbox(),
        }
    } else {
        match bind(client, reply.local_ip()).await {
            Ok(socket) => Wire::Own(socket),
            Err(why) => return End::Failed(why),
        }
    };
    let Ok(Packet::Rrq(rrq)) = Packet::parse(request) else {
        return End::Failed("request vanished".into());
    };
    let content = match rrq.mode {
        Mode::Octet => content,
        // Converted once per transfer so that block offsets and tsize are exact (text mode is
        // for small text files; a large one is read whole for it).
        Mode::Netascii => match content.in_memory() {
            Some(bytes) => Content::Memory(Bytes::from(netascii::encode(bytes))),
            // Text mode would need the whole file converted in memory, per transfer: it is for
            // text files, and a file too large to be held is a load, not text.
            None => {
                let text = "File too large for netascii: ask in octet mode";
                send_error(&wire, client, ErrorCode::NotDefined, text).await;
                return End::TooLarge(format!(
                    "netascii asked for a file of {} bytes, above stream_above_bytes",
                    content.len()
                ));
            }
        },
    };
    let negotiation = negotiate_read(rrq.options, content.len(), &shared.config().limits);
    let now = Instant::now();
    let sender = shared.sender();
    let started = match content.in_memory() {
        Some(bytes) => ReadTransfer::new(now, client, bytes.clone(), &negotiation, &sender),
        // Read as it is sent (see `supply`).
        None => ReadTransfer::streamed(now, client, content.len(), &negotiation, &sender),
    };
    let mut transfer = match started {
        Ok(t) => t,
        Err(refused) => {
            send_error(
                &wire,
                client,
                ErrorCode::NotDefined,
                "File too large for this block size",
            )
            .await;
            return End::TooLarge(refused.to_string());
        }
    };
    report.bytes = transfer.size();
    report.blksize = transfer.blksize();
    report.windowsize = transfer.windowsize();

    let abort = shared.abort.clone();
    // Registered once, not per block: every transfer shares this token, and a waiter added
    // and removed at each turn of the loop is two trips through its one lock.
    let aborted = abort.cancelled();
    tokio::pin!(aborted);
    let mut outbox = Outbox::new(
        &wire,
        client,
        transfer.blksize() + packet::HEADER_LEN,
        transfer.windowsize() > 1,
    );
    // Clients only send ACKs and ERRORs here; anything longer is garbage either way.
    let mut recv_buf = [0u8; 2048];
    let mut seen = Stats::default();
    // One timer for the whole transfer, armed lazily: every ACK pushes the engine's deadline
    // later, and moving a timer costs a timer-wheel update per block. A timer that fires before
    // the deadline is harmless (the engine ignores an early `handle_timeout`) and is re-armed
    // then, so it only has to move when the deadline comes earlier.
    let timer = tokio::time::sleep(std::time::Duration::from_secs(3600));
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    // A first packet unanswered for the grace time gives the slot to the queue.
    let grace = serving.grace();
    let grace_timer = tokio::time::sleep(grace.unwrap_or(std::time::Duration::from_secs(3600)));
    tokio::pin!(grace_timer);
    let mut grace_armed = grace.is_some();
    let mut reaped: Option<tokio_util::sync::CancellationToken> = None;
    let mut repeats_seen = 0;
    loop {
        // Checked before anything goes out: once the client sent a new request from its port
        // (a queued or looked-up request included), our answers would reach that request's
        // socket. An atomic read; no waiter registered per block.
        if claim.moved_on().is_cancelled() {
            transfer.superseded();
        }
        let mut now = Instant::now();
        loop {
            if transfer.wanted().is_some() {
                // What is in hand goes before a read that may wait (for a download).
                outbox.flush(&wire).await;
                if let Err(e) = supply(&mut transfer, &content, (&abort, claim)).await {
                    send_error(
                        &wire,
                        client,
                        ErrorCode::NotDefined,
                        "File could not be read",
                    )
                    .await;
                    return End::Failed(e);
                }
                now = Instant::now(); // a read may have waited for a download
            }
            let Some(tx) = transfer.poll_transmit(now, outbox.slot()) else {
                break;
            };
            outbox.push(&wire, tx).await;
        }
        outbox.flush(&wire).await;
        record(shared, &mut seen, transfer.stats(), report);
        if let Some(outcome) = transfer.outcome() {
            return End::Transfer(outcome.clone());
        }
        match (transfer.poll_timeout(), armed) {
            (Some(deadline), Some(at)) if deadline >= at => {}
            (Some(deadline), _) => {
                timer
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(deadline));
                armed = Some(deadline);
            }
            (None, _) => armed = None,
        }
        tokio::select! {
            biased;
            () = &mut aborted => {
                send_error(&wire, client, ErrorCode::NotDefined, "Server shutting down").await;
                return End::Shutdown;
            }
            received = wire.recv(&mut recv_buf) => match received {
                Ok((len, from)) => {
                    let heard = transfer.heard_from_peer();
                    transfer.handle_datagram(Instant::now(), canonical(from), &recv_buf[..len]);
                    if !heard && transfer.heard_from_peer() {
                        claim.mark_answered();
                        grace_armed = false;
                        if reaped.take().is_some() {
                            serving.answered();
                        }
                    }
                }
                Err(e) => debug!(%client, "receive: {e}"),
            },
            () = &mut timer, if armed.is_some() => {
                armed = None; // fired: re-arm on the next turn even if the instant is unchanged
                transfer.handle_timeout(Instant::now());
            }
            () = &mut grace_timer, if grace_armed => {
                grace_armed = false;
                serving.unanswered();
                reaped = serving.reaped();
                // Dormant until the client answers or asks again.
                transfer.hold_quiet();
                repeats_seen = claim.repeated().count();
            }
            // Only a quiet (unanswered, unslotted) transfer listens for these.
            () = claim.repeated().changed(), if reaped.is_some() => {
                // Only repetitions since the transfer went quiet count: before, its own timer
                // still resent the first packet.
                let count = claim.repeated().count();
                if count > repeats_seen {
                    repeats_seen = count;
                    transfer.request_repeated();
                }
            }
            () = cancelled(reaped.as_ref()), if reaped.is_some() => return End::Reaped,
            () = claim.moved_on().cancelled(), if reaped.is_some() => transfer.superseded(),
        }
    }
}

/// The longest a transfer waits for a stretch of its file (from a download in progress): about
/// a phone's own patience with a silent server.
const READ_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads what the transfer wants next, and [`READ_AHEAD`] more where the file has it, from
/// content that is not in memory. A shutdown does not wait for a slow download.
async fn supply(
    transfer: &mut ReadTransfer,
    content: &Content,
    (abort, claim): (&tokio_util::sync::CancellationToken, &Claim),
) -> Result<(), String> {
    let Some(range) = transfer.wanted() else {
        return Ok(());
    };
    let wanted = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
    let read = tokio::select! {
        read = content.read(range.start, wanted.max(READ_AHEAD)) => read,
        // Nothing supplied: the transfer's loop sees the shutdown, or the client's new request,
        // and acts on it.
        () = abort.cancelled() => return Ok(()),
        () = claim.moved_on().cancelled() => return Ok(()),
        // A download that trickles keeps its spool alive; the phone will not wait this long.
        () = tokio::time::sleep(READ_PATIENCE) => {
            return Err(format!("byte {} did not arrive in {READ_PATIENCE:?}", range.start));
        }
    };
    match read {
        Ok(bytes) if bytes.len() >= wanted => {
            transfer.supply(range.start, bytes);
            Ok(())
        }
        Ok(_) => Err(format!("the file ended early, at byte {}", range.start)),
        Err(e) => Err(format!("reading at byte {}: {e}", range.start)),
    }
}

/// Completes when `token` is cancelled; never without one.
async fn cancelled(token: Option<&tokio_util::sync::CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Adds what the transfer did since the last call to the shared counters.
fn record(shared: &Shared, seen: &mut Stats, now: Stats, report: &mut Report) {
    let sent = now.segments_sent - seen.segments_sent;
    let from_disk = if report.from_disk { sent } else { 0 };
    for (counter, delta) in [
        (Counter::SegmentsSent, sent),
        (Counter::SegmentsFromDisk, from_disk),
        (
            Counter::SegmentsAcknowledged,
            now.segments_acknowledged - seen.segments_acknowledged,
        ),
        (
            Counter::SegmentsRetransmitted,
            now.segments_retransmitted - seen.segments_retransmitted,
        ),
        (
            Counter::ForeignDatagrams,
            now.foreign_datagrams - seen.foreign_datagrams,
        ),
    ] {
        shared.counters.add(counter, delta); // a no-op for 0
    }
    report.retransmits = now.segments_retransmitted;
    *seen = now;
}

async fn send_error(wire: &Wire, to: SocketAddr, code: ErrorCode, message: &str) {
    let mut buf = [0u8; 256];
    if let Some(len) = packet::write_error(&mut buf, code, message)
        && let Err(e) = wire.send(&buf[..len], to).await
    {
        debug!(%to, "error reply: {e}");
    }
}

/// The transfer's own socket (its TID), bound to the address the request arrived on.
async fn bind(client: SocketAddr, local_ip: Option<IpAddr>) -> Result<UdpSocket, String> {
    let bind_ip = local_ip.unwrap_or_else(|| unspecified(client));
    match UdpSocket::bind(SocketAddr::new(bind_ip, 0)).await {
        Ok(s) => Ok(s),
        // An address that cannot be bound as such (an IPv6 link-local one needs its scope):
        // better an answer from the right port on a routed address than none.
        Err(e) if !bind_ip.is_unspecified() => {
            debug!(%client, "binding {bind_ip}: {e}; using the wildcard address");
            UdpSocket::bind(SocketAddr::new(unspecified(client), 0))
                .await
                .map_err(|e| format!("cannot open a transfer socket: {e}"))
        }
        Err(e) => Err(format!("cannot open a transfer socket on {bind_ip}: {e}")),
    }
}
