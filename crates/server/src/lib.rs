//! `phoneboot-server`: everything that touches the network and the disk.
//!
//! [`Server::bind`] opens every socket first (so that a port problem is reported before
//! anything runs), then [`Server::run`] serves until the shutdown future resolves:
//!
//! ```text
//! UDP :69 ─► listener (parse, dedupe, lookup, admission) ─► transfer task (own socket, engine)
//!                 └─► ERROR 1 / 2 / 4 / 5 / busy, answered from :69
//! TCP admin ─► /metrics /counters /healthz
//! ```
//!
//! Shutdown is bounded: listeners stop at once; running transfers get `shutdown_grace` to
//! finish; the rest are told "Server shutting down" and end.

pub mod admin;
mod admission;
mod built;
pub mod config;
pub mod converter;
pub mod counters;
pub mod db;
pub mod decision;
mod http;
mod listener;
mod misses;
mod net;
mod sockopt;
mod transfer;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use phoneboot_tftp::SenderConfig;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::admission::Admission;
pub use crate::config::Config;
use crate::counters::{Counter, Counters};
pub use crate::listener::BindError;
use phoneboot_source::dir::DirSource;
use phoneboot_source::peer::PeerSource;
use phoneboot_source::{Chain, FileRoots, Source};

/// State shared by the listeners and the transfer tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// Where files come from: the disk, then the alternate servers.
    pub(crate) chain: Chain,
    pub(crate) admission: Arc<Admission>,
    pub(crate) counters: Arc<Counters>,
    /// Rate limit for "not found" log lines.
    pub(crate) misses: misses::MissLog,
    pub(crate) sender: SenderConfig,
    /// Turns true when running transfers must stop.
    pub(crate) abort: watch::Receiver<bool>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(
        "{0}\n  create the directory, or point --root at the folder that holds the phone files"
    )]
    Root(io::Error),
    #[error("{0}")]
    Remote(String),
    #[error(
        "device database: {0}\n  run from a folder you can write to, choose the file with \
         --database, or serve files only with --database off"
    )]
    Database(db::DbError),
}

// Not `#[from]`: the message already holds the cause, and a report that prints the chain of
// sources would repeat it.
impl From<db::DbError> for StartError {
    fn from(e: db::DbError) -> Self {
        Self::Database(e)
    }
}

/// A bound, ready server.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<Arc<listener::Listener>>,
    admin: Option<tokio::net::TcpListener>,
    http: Vec<tokio::net::TcpListener>,
    files: Arc<FileRoots>,
    built: Option<(Arc<built::BuiltFiles>, db::Database)>,
    abort_tx: watch::Sender<bool>,
}

