//! `phoneboot-server`: everything that touches the network and the disk, assembled from parts.
//!
//! [`Server::builder`] takes the configuration and, where a caller wants its own, the
//! database and the sources; [`Builder::bind`] opens every socket first (so that a port
//! problem is reported before anything runs); [`Server::run`] serves until the shutdown future
//! resolves or a [`Handle`] asks it to stop.
//!
//! ```text
//! UDP :69 ─► listener (parse, dedupe) ─► decision (chain, admission) ─► transfer task
//!                 └─► ERROR 1 / 2 / 4 / 5 / busy, always answered from :69
//! TCP 6970 ─► HTTP file service ─► the same decision ─► 200 / 304 / 403 / 404 / 503
//! TCP admin ─► /metrics /counters /healthz
//! database ─► follower (wake hint + poll) ─► built files (a new generation per change)
//! ```
//!
//! Every task is tracked: shutdown stops the listeners at once, gives running transfers
//! `shutdown_grace` to finish, tells the rest "Server shutting down", and closes the database
//! so its main file is complete. [`Handle::reload`] takes in a new configuration without a
//! restart (roots, alternate servers, serving count, busy answer, transfer limits).

pub mod accounts;
pub mod admin;
mod admission;
pub mod api;
mod builder;
pub mod built;
pub mod config;
pub mod converter;
pub mod counters;
pub mod db;
pub mod decision;
pub mod fetches;
pub mod follow;
mod harvest;
mod http;
mod https;
mod listener;
mod misses;
mod net;
mod outbox;
pub mod replica;
pub mod security;
mod sockopt;
pub mod stored;
mod transfer;
pub mod ui;
mod wire;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use phoneboot_source::dir::DirSource;
use phoneboot_source::peer::PeerSource;
use phoneboot_source::{Chain, FileRoots, Source};
use phoneboot_tftp::SenderConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::admission::Admission;
pub use crate::builder::Builder;
use crate::builder::{chain, load_keys};
pub use crate::config::Config;
use crate::counters::{Counter, Counters};
pub use crate::listener::BindError;

/// State shared by the listeners, the HTTP service and the transfer tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    config: RwLock<Arc<Config>>,
    /// Where files come from: built files, the disk, the alternate servers.
    chain: RwLock<Arc<Chain>>,
    pub(crate) admission: Arc<Admission>,
    /// Slows sources that ask for many missing device files.
    pub(crate) harvest: harvest::HarvestGuard,
    pub(crate) counters: Arc<Counters>,
    /// The cluster's keys and the signatures made with them (none: a non-secure cluster).
    pub(crate) secure: Arc<security::SecureState>,
    /// What each device last fetched (has it taken the change?).
    pub(crate) fetches: Arc<fetches::Fetches>,
    /// Rate limit for "not found" log lines.
    pub(crate) misses: misses::MissLog,
    /// Transfers and HTTP responses in flight, waited for at shutdown.
    pub(crate) tasks: TaskTracker,
    /// Cancelled when running transfers must stop now.
    pub(crate) abort: CancellationToken,
}

impl Shared {
    /// The configuration in force (a reload swaps it; a request keeps the one it started with).
    pub(crate) fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn chain(&self) -> Arc<Chain> {
        Arc::clone(&self.chain.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn sender(&self) -> SenderConfig {
        let config = self.config();
        SenderConfig {
            retry: config.retry,
            rollover: config.rollover,
        }
    }
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
    #[error("the cluster's keys: {0}")]
    Security(String),
    #[error("the admin listener's TLS: {0}")]
    AdminTls(String),
    #[error(
        "the node's state directory: {0}\n  choose one you can write to with --state-dir or \
         [database] state_dir"
    )]
    State(io::Error),
    #[error(
        "device database: {0}\n  name the database with --database (a SQLite file in a folder \
         you can write to, or a PostgreSQL server that answers: postgres://USER@HOST/DB), or \
         serve files only with --database off"
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

/// What a reload rebuilds the chain from.
#[derive(Debug)]
struct Parts {
    built: Option<Arc<built::BuiltFiles>>,
    stored: Option<Arc<stored::StoredFiles>>,
    /// Sources given to the builder, kept across reloads.
    sources: Option<Vec<Arc<dyn Source>>>,
    database: db::Slot,
    /// The disk roots in force (for the startup cache).
    roots: RwLock<Option<Arc<FileRoots>>>,
}

/// A bound, ready server.
#[derive(Debug)]
pub struct Server {
    handle: Handle,
    listeners: Vec<Arc<listener::Listener>>,
    admin: Option<tokio::net::TcpListener>,
    /// The admin listener's TLS, when configured.
    admin_tls: Option<Arc<rustls::ServerConfig>>,
    http: Vec<tokio::net::TcpListener>,
    https: Vec<(https::Kind, tokio::net::TcpListener)>,
    follower: Option<follow::Follower>,
}

/// Controls a running server from elsewhere: reload its configuration, stop it, read its
/// counters. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Handle {
    shared: Arc<Shared>,
    /// Cancelled when the server is to stop taking requests.
    stop: CancellationToken,
    parts: Arc<Parts>,
}

