//! The built-files source: configuration files made from the device database on request,
//! first in the lookup chain (the seed's order: built files, then the disk).
//!
//! Files are rendered when asked for, from the current [`Generation`] — a whole snapshot of
//! the database — which a follower task replaces when the change feed moves. Rendering one
//! file takes tens of microseconds, so nothing is built ahead or kept per device: memory
//! stays that of the snapshot, a change is visible on the next request, and a request never
//! sees half a change (generations are swapped whole).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use phoneboot_model::{DeviceClass, Kind, Snapshot};
use phoneboot_render::{Built, RenderError};
use phoneboot_source::{File, FileName, Lookup, LookupFuture, Origin, Query, Source};
use phoneboot_store::{StoreError, Version};
use tracing::{debug, info, warn};

use crate::converter::ProfileConverter;
use crate::counters::{Counter, Counters};
use crate::db::Database;

/// The database at one version.
#[derive(Debug)]
pub(crate) struct Generation {
    pub(crate) snapshot: Snapshot,
    pub(crate) version: Version,
    /// When this generation was taken in (the Last-Modified of its files).
    pub(crate) at: SystemTime,
}

#[derive(Debug)]
pub(crate) struct BuiltFiles {
    current: RwLock<Arc<Generation>>,
    converter: Option<ProfileConverter>,
}

impl BuiltFiles {
    pub(crate) fn new(
        snapshot: Snapshot,
        version: Version,
        converter: Option<ProfileConverter>,
    ) -> Self {
        Self {
            current: RwLock::new(Arc::new(Generation {
                snapshot,
                version,
                at: SystemTime::now(),
            })),
            converter,
        }
    }

    pub(crate) fn current(&self) -> Arc<Generation> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, generation: Generation) {
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
                    self.convert(file.content, at).await
                }
                (_, lookup) => lookup,
            }
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Kinds whose change touches every device's files.
fn touches_all(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Params | Kind::CallManager | Kind::CmGroup | Kind::DateTimeGroup | Kind::DevicePool
    )
}

/// Follows the change feed: every `poll`, takes in the changes since the current generation
/// and swaps in a new one. Runs until `stop` says so.
pub(crate) async fn follow(
    built: Arc<BuiltFiles>,
    db: Database,
    counters: Arc<Counters>,
    poll: Duration,
    on_params: impl Fn(&phoneboot_model::Params) + Send,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut failing = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            _ = stop.changed() => return,
        }
        match catch_up(&built, &db, &counters).await {
            Ok(Some(caught)) => {
                failing = false;
                if caught.params {
                    on_params(&built.current().snapshot.params);
                }
                if caught.rebuild {
                    full_build(&built, &counters).await;
                }
            }
            Ok(None) => failing = false,
            Err(e) if !failing => {
                failing = true;
                warn!("cannot read the database's change feed (serving the last state): {e}");
            }
            Err(_) => {}
        }
    }
}

/// What a catch-up took in.
struct Caught {
    /// A change touched every device: a full build is due.
    rebuild: bool,
    /// The parameters changed.
    params: bool,
}

/// Changes read per step; more than this at once reloads the whole database instead.
const BATCH: u32 = 10_000;

/// Takes in new changes; `None` when there were none.
async fn catch_up(
    built: &BuiltFiles,
    db: &Database,
    counters: &Counters,
) -> Result<Option<Caught>, StoreError> {
    let current = built.current();
    let changes = db.store().changes_since(current.version, BATCH).await?;
    let Some(last) = changes.last() else {
        return Ok(None);
    };
    let started = Instant::now();
    let mut snapshot = current.snapshot.clone();
    let mut version = last.version;
    let mut rebuild = false;
    let reloaded = changes.len() >= BATCH as usize;
    if reloaded {
        let (fresh, head) =
            phoneboot_store::snapshot(&**db.store(), Arc::clone(db.catalogue())).await?;
        snapshot = fresh;
        version = head;
        rebuild = true;
    } else {
        // Every object the changes touched, as it is now, in one read: what exists is put,
        // the rest was deleted (by this batch or since).
        let mut touched: Vec<(Kind, String)> = changes
            .iter()
            .map(|c| (c.kind, c.key.to_ascii_lowercase()))
            .collect();
        touched.sort();
        touched.dedup();
        let found: Vec<phoneboot_model::Object> = db
            .store()
            .get_many(&touched)
            .await?
            .into_iter()
            .map(|s| s.object)
            .collect();
        let present: HashSet<(Kind, String)> = found
            .iter()
            .map(|o| (o.kind(), o.key().to_ascii_lowercase()))
            .collect();
        for (kind, key) in &touched {
            if !present.contains(&(*kind, key.clone())) {
                snapshot.remove(*kind, key);
            }
        }
        for object in found {
            snapshot.put(object);
        }
    }
    for change in &changes {
        counters.incr(Counter::ChangeNotifications);
        rebuild |= touches_all(change.kind);
        let counter = match change.kind {
            Kind::Device => {
                let gateway = snapshot
                    .devices
                    .get(&change.key)
                    .and_then(|d| snapshot.catalogue.get(&d.model))
                    .is_some_and(|m| m.class == DeviceClass::Gateway);
                Some(if gateway {
                    Counter::UnitChangeNotifications
                } else {
                    Counter::DeviceChangeNotifications
                })
            }
            Kind::DialPlan => Some(Counter::DialruleChangeNotifications),
            Kind::Softkeys => Some(Counter::SoftkeyChangeNotifications),
            _ => None,
        };
        if let Some(counter) = counter {
            counters.incr(counter);
        }
    }
    built.replace(Generation {
        snapshot,
        version,
        at: SystemTime::now(),
    });
    info!(
        changes = changes.len(),
        version,
        took_ms = millis(started.elapsed()),
        "database changes taken in"
    );
    Ok(Some(Caught {
        rebuild,
        params: reloaded || changes.iter().any(|c| c.kind == Kind::Params),
    }))
}

/// Builds every file of the current generation once, to fill the Build* counters and to log
/// any file that cannot be built; the bytes are dropped (files are rendered on request).
pub(crate) async fn full_build(built: &Arc<BuiltFiles>, counters: &Arc<Counters>) {
    let generation = built.current();
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let result = tokio::task::spawn_blocking(move || {
        phoneboot_render::build_all(&generation.snapshot, threads, |_, _| {})
    })
    .await;
    let Ok(stats) = result else {
        counters.incr(Counter::BuildAbortCount);
        return;
    };
    let took = started.elapsed();
    counters.incr(Counter::BuildCount);
    counters.set(Counter::BuildDeviceCount, stats.devices);
    counters.set(Counter::BuildDialruleCount, stats.dial_rules);
    counters.set(Counter::BuildSoftkeyCount, stats.softkeys);
    counters.set(Counter::BuildUnitCount, 0);
    counters.set(Counter::BuildSignCount, 0);
    counters.set(Counter::BuildErrors, stats.failed.len() as u64);
    counters.set(Counter::BuildDuration, millis(took));
    for (file, reason) in stats.failed.iter().take(20) {
        warn!(%file, "cannot build: {reason}");
    }
    info!(
        files = stats.files,
        bytes = stats.bytes,
        failed = stats.failed.len(),
        took_ms = millis(took),
        "built every configuration file"
    );
}
