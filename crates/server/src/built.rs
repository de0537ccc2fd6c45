//! The built-files source: configuration files made from the device database on request,
//! first in the lookup chain (the seed's order: built files, then the disk).
//!
//! Files are rendered when asked for, from the current [`Generation`] — a whole snapshot of
//! the database — which a follower task replaces when the change feed moves. Rendering one
//! file takes tens of microseconds, so nothing is built ahead or kept per device: memory
//! stays that of the snapshot, a change is visible on the next request, and a request never
//! sees half a change (generations are swapped whole).

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use phoneboot_model::Snapshot;
use phoneboot_render::{Built, RenderError};
use phoneboot_source::{File, FileName, Lookup, LookupFuture, Origin, Query, Source};
use phoneboot_store::Version;
use tracing::{debug, warn};

use crate::converter::ProfileConverter;

/// The database at one version.
#[derive(Debug)]
pub struct Generation {
    pub snapshot: Snapshot,
    pub version: Version,
    /// When this generation was taken in (the Last-Modified of its files).
    pub at: SystemTime,
    /// The change at `version`, when known: a follower checks that the feed still holds it
    /// before it reads on.
    pub last: Option<phoneboot_store::Change>,
}

/// The built files as a [`Source`]: rendered on request from the current generation.
#[derive(Debug)]
pub struct BuiltFiles {
    current: RwLock<Arc<Generation>>,
    converter: Option<ProfileConverter>,
}

impl BuiltFiles {
    pub fn new(snapshot: Snapshot, version: Version, converter: Option<ProfileConverter>) -> Self {
        Self {
            current: RwLock::new(Arc::new(Generation {
                snapshot,
                version,
                at: SystemTime::now(),
                last: None,
            })),
            converter,
        }
    }

    /// The generation requests are answered from now.
    pub fn current(&self) -> Arc<Generation> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Swaps in a new generation whole: a request sees the old one or the new, never half.
    pub(crate) fn replace(&self, generation: Generation) {
        let generation = Arc::new(generation);
        match self.current.write() {
            Ok(mut g) => *g = generation,
            Err(poisoned) => *poisoned.into_inner() = generation,
        }
    }

    fn found(content: Bytes, at: SystemTime) -> Lookup {
        Lookup::Found(File::new(content, at, Origin::Cache))
    }

    /// Renders `name` from the current generation: `Skip` when it is not a built file.
    fn render(&self, name: &FileName) -> (Option<Built>, Lookup) {
        let generation = self.current();
        match phoneboot_render::render_name(&generation.snapshot, &name.display()) {
            None => (None, Lookup::Skip),
            Some((built, Ok(bytes))) => {
                (Some(built), Self::found(Bytes::from(bytes), generation.at))
            }
            Some((built, Err(e))) => {
                // A file that cannot be built is missing for the phone. The full build logs
                // each such file once (and counts them in BuildErrors); per request it is
                // debug only, or a boot storm would repeat it thousands of times. Writers
                // refuse such values, so this is a legacy .cnf or an object edited by hand.
                debug!(file = %built, "cannot build: {e}");
                let skip = matches!(e, RenderError::Field(_) | RenderError::Missing { .. });
                (
                    Some(built),
                    if skip {
                        Lookup::Skip
                    } else {
                        Lookup::Failed(e.to_string())
                    },
                )
            }
        }
    }

    fn needs_converter(&self, built: Option<&Built>) -> bool {
        self.converter.is_some() && matches!(built, Some(Built::Profile(..)))
    }

    async fn convert(&self, text: Bytes, at: SystemTime) -> Lookup {
        let Some(converter) = &self.converter else {
            return Self::found(text, at);
        };
        match converter.convert(&text).await {
            Ok(bytes) => Self::found(bytes, at),
            Err(reason) => {
                warn!("profile converter {:?}: {reason}", converter.program());
                Lookup::Failed(reason)
            }
        }
    }
}

impl Source for BuiltFiles {
    fn name(&self) -> &str {
        "built files"
    }

    fn try_now(&self, query: &Query) -> Option<Lookup> {
        // A profile for the converter waits for `lookup` (a process runs): tell it from the
        // name alone, not by rendering a file that `lookup` would render again.
        if self.converter.is_some() {
            let built = phoneboot_render::resolve(&self.current().snapshot, &query.name.display());
            if self.needs_converter(built.as_ref()) {
                return None;
            }
        }
        Some(self.render(&query.name).1)
    }

    fn lookup<'a>(&'a self, query: &'a Query) -> LookupFuture<'a> {
        Box::pin(async move {
            let at = self.current().at;
            match self.render(&query.name) {
                (built, Lookup::Found(file)) if self.needs_converter(built.as_ref()) => {
                    // Built files are rendered in memory.
                    let text = file.content.in_memory().cloned().unwrap_or_default();
                    self.convert(text, at).await
                }
                (_, lookup) => lookup,
            }
        })
    }
}
