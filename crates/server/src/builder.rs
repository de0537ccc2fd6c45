//! Assembling a server from its configuration before it binds: the database opened (or
//! made), the signing keys loaded, the lookup chain built from the built files, the stored
//! files, the disk and the alternate servers, and the sockets bound.

use super::*;

/// What the server is built from, before it binds.
#[derive(Debug)]
pub struct Builder {
    config: Config,
    database: Option<db::Database>,
    sources: Option<Vec<Arc<dyn Source>>>,
}

impl Builder {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            config,
            database: None,
            sources: None,
        }
    }

    /// Serves this database instead of opening the configured one.
    #[must_use]
    pub fn database(mut self, database: db::Database) -> Self {
        self.database = Some(database);
        self
    }

    /// Asks these sources after the built files, instead of the disk roots and alternate
    /// servers of the configuration.
    #[must_use]
    pub fn sources(mut self, sources: Vec<Arc<dyn Source>>) -> Self {
        self.sources = Some(sources);
        self
    }

    /// Opens the database and the roots, and binds every socket.
    pub async fn bind(self) -> Result<Server, StartError> {
        let Builder {
            mut config,
            database,
            sources,
        } = self;
        // Started from this node's copy because the database does not answer: the database
        // to reach in the background.
        let mut connecting = None;
        let database = match (database, &config.database) {
            (Some(db), _) => Some(db),
            (None, Some(db_config)) => match open_or_create(db_config).await {
                Ok(db) => Some(db),
                Err(e) => {
                    let replica = replica::Replica::path_in(&db_config.state_dir);
                    if !e.is_unreachable() || !replica.exists() {
                        return Err(e.into());
                    }
                    warn!(
                        "DEGRADED: {e}. Serving this node's copy of it ({}, version {}) and \
                         connecting in the background; writes need the database",
                        replica.display(),
                        replica::Replica::version_in(&db_config.state_dir)
                            .map_or_else(|| "unknown".into(), |v| v.to_string())
                    );
                    connecting = Some(db_config.clone());
                    Some(
                        db::Database::open(
                            &config::DatabaseConfig {
                                location: phoneboot_store::Location::Sqlite(replica),
                                ..db_config.clone()
                            },
                            phoneboot_store::Create::Never,
                        )
                        .await?,
                    )
                }
            },
            (None, None) => None,
        };
        // Known before anything listens: /healthz must not say `ok` for a node that starts
        // from its copy, not even in the moment before the follower runs.
        let degraded_start = connecting.is_some();
        let mut follower = None;
        let mut stored = None;
        let built = match &database {
            Some(db) => {
                let (snapshot, version) = db.snapshot().await?;
                if config.max_serving_count_unset {
                    config.max_serving_count = snapshot.params.max_serving_count;
                }
                info!(
                    database = %db.location(),
                    devices = snapshot.devices.len(),
                    version,
                    "device database open"
                );
                let converter = config
                    .database
                    .as_ref()
                    .and_then(|c| converter::ProfileConverter::new(&c.profile_converter));
                let built = Arc::new(built::BuiltFiles::new(snapshot, version, converter));
                let poll = config
                    .database
                    .as_ref()
                    .map_or(Duration::from_millis(config::default::DB_POLL_MS), |c| {
                        c.poll
                    });
                let state_dir = config.database.as_ref().map_or_else(
                    || config::DatabaseConfig::default_state_dir(db.location()),
                    |c| c.state_dir.clone(),
                );
                let files = Arc::new(
                    stored::StoredFiles::open(&state_dir.join("files"))
                        .map_err(StartError::State)?,
                );
                // In step before the first request; a database that fails here is caught up
                // with by the follower.
                // (Not from this node's copy: it holds no files, and the mirror holds them all.)
                if connecting.is_none()
                    && let Err(e) = files.sync(&**db.store()).await
                {
                    warn!("stored files: {e}; serving the mirror as it is");
                }
                let mut following = follow::Follower::new(Arc::clone(&built), db.clone(), poll)
                    .with_files(Arc::clone(&files));
                // A node of a cluster keeps a copy of what it serves, for a start without the
                // database.
                let shared_database = connecting.as_ref().map_or(db.location(), |c| &c.location);
                if matches!(shared_database, phoneboot_store::Location::Postgres(_)) {
                    following = following.with_replica(Arc::new(replica::Replica::new(&state_dir)));
                }
                if let Some(config) = connecting.take() {
                    following = following.connecting(config);
                }
                follower = Some(following);
                stored = Some(files);
                Some(built)
            }
            None => None,
        };
        let counters = Arc::new(Counters::default());
        let secure = Arc::new(security::SecureState::new(
            load_keys(&config)?,
            Arc::clone(&counters),
        ));
        let (chain, roots) = chain(
            &config,
            built.as_ref(),
            stored.as_ref(),
            sources.clone(),
            &secure,
        )?;
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
        // HTTPS has a certificate to present only in a secure cluster.
        let mut https = Vec::new();
        if secure.keys().is_some() {
            for (kind, addrs) in [
                (https::Kind::ServerAuthenticated, &config.https_listen),
                (https::Kind::Mutual, &config.https_mutual_listen),
            ] {
                for addr in addrs {
                    https.push((kind, http::bind(*addr)?));
                }
            }
        }
        let admin = match config.admin_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| BindError::new(addr, e, "admin-listen"))?,
            ),
            None => None,
        };
        let admin_tls = match &config.admin_tls {
            Some(files) if admin.is_some() => {
                Some(https::admin_config(&files.cert, &files.key).map_err(StartError::AdminTls)?)
            }
            _ => None,
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
        // Nodes of a cluster report their counters to it; one SQLite node has no one to tell
        // (and its reports would wake every other process on the file).
        let clustered = config
            .database
            .as_ref()
            .filter(|c| matches!(c.location, phoneboot_store::Location::Postgres(_)));
        let follower = follower.map(|f| match clustered {
            Some(c) => {
                let name = c
                    .node_name
                    .clone()
                    .unwrap_or_else(|| default_node_name(&listeners));
                f.reporting(name)
            }
            None => f,
        });
        counters.set(
            Counter::MaxServingCount,
            u64::from(config.max_serving_count),
        );
        if let Some(built) = &built {
            let version = built.current().version.max(0);
            counters.set(Counter::DatabaseVersion, version.unsigned_abs());
        }
        counters.set(Counter::DatabaseDegraded, u64::from(degraded_start));
        let shared = Arc::new(Shared {
            admission: Admission::new(
                config.max_serving_count as usize,
                config.admission,
                Arc::clone(&counters),
            ),
            harvest: harvest::HarvestGuard::new(config.harvest, Arc::clone(&counters)),
            chain: RwLock::new(Arc::new(chain)),
            counters,
            secure,
            fetches: Arc::default(),
            misses: misses::MissLog::new(Duration::from_secs(60)),
            tasks: TaskTracker::new(),
            abort: CancellationToken::new(),
            config: RwLock::new(Arc::new(config)),
        });
        Ok(Server {
            handle: Handle {
                shared,
                stop: CancellationToken::new(),
                parts: Arc::new(Parts {
                    built,
                    stored,
                    sources,
                    database: db::Slot::new(database),
                    roots: RwLock::new(roots),
                }),
            },
            listeners,
            admin,
            admin_tls,
            http,
            https,
            follower,
        })
    }
}