impl Server {
    /// Opens the file roots and binds every socket.
    pub async fn bind(mut config: Config) -> Result<Self, StartError> {
        let mut roots = vec![config.root.clone()];
        roots.extend(config.alternate_roots.iter().cloned());
        let files = FileRoots::new(&roots, config.case_insensitive, config.cache_max_bytes)
            .map_err(StartError::Root)?;
        // The seed's order: built files, then the disk (with its memory cache), then the
        // alternate file servers.
        let files = Arc::new(files);
        let mut sources: Vec<Arc<dyn Source>> = Vec::new();
        let built = match &config.database {
            Some(db_config) => {
                let db = open_or_create(db_config).await?;
                let (snapshot, version) = db.snapshot().await?;
                if config.max_serving_count_unset {
                    config.max_serving_count = snapshot.params.max_serving_count;
                }
                info!(
                    database = %db_config.location,
                    devices = snapshot.devices.len(),
                    version,
                    "device database open"
                );
                let built = Arc::new(built::BuiltFiles::new(
                    snapshot,
                    version,
                    converter::ProfileConverter::new(&db_config.profile_converter),
                ));
                sources.push(Arc::clone(&built) as Arc<dyn Source>);
                Some((built, db))
            }
            None => None,
        };
        sources.push(Arc::new(DirSource::new(Arc::clone(&files))));
        for cluster in &config.remote_clusters {
            let peer =
                PeerSource::new(cluster.clone()).map_err(|e| StartError::Remote(e.to_string()))?;
            sources.push(Arc::new(peer));
        }
        let mut listeners = Vec::new();
        for addr in &config.tftp_listen {
            let bound = match listener::Listener::bind(*addr, config.recv_buffer_bytes) {
                Err(e) if e.source.kind() == io::ErrorKind::PermissionDenied => {
                    let Some(fallback) = config.tftp_fallback else {
                        return Err(e.into());
                    };
                    warn!(
                        "port {} needs root or CAP_NET_BIND_SERVICE: listening on {fallback} \
                         instead. Phones look on port 69; see README \"Deployment\", or choose \
                         an address with --tftp-listen",
                        addr.port()
                    );
                    listener::Listener::bind(fallback, config.recv_buffer_bytes)?
                }
                other => other?,
            };
            listeners.extend(bound.into_iter().map(Arc::new));
        }
        let http = config
            .http_listen
            .iter()
            .map(|addr| http::bind(*addr))
            .collect::<Result<Vec<_>, _>>()?;
        let admin = match config.admin_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| BindError::new(addr, e, "admin-listen"))?,
            ),
            None => None,
        };
        info!(
            "Maximum Serving Count {} (from {})",
            config.max_serving_count,
            if config.max_serving_count_unset && built.is_some() {
                "the device database's parameters"
            } else if config.max_serving_count_unset {
                "the default"
            } else {
                "the configuration"
            }
        );
        let counters = Arc::new(Counters::default());
        counters.set(
            Counter::MaxServingCount,
            u64::from(config.max_serving_count),
        );
        let (abort_tx, abort) = watch::channel(false);
        let shared = Arc::new(Shared {
            admission: Admission::new(config.max_serving_count as usize),
            sender: SenderConfig {
                retry: config.retry,
                rollover: config.rollover,
            },
            chain: Chain::new(sources),
            counters,
            misses: misses::MissLog::new(Duration::from_secs(60)),
            abort,
            config,
        });
        Ok(Self {
            shared,
            listeners,
            admin,
            http,
            files,
            built,
            abort_tx,
        })
    }

    /// The addresses the TFTP listeners are bound to (with the real port when 0 was asked).
    pub fn tftp_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.local_addr()).collect()
    }

    /// The addresses of the HTTP file service.
    pub fn http_addrs(&self) -> Vec<SocketAddr> {
        self.http
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The admin listener's address, if enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The live counters.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.shared.counters)
    }

    /// Serves until `shutdown` resolves, then shuts down within the configured grace.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop) = watch::channel(false);
        let mut tasks = Vec::new();
        for l in &self.listeners {
            info!("TFTP listening on udp {}", l.local_addr());
            tasks.push(tokio::spawn(
                Arc::clone(l).run(Arc::clone(&self.shared), stop.clone()),
            ));
        }
        for listener in self.http {
            if let Ok(addr) = listener.local_addr() {
                info!("HTTP listening on tcp {addr}");
            }
            let app = http::app(Arc::clone(&self.shared));
            let mut stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let app = app.into_make_service_with_connect_info::<SocketAddr>();
                let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                    raised(&mut stop).await;
                });
                if let Err(e) = serve.await {
                    warn!("HTTP file service stopped: {e}");
                }
            }));
        }
        if let Some(admin) = self.admin {
            let addr = admin.local_addr().ok();
            info!(
                "admin HTTP on http://{}/metrics",
                addr.map_or_else(String::new, |a| a.to_string())
            );
            let app = admin::app(Arc::clone(&self.shared.counters));
            let mut stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let serve = axum::serve(admin, app).with_graceful_shutdown(async move {
                    raised(&mut stop).await;
                });
                if let Err(e) = serve.await {
                    warn!("admin HTTP stopped: {e}");
                }
            }));
        }
        if self.shared.config.cache_at_startup {
            let files = Arc::clone(&self.files);
            tasks.push(tokio::task::spawn_blocking(move || {
                let (count, bytes) = files.preload();
                info!("cached {count} files ({bytes} bytes) at startup");
            }));
        }
        if let (Some((built, db)), Some(db_config)) = (&self.built, &self.shared.config.database) {
            let (built, counters) = (Arc::clone(built), Arc::clone(&self.shared.counters));
            let (db, poll, stop) = (db.clone(), db_config.poll, stop.clone());
            let shared = Arc::clone(&self.shared);
            // The database's Maximum Serving Count, when the configuration leaves it open,
            // follows the parameter while running.
            let on_params = move |params: &phoneboot_model::Params| {
                if shared.config.max_serving_count_unset {
                    shared
                        .admission
                        .set_limit(params.max_serving_count as usize);
                    shared.counters.set(
                        Counter::MaxServingCount,
                        u64::from(params.max_serving_count),
                    );
                    info!(
                        "Maximum Serving Count {} (changed in the database)",
                        params.max_serving_count
                    );
                }
            };
            tasks.push(tokio::spawn(async move {
                built::full_build(&built, &counters).await;
                built::follow(built, db, counters, poll, on_params, stop).await;
            }));
        }
        let counters = Arc::clone(&self.shared.counters);
        let mut heartbeat_stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => counters.incr(Counter::HeartBeat),
                    () = raised(&mut heartbeat_stop) => return,
                }
            }
        }));

        shutdown.await;
        info!("shutting down: no new requests; waiting for running transfers");
        let _ = stop_tx.send(true);
        let in_progress = || self.shared.counters.get(Counter::RequestsInProgress);
        if !wait_until(|| in_progress() == 0, self.shared.config.shutdown_grace).await {
            info!("{} transfers still running; stopping them", in_progress());
            let _ = self.abort_tx.send(true);
            wait_until(|| in_progress() == 0, Duration::from_secs(2)).await;
        }
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
        }
        info!("stopped");
    }
}

