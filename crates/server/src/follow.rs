//! The follower: keeps the built files in step with the database. The store's wake hint
//! wakes it: at once for a write made through this process's store, within a few
//! milliseconds for one made by another process on a SQLite file (`data_version`) or by
//! another node of a PostgreSQL cluster (NOTIFY). It then reads the change feed from the
//! version it has, so a lost or merged hint loses nothing; `poll` is the safety net that
//! reads the feed even when no hint came (a notification lost with a connection).
//!
//! When the database stops answering the node goes on serving the generation it has,
//! says so (log, `DatabaseDegraded`, `/healthz`), and catches up from its version when the
//! database answers again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use phoneboot_model::{DeviceClass, Kind};
use phoneboot_store::{Create, StoreError, Version};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::Shared;
use crate::built::{BuiltFiles, Generation};
use crate::config::DatabaseConfig;
use crate::counters::{Counter, Counters};
use crate::db::{Database, Slot};
use crate::replica::{Keeper, Replica};
use crate::security::SecureState;
use crate::stored::{self, StoredFiles};

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

/// Follows one database for one set of built files.
#[derive(Debug)]
pub struct Follower {
    built: Arc<BuiltFiles>,
    db: Database,
    poll: Duration,
    files: Option<Arc<StoredFiles>>,
    replica: Option<Keeper>,
    /// Started degraded (from the replica): the database to connect to.
    connect: Option<DatabaseConfig>,
    /// This node's name and start, for its reports to the database.
    node: Option<(String, i64)>,
    /// Where the rest of the server finds the database in force.
    slot: Option<Slot>,
}

/// How often a node writes its counters to the database.
const REPORT: Duration = Duration::from_secs(10);

/// What a catch-up took in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caught {
    pub changes: usize,
    /// The version of the new generation.
    pub version: Version,
    /// A change touched every device: a full build is due.
    pub rebuild: bool,
    /// The parameters changed.
    pub params: bool,
    /// The objects the changes touched (kind, folded key); empty when the whole database was
    /// read again (`reloaded`).
    pub touched: Vec<(Kind, String)>,
    pub reloaded: bool,
}

/// Changes read per step; more than this at once reloads the whole database instead.
const BATCH: u32 = 10_000;

impl Follower {
    pub fn new(built: Arc<BuiltFiles>, db: Database, poll: Duration) -> Self {
        Self {
            built,
            db,
            poll,
            files: None,
            replica: None,
            connect: None,
            node: None,
            slot: None,
        }
    }

    /// Keeps `slot` holding the database this follower follows.
    #[must_use]
    pub fn with_slot(mut self, slot: Slot) -> Self {
        self.slot = Some(slot);
        self
    }

    /// Writes this node's counters to the database every [`REPORT`], under `name`.
    #[must_use]
    pub fn reporting(mut self, name: String) -> Self {
        self.node = Some((name, phoneboot_store::unix_seconds()));
        self
    }

    async fn report(&self, counters: &Counters) {
        let Some((name, started)) = &self.node else {
            return;
        };
        let report = phoneboot_store::NodeReport {
            name: name.clone(),
            started: *started,
            seen: phoneboot_store::unix_seconds(),
            counters: counters.render_cucm(),
        };
        // A report lost while the database is down is replaced by the next one.
        let _ = self.db.store().report_node(&report).await;
    }

    /// Keeps this node's copy of the database in step too.
    #[must_use]
    pub fn with_replica(mut self, replica: Arc<Replica>) -> Self {
        self.replica = Some(replica.keeper());
        self
    }

    /// The database could not be reached at start and the node serves its copy: connect to
    /// `config` in the background, then serve and follow it.
    #[must_use]
    pub fn connecting(mut self, config: DatabaseConfig) -> Self {
        self.connect = Some(config);
        self
    }