/// The chain of a configuration: the built files first (the seed's order), the files
/// stored in the database next (what the cluster's administrators uploaded wins over a
/// node's own disk), then the given sources, or else the disk (root and alternate locations)
/// and the alternate servers.
pub(crate) fn chain(
    config: &Config,
    built: Option<&Arc<built::BuiltFiles>>,
    stored: Option<&Arc<stored::StoredFiles>>,
    sources: Option<Vec<Arc<dyn Source>>>,
    secure: &Arc<security::SecureState>,
) -> Result<(Chain, Option<Arc<FileRoots>>), StartError> {
    let (chain, roots) = plain_chain(config, built, stored, sources)?;
    // A secure cluster answers trust lists, .sgn and .enc.sgn around the whole chain.
    // With a database it is wrapped even without keys: an encrypted phone's files then go to
    // no one rather than out plain.
    let chain = if built.is_some() || secure.keys().is_some() {
        let secured = security::Secured::wrap(chain, secure, built.cloned());
        Chain::new(vec![Arc::new(secured) as Arc<dyn Source>])
    } else {
        chain
    };
    Ok((chain, roots))
}

/// The cluster's keys, checked: a start with expired or unreadable keys fails, since every
/// secure phone would refuse what the server signs.
pub(crate) fn load_keys(config: &Config) -> Result<Option<security::Keys>, StartError> {
    let Some(db) = &config.database else {
        return Ok(None);
    };
    let keystore = security::Keystore::at(db.security_dir());
    let keys = keystore
        .load(std::time::SystemTime::now())
        .map_err(|e| StartError::Security(e.to_string()))?;
    if let Some(keys) = &keys {
        info!(
            dir = %keystore.dir().display(),
            tftp = keys.current.tftp.cert().subject(),
            rotating = keys.next.is_some(),
            phones = keys.phones.len(),
            "secure cluster: serving trust lists and signed files"
        );
    }
    Ok(keys)
}