/// Why a new configuration was not taken in. The old one serves on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReloadError(String);

impl Server {
    /// A server to be assembled from `config` (and, optionally, a database and sources).
    pub fn builder(config: Config) -> Builder {
        Builder::new(config)
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
        Arc::clone(&self.handle.shared.counters)
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// The HTTP file service as a router, for a caller's own listener or a test's requests.
    pub fn file_service(&self) -> axum::Router {
        http::app(Arc::clone(&self.handle.shared))
    }

    /// The admin routes, with the counters and the database.
    pub fn admin_service(&self) -> axum::Router {
        admin::app(
            self.handle
                .admin_state(tokio_util::sync::CancellationToken::new(), false),
        )
    }

    /// Serves until `shutdown` resolves (or [`Handle::shutdown`] is called), then shuts down
    /// within the configured grace.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server {
            handle,
            listeners,
            admin,
            admin_tls,
            http,
            https,
            follower,
        } = self;
        let shared = Arc::clone(&handle.shared);
        let stop = handle.stop.clone();
        // Long-lived tasks, each ending when `stop` is cancelled.
        let services = TaskTracker::new();
        for l in &listeners {
            info!("TFTP listening on udp {}", l.local_addr());
            services.spawn(Arc::clone(l).run(Arc::clone(&shared), stop.clone()));
        }
        for listener in http {
            if let Ok(addr) = listener.local_addr() {
                info!("HTTP listening on tcp {addr}");
            }
            let app =
                http::app(Arc::clone(&shared)).into_make_service_with_connect_info::<SocketAddr>();
            let stop = stop.clone();
            services.spawn(async move {
                let serve = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await });
                if let Err(e) = serve.await {
                    warn!("HTTP file service stopped: {e}");
                }
            });
        }
        for (kind, listener) in https {
            let tls = match https::config(kind, &shared.secure) {
                Ok(tls) => tls,
                Err(e) => {
                    warn!("HTTPS: {e}");
                    continue;
                }
            };
            let listener = match https::TlsListener::new(
                listener,
                kind,
                tls,
                Arc::clone(&shared.secure),
                stop.clone(),
            ) {
                Ok(listener) => listener,
                Err(e) => {
                    warn!("HTTPS: {e}");
                    continue;
                }
            };
            info!(
                "HTTPS listening on tcp {} ({})",
                axum::serve::Listener::local_addr(&listener)
                    .map(|p| p.addr.to_string())
                    .unwrap_or_default(),
                match kind {
                    https::Kind::ServerAuthenticated => "server certificate",
                    https::Kind::Mutual => "mutual, phone certificates",
                }
            );
            let app = http::app_tls(Arc::clone(&shared))
                .into_make_service_with_connect_info::<https::TlsPeer>();
            let stop = stop.clone();
            services.spawn(async move {
                let serve = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await });
                if let Err(e) = serve.await {
                    warn!("HTTPS file service stopped: {e}");
                }
            });
        }
        if let Some(admin) = admin {
            let state = handle.admin_state(stop.clone(), admin_tls.is_some());
            let secure = Arc::clone(&shared.secure);
            services.spawn(admin::serve(admin, admin_tls, state, secure));
        }
        if shared.config().cache_at_startup
            && let Some(files) = handle.roots()
        {
            services.spawn_blocking(move || {
                let (count, bytes) = files.preload();
                info!("cached {count} files ({bytes} bytes) at startup");
            });
        }
        if let Some(follower) = follower {
            let (shared, stop) = (Arc::clone(&shared), stop.clone());
            let follower = follower.with_slot(handle.parts.database.clone());
            services.spawn(async move { follower.run(&shared, stop).await });
        }
        let (counters, heartbeat_stop) = (Arc::clone(&shared.counters), stop.clone());
        services.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => counters.incr(Counter::HeartBeat),
                    () = heartbeat_stop.cancelled() => return,
                }
            }
        });
        services.close();

        tokio::select! {
            () = shutdown => {}
            () = stop.cancelled() => {}
        }
        info!("shutting down: no new requests; waiting for running transfers");
        stop.cancel();
        shared.tasks.close();
        let grace = shared.config().shutdown_grace;
        if tokio::time::timeout(grace, shared.tasks.wait())
            .await
            .is_err()
        {
            info!(
                "{} transfers still running; stopping them",
                shared.counters.get(Counter::RequestsInProgress)
            );
            shared.abort.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(2), shared.tasks.wait()).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), services.wait()).await;
        if let Some(db) = handle.parts.database.get()
            && let Err(e) = db.close().await
        {
            warn!("closing the device database: {e}");
        }
        info!("stopped");
    }
}

