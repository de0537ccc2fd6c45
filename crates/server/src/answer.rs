//! What a TFTP client is told about its request, decided in one place from the chain's answer
//! and admission: for the listener (answers known at once) and for the transfer task (after a
//! disk read or a peer fetch). The phone gets a short generic text; the log gets the detail.

use std::net::SocketAddr;

use phoneboot_source::{File, FileName, Lookup};
use phoneboot_tftp::ErrorCode;
use tracing::{debug, info, warn};

use crate::admission::Slot;
use crate::config::BusyReply;
use crate::counters::Counter;
use crate::{Shared, misses};

/// The decision for one request.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Serve the file, holding the slot (none for an empty file) until the transfer ends.
    Serve(File, Option<Slot>),
    /// Do not serve: count the request under `counter` and send `reply`, if any (a busy server
    /// may be configured to stay silent).
    Refuse {
        counter: Counter,
        reply: Option<(ErrorCode, String)>,
    },
}

pub(crate) fn decide(
    shared: &Shared,
    client: SocketAddr,
    name: &FileName,
    lookup: Lookup,
) -> Answer {
    let counters = &shared.counters;
    match lookup {
        Lookup::Found(file) => {
            misses::count_lookup(counters, name, true);
            // An empty file is one DATA packet: it never takes a serving slot (a CUCM defect is
            // that missing and empty files did).
            if file.content.is_empty() {
                return Answer::Serve(file, None);
            }
            match shared.admission.try_slot() {
                Some(slot) => Answer::Serve(file, Some(slot)),
                None => {
                    debug!(%client, file = %name.display(), "busy: Maximum Serving Count reached");
                    busy(shared)
                }
            }
        }
        Lookup::Skip => {
            misses::count_lookup(counters, name, false);
            crate::log_miss(shared, "TFTP", Some(client), &name.display());
            refuse(
                Counter::RequestsNotFound,
                ErrorCode::FileNotFound,
                "File not found",
            )
        }
        Lookup::Denied(why) => {
            info!(%client, file = %name.display(), "refused: {why}");
            refuse(
                Counter::RequestsDenied,
                ErrorCode::AccessViolation,
                "Access violation",
            )
        }
        Lookup::Busy => {
            debug!(%client, file = %name.display(), "busy: the alternate server that has it is busy");
            busy(shared)
        }
        Lookup::Failed(why) => {
            warn!(%client, file = %name.display(), "lookup failed: {why}");
            refuse(
                Counter::RequestsAborted,
                ErrorCode::NotDefined,
                "Read error",
            )
        }
    }
}

/// The "try later" answer (spec cisco-tftp.md §4.1): an ERROR 0 with the busy text, or silence.
fn busy(shared: &Shared) -> Answer {
    Answer::Refuse {
        counter: Counter::RequestsOverflow,
        reply: (shared.config.busy_reply == BusyReply::Error)
            .then(|| (ErrorCode::NotDefined, shared.config.busy_message.clone())),
    }
}

fn refuse(counter: Counter, code: ErrorCode, text: &str) -> Answer {
    Answer::Refuse {
        counter,
        reply: Some((code, text.to_owned())),
    }
}