fn plain_chain(
    config: &Config,
    built: Option<&Arc<built::BuiltFiles>>,
    stored: Option<&Arc<stored::StoredFiles>>,
    sources: Option<Vec<Arc<dyn Source>>>,
) -> Result<(Chain, Option<Arc<FileRoots>>), StartError> {
    let mut chain: Vec<Arc<dyn Source>> = Vec::new();
    if let Some(built) = built {
        chain.push(Arc::clone(built) as Arc<dyn Source>);
    }
    if let Some(stored) = stored {
        chain.push(Arc::clone(stored) as Arc<dyn Source>);
    }
    if let Some(sources) = sources {
        chain.extend(sources);
        return Ok((Chain::new(chain), None));
    }
    let mut roots = vec![config.root.clone()];
    roots.extend(config.alternate_roots.iter().cloned());
    let files = Arc::new(
        FileRoots::new(&roots, config.case_insensitive, config.cache_max_bytes)
            .map_err(StartError::Root)?
            .streaming_above(config.stream_above_bytes),
    );
    chain.push(Arc::new(DirSource::new(Arc::clone(&files))));
    for cluster in &config.remote_clusters {
        let mut cluster = cluster.clone();
        cluster.stream_above = config.stream_above_bytes;
        // Large downloads are spooled beside the node's other state when it has a database
        // (the system's temporary directory, which may be memory, only without one).
        if let Some(db) = &config.database {
            cluster.spool_dir = db.state_dir.join("spool");
        }
        std::fs::create_dir_all(&cluster.spool_dir).map_err(|e| {
            StartError::Remote(format!(
                "remote cluster {}: cannot create {}: {e}",
                cluster.name,
                cluster.spool_dir.display()
            ))
        })?;
        let peer = PeerSource::new(cluster).map_err(|e| StartError::Remote(e.to_string()))?;
        chain.push(Arc::new(peer));
    }
    Ok((Chain::new(chain), Some(files)))
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
            "created a new, empty device database {}: no device has a configuration yet, so \
             every phone gets XMLDefault.cnf.xml. If a database exists elsewhere, stop and \
             name it (--database or [database] url); to fill this one: phoneboot init \
             --example, phoneboot import, phoneboot device add",
            config.location
        );
    }
    Ok(db)
}

/// `host 192.0.2.10:69`: this machine's name and where it serves TFTP.
fn default_node_name(listeners: &[Arc<listener::Listener>]) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "phoneboot".into());
    match listeners.first() {
        Some(l) => format!("{host} {}", l.local_addr()),
        None => host,
    }
}