impl Handle {
    /// What the admin routes see: `stop` ends their streams; `tls` says the listener speaks it.
    fn admin_state(&self, stop: CancellationToken, tls: bool) -> admin::AdminState {
        admin::AdminState {
            counters: Arc::clone(&self.shared.counters),
            database: self.parts.database.clone(),
            fetches: Arc::clone(&self.shared.fetches),
            built: self.parts.built.clone(),
            stop,
            tls,
            trusted_proxies: Arc::new(self.shared.config().admin_trusted_proxies.clone()),
        }
    }

    /// Stops the server as a signal would.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.shared.counters)
    }

    fn roots(&self) -> Option<Arc<FileRoots>> {
        self.parts
            .roots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes in `config` without a restart: roots and alternate locations, alternate servers,
    /// the Maximum Serving Count, the busy answer and the transfer limits apply to the next
    /// request; a transfer in flight finishes as it started. Returns what changed but needs a
    /// restart (listen addresses, the database). On an error nothing changes.
    pub fn reload(&self, mut config: Config) -> Result<Vec<String>, ReloadError> {
        config.validate().map_err(|e| ReloadError(e.to_string()))?;
        let old = self.shared.config();
        // Keys imported or rotated since are taken in too; a chain that cannot be made
        // leaves the keys in force as they were.
        let keys = load_keys(&config).map_err(|e| ReloadError(e.to_string()))?;
        let previous = self.shared.secure.keys();
        self.shared.secure.replace_keys(keys);
        let (chain, roots) = match chain(
            &config,
            self.parts.built.as_ref(),
            self.parts.stored.as_ref(),
            self.parts.sources.clone(),
            &self.shared.secure,
        ) {
            Ok(made) => made,
            Err(e) => {
                self.shared.secure.restore_keys(previous);
                return Err(ReloadError(e.to_string()));
            }
        };
        let mut restart = Vec::new();
        for (what, changed) in [
            (
                "tftp listen addresses",
                old.tftp_listen != config.tftp_listen,
            ),
            (
                "http listen addresses",
                old.http_listen != config.http_listen,
            ),
            (
                "the admin listener",
                old.admin_listen != config.admin_listen,
            ),
            (
                "the device database",
                old.database.as_ref().map(|d| &d.location)
                    != config.database.as_ref().map(|d| &d.location),
            ),
            (
                "the receive buffer",
                old.recv_buffer_bytes != config.recv_buffer_bytes,
            ),
        ] {
            if changed {
                restart.push(what.to_owned());
            }
        }
        // Left open, the serving count stays the database's.
        if config.max_serving_count_unset {
            config.max_serving_count = match &self.parts.built {
                Some(built) => built.current().snapshot.params.max_serving_count,
                None => config.max_serving_count,
            };
        }
        self.shared.admission.set_config(config.admission);
        self.shared
            .admission
            .set_limit(config.max_serving_count as usize);
        self.shared.harvest.set_config(config.harvest);
        self.shared.counters.set(
            Counter::MaxServingCount,
            u64::from(config.max_serving_count),
        );
        *self.shared.chain.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(chain);
        *self.parts.roots.write().unwrap_or_else(|p| p.into_inner()) = roots;
        info!(
            root = %config.root.display(),
            alternates = config.alternate_roots.len(),
            remote_clusters = config.remote_clusters.len(),
            max_serving_count = config.max_serving_count,
            "configuration reloaded"
        );
        *self
            .shared
            .config
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        Ok(restart)
    }
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