/// The configured database; on the first start (no file yet) it is created, and the log says
/// so loudly: a path mistyped in the configuration would otherwise look like an empty
/// cluster, every phone getting only XMLDefault.cnf.xml.
async fn open_or_create(config: &config::DatabaseConfig) -> Result<db::Database, db::DbError> {
    let first = config
        .location
        .sqlite_path()
        .is_some_and(|path| !path.exists());
    let db = db::Database::open(config, phoneboot_store::Create::IfMissing).await?;
    if first {
        warn!(
            "created a new, empty device database {}: no device has a configuration yet, so              every phone gets XMLDefault.cnf.xml. If a database exists elsewhere, stop and              name it (--database or [database] url); to fill this one: phoneboot init              --example, phoneboot import, phoneboot device add",
            config.location
        );
    }
    Ok(db)
}

/// Polls `done` every 10 ms until it holds or `limit` passes; says whether it held.
async fn wait_until(done: impl Fn() -> bool, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Logs a missing file, at most once a minute per name pattern (see `misses`).
pub(crate) fn log_miss(
    shared: &Shared,
    transport: phoneboot_source::Transport,
    client: SocketAddr,
    name: &str,
) {
    if let Some(line) = shared.misses.note(std::time::Instant::now(), name) {
        if line.folded == 0 {
            info!(%client, file = %name, "{transport} not found");
        } else {
            info!(
                %client,
                file = %name,
                "{transport} not found (and {} more like {} in the last minute)",
                line.folded,
                line.pattern
            );
        }
    }
}

/// Resolves once `flag` is true (or its sender is gone). Unlike `wait_for`, the future holds
/// no lock guard, so it can sit in a `select!` of a `Send` task.
pub(crate) async fn raised(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|v| *v).await;
}
