//! The Source trait, the Lookup result, and the Chain that asks sources in order.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::file::File;
use crate::name::Denied;
use crate::query::Query;

/// What one source (or the whole chain) says about a name.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Here it is.
    Found(File),
    /// Not mine: ask the next source. From the whole chain: no source has it.
    Skip,
    /// It may exist, but whoever has it is busy: tell the device to try later.
    Busy,
    /// The name may not be served.
    Denied(Denied),
    /// Something broke; the detail is for the log, not for the device.
    Failed(String),
}

/// A boxed future, so that sources can sit in one list.
pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = Lookup> + Send + 'a>>;

/// Somewhere a requested file may come from.
pub trait Source: Send + Sync + fmt::Debug {
    /// For logs.
    fn name(&self) -> &str;

    /// `false` for sources that ask other servers; a query with `local_only` skips them.
    fn is_local(&self) -> bool {
        true
    }

    /// Whether this source is to be asked before the others for `query`: a remote cluster,
    /// for the signed common files of the phones whose own files it served.
    fn asked_first(&self, _query: &Query) -> bool {
        false
    }

    /// The answer, if it can be given at once without blocking (a cache hit, a miss known
    /// from metadata). `None` means "ask [`lookup`](Self::lookup)". This keeps the TFTP request
    /// path free of task switches for the common cases.
    fn try_now(&self, query: &Query) -> Option<Lookup>;

    /// The full answer; may read files or ask other servers.
    fn lookup<'a>(&'a self, query: &'a Query) -> LookupFuture<'a>;
}

/// Sources asked in order: the first answer that is not `Skip` wins. A chain is itself a
/// [`Source`], so a wrapper (one that signs what the chain finds, say) can sit around it.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    sources: Vec<Arc<dyn Source>>,
}

impl Chain {
    pub fn new(sources: Vec<Arc<dyn Source>>) -> Self {
        Self { sources }
    }

    /// True when some source asks other servers.
    pub fn has_remote(&self) -> bool {
        self.sources.iter().any(|s| !s.is_local())
    }

    /// The source `query` is asked of before the chain's order, if any.
    fn first(&self, query: &Query) -> Option<&Arc<dyn Source>> {
        self.eligible(query.local_only)
            .find(|s| s.asked_first(query))
    }

    fn eligible(&self, local_only: bool) -> impl Iterator<Item = &Arc<dyn Source>> {
        self.sources
            .iter()
            .filter(move |s| !local_only || s.is_local())
    }
}

impl Source for Chain {
    fn name(&self) -> &str {
        "chain"
    }

    fn is_local(&self) -> bool {
        !self.has_remote()
    }

    fn asked_first(&self, query: &Query) -> bool {
        self.first(query).is_some()
    }

    /// The answer if every source it takes to decide can answer at once.
    fn try_now(&self, query: &Query) -> Option<Lookup> {
        if let Some(first) = self.first(query) {
            match first.try_now(query)? {
                Lookup::Skip => {}
                decided => return Some(decided),
            }
        }
        for source in self.eligible(query.local_only) {
            match source.try_now(query)? {
                Lookup::Skip => continue,
                decided => return Some(decided),
            }
        }
        Some(Lookup::Skip)
    }

    /// Asks the sources in order until one answers something other than `Skip`.
    fn lookup<'a>(&'a self, query: &'a Query) -> LookupFuture<'a> {
        Box::pin(async move {
            if let Some(first) = self.first(query) {
                match first.lookup(query).await {
                    Lookup::Skip => {}
                    decided => return decided,
                }
            }
            for source in self.eligible(query.local_only) {
                match source.lookup(query).await {
                    Lookup::Skip => continue,
                    decided => return decided,
                }
            }
            Lookup::Skip
        })
    }
}