    /// Tries to reach the database until it answers (backoff 1 s doubling to 30 s), then
    /// takes it in whole. False when stopped first.
    async fn reach(
        &mut self,
        config: &DatabaseConfig,
        counters: &Counters,
        stop: &CancellationToken,
    ) -> bool {
        let mut backoff = Duration::from_secs(1);
        let mut refused: Option<String> = None;
        loop {
            match Database::open(config, Create::IfMissing).await {
                Ok(db) => match db.snapshot().await {
                    Ok((snapshot, version)) => {
                        info!(
                            database = %db.location(),
                            devices = snapshot.devices.len(),
                            version,
                            "the device database answers: serving it instead of this node's copy"
                        );
                        self.built.replace(Generation {
                            snapshot,
                            version,
                            at: SystemTime::now(),
                            last: None,
                        });
                        // The copy served until now is closed before it is written again
                        // (a new file renamed over it): nothing holds the old one open.
                        let copy = std::mem::replace(&mut self.db, db.clone());
                        if let Some(slot) = &self.slot {
                            slot.replace(db);
                        }
                        if let Err(e) = copy.close().await {
                            warn!("closing this node's copy of the database: {e}");
                        }
                        if let Some(replica) = &self.replica {
                            replica.rebuild(self.built.current().snapshot.clone(), version);
                        }
                        counters.set(Counter::DatabaseDegraded, 0);
                        counters.set(Counter::DatabaseVersion, version.max(0) as u64);
                        return true;
                    }
                    Err(e) => warn!("the device database answers but cannot be read: {e}"),
                },
                Err(e) if e.is_unreachable() => {
                    tracing::debug!("the device database does not answer yet: {e}");
                }
                // Answering, but refusing (a password, a database name): say it, it will not
                // mend itself.
                Err(e) => {
                    let said = e.to_string();
                    if refused.as_ref() != Some(&said) {
                        warn!("{said}; trying again");
                        refused = Some(said);
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return false,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// Keeps these stored files' mirror in step too.
    #[must_use]
    pub fn with_files(mut self, files: Arc<StoredFiles>) -> Self {
        self.files = Some(files);
        self
    }

    /// Follows until `stop`: at once on a wake hint, else every `poll`.
    pub(crate) async fn run(mut self, shared: &Shared, stop: CancellationToken) {
        let counters = &shared.counters;
        full_build(&self.built, counters, Some(&shared.secure)).await;
        if let Some(config) = self.connect.take() {
            counters.set(Counter::DatabaseDegraded, 1);
            counters.incr(Counter::DatabaseOutages);
            if !self.reach(&config, counters, &stop).await {
                return;
            }
            full_build(&self.built, counters, Some(&shared.secure)).await;
            self.on_params(shared);
        } else if let Some(replica) = &self.replica {
            let current = self.built.current();
            replica.rebuild(current.snapshot.clone(), current.version);
        }
        let mut wake = self.db.store().wake();
        let mut failing = false;
        let mut reported = Instant::now();
        let mut files_failing = false;
        if let Some(files) = &self.files {
            counters.set(Counter::ClusterFiles, files.count() as u64);
        }
        counters.set(
            Counter::DatabaseVersion,
            self.built.current().version.max(0) as u64,
        );
        self.report(counters).await;
        let mut hinted = true;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                changed = wake.changed(), if hinted => {
                    // The store is gone (closed): only the timer is left.
                    hinted = changed.is_ok();
                }
                () = tokio::time::sleep(self.poll) => {}
            }
            let caught = self.catch_up(counters).await;
            if reported.elapsed() >= REPORT {
                reported = Instant::now();
                self.report(counters).await;
            }
            if let Some(files) = &self.files {
                let synced = files.sync(&**self.db.store()).await;
                if let Ok(Some(s)) = &synced {
                    counters.set(Counter::ClusterFiles, s.files as u64);
                }
                stored::report(synced, &mut files_failing);
            }
            if caught.is_ok() && std::mem::take(&mut failing) {
                counters.set(Counter::DatabaseDegraded, 0);
                info!(
                    database = %self.db.location(),
                    version = self.built.current().version,
                    "the device database answers again: caught up"
                );
            }
            match caught {
                Ok(Some(caught)) => {
                    counters.set(Counter::DatabaseVersion, caught.version.max(0) as u64);
                    if let Some(replica) = &self.replica {
                        let current = self.built.current();
                        let snapshot = current.snapshot.clone();
                        if caught.reloaded {
                            replica.rebuild(snapshot, caught.version);
                        } else {
                            replica.apply(snapshot, caught.touched.clone(), caught.version);
                        }
                    }
                    if caught.params {
                        self.on_params(shared);
                    }
                    if caught.rebuild {
                        full_build(&self.built, counters, Some(&shared.secure)).await;
                    }
                }
                Ok(None) => {}
                Err(e) if !failing => {
                    failing = true;
                    counters.set(Counter::DatabaseDegraded, 1);
                    counters.incr(Counter::DatabaseOutages);
                    warn!(
                        database = %self.db.location(),
                        version = self.built.current().version,
                        "DEGRADED: the device database does not answer ({e}); serving the last \
                         state taken in, and catching up when it is back"
                    );
                }
                Err(_) => {}
            }
        }
    }

    /// The database's Maximum Serving Count, when the configuration leaves it open, follows
    /// the parameter while running.
    fn on_params(&self, shared: &Shared) {
        if !shared.config().max_serving_count_unset {
            return;
        }
        let limit = self.built.current().snapshot.params.max_serving_count;
        shared.admission.set_limit(limit as usize);
        shared
            .counters
            .set(Counter::MaxServingCount, u64::from(limit));
        info!("Maximum Serving Count {limit} (changed in the database)");
    }

    /// Takes in the changes since the current generation and swaps in a new one; `None`
    /// when there were none. The cost is that of the change, not of the database.
    pub async fn catch_up(&self, counters: &Counters) -> Result<Option<Caught>, StoreError> {
        let (built, db) = (&self.built, &self.db);
        let current = built.current();
        let from = current.version;
        // The feed from the change this generation took in last, to see that it is still
        // there: a database restored from an older copy, or a standby promoted before it had
        // every commit, gives the same versions to other changes, which must not be skipped.
        // One more than a batch (and the change at `from`), to tell "a batch" from "more".
        let mut changes = db
            .store()
            .changes_since((from - 1).max(0), BATCH + 1 + u32::from(from > 0))
            .await?;
        let rewound = from > 0
            && match (changes.first(), &current.last) {
                (Some(first), Some(last)) => first != last,
                (Some(first), None) => first.version != from,
                (None, _) => true,
            };
        if from > 0 && !rewound {
            changes.remove(0);
        }
        if rewound {
            warn!(
                database = %db.location(),
                version = from,
                "the database's change feed no longer holds the change this node took in last \
                 (restored, or failed over to a standby without it): reading it whole"
            );
        }
        let reloaded = rewound || changes.len() > BATCH as usize;
        if !reloaded && changes.is_empty() {
            return Ok(None);
        }
        let started = Instant::now();
        let mut snapshot = current.snapshot.clone();
        let (mut version, mut latest) = match changes.last() {
            Some(change) => (change.version, Some(change.clone())),
            None => (from, None),
        };
        let mut rebuild = false;
        let mut touched: Vec<(Kind, String)> = Vec::new();
        if reloaded {
            let (fresh, head) =
                phoneboot_store::snapshot(&**db.store(), Arc::clone(db.catalogue())).await?;
            // The change at the head, for the next look (none in an empty feed).
            latest = db
                .store()
                .changes_since((head - 1).max(0), 1)
                .await?
                .into_iter()
                .find(|c| c.version == head);
            snapshot = fresh;
            version = head;
            rebuild = true;
        } else {
            // Every object the changes touched, as it is now, in one read: what exists is put,
            // the rest was deleted (by this batch or since).
            touched = changes
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
            last: latest,
        });
        info!(
            changes = changes.len(),
            version,
            took_ms = millis(started.elapsed()),
            "database changes taken in"
        );
        Ok(Some(Caught {
            changes: changes.len(),
            version,
            rebuild,
            params: reloaded || changes.iter().any(|c| c.kind == Kind::Params),
            touched,
            reloaded,
        }))
    }
}

/// Builds every file of the current generation once, to fill the Build* counters and to log
/// any file that cannot be built; the bytes are dropped (files are rendered on request).
///
/// In a secure cluster every file is signed on the way (what CUCM's build does, counted in
/// BuildSignCount), so a storm of phones asking for `.sgn` finds its signatures made.
pub async fn full_build(
    built: &Arc<BuiltFiles>,
    counters: &Arc<Counters>,
    secure: Option<&Arc<SecureState>>,
) {
    let generation = built.current();
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let secure = secure.filter(|s| s.keys().is_some()).cloned();
    let result = tokio::task::spawn_blocking(move || {
        let snapshot = &generation.snapshot;
        phoneboot_render::build_all(snapshot, threads, |file, bytes| {
            if let Some(secure) = &secure {
                secure.presign(snapshot, generation.at, file, bytes);
            }
        })
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
