//! What every database command shares: where the database is, and opening it — only an
//! existing one, except for `init`, so that a typo never makes a new, empty database.

use std::future::Future;
use std::path::PathBuf;

use anyhow::{anyhow, bail};
use clap::Args;
use phoneboot_server::config::{Config, DatabaseConfig, DatabaseSection, Settings};
use phoneboot_server::db::{Database, DbError};
use phoneboot_store::Create;

#[derive(Debug, Clone, Default, Args)]
pub(crate) struct DbArgs {
    /// The configuration file `serve` reads: its [database] section applies here too, so the
    /// CLI and the server agree on the database, the model file and the profile converter.
    #[arg(long, global = true, env = "PHONEBOOT_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// The device database: a SQLite file's path or sqlite:PATH, or a cluster's PostgreSQL
    /// (postgres://USER@HOST/DB). It must exist (`phoneboot init` creates a file, or the tables
    /// of a PostgreSQL database made with createdb). [default: the config file's [database]
    /// url, else ./phoneboot.db]
    #[arg(
        long,
        global = true,
        env = "PHONEBOOT_DATABASE",
        hide_env_values = true,
        value_name = "URL|FILE"
    )]
    pub(crate) database: Option<String>,

    /// A model catalogue file that extends the built-in one (same shape as `phoneboot models
    /// --toml` prints); a model of the same name replaces the built-in one.
    #[arg(long, global = true, env = "PHONEBOOT_MODELS", value_name = "FILE")]
    pub(crate) models: Option<PathBuf>,

    /// The node's state directory, as `serve --state-dir`: the cluster's keys are in its
    /// security/ folder. [default: the config file's, else beside a SQLite file (FILE-state)]
    #[arg(long, global = true, env = "PHONEBOOT_STATE_DIR", value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
}

impl DbArgs {
    /// The whole configuration `serve` would run with (the flags given here over the file).
    pub(crate) fn serve_config(&self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => Settings::load(path)?,
            None => Settings::default(),
        };
        let flags = Settings {
            database: DatabaseSection {
                url: self.database.clone(),
                models: self.models.clone(),
                state_dir: self.state_dir.clone(),
                ..DatabaseSection::default()
            },
            ..Settings::default()
        };
        Ok(Config::from_layers(file, flags)?)
    }

    /// The flags over the config file's [database] section over the defaults, checked as
    /// `serve` checks them.
    pub(crate) fn config(&self) -> anyhow::Result<DatabaseConfig> {
        match self.serve_config()?.database {
            Some(database) => Ok(database),
            None => bail!(
                "the configuration turns the device database off ([database] url = \"off\"); \
                 name one with --database FILE"
            ),
        }
    }

    /// True when the user named the database (flag, environment or config file), so that
    /// hints must name it too.
    pub(crate) fn named(&self) -> bool {
        self.database.is_some() || self.config.is_some()
    }

    /// Opens the database, which must exist; runs `work` on it, then closes it, so that the
    /// main file alone holds every write the command made (a copy of it is complete).
    pub(crate) async fn with<T, F, Fut>(&self, work: F) -> anyhow::Result<T>
    where
        F: FnOnce(Database) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let db = self.open(Create::Never).await?;
        let result = work(db.clone()).await;
        db.close().await?;
        result
    }

    pub(crate) async fn open(&self, create: Create) -> anyhow::Result<Database> {
        let config = self.config()?;
        let db = Database::open(&config, create).await.map_err(|e| match e {
            DbError::Absent { location, .. } => anyhow!(
                "the device database {location} does not exist: `phoneboot init{flag}` \
                     creates it (--example fills it with a small cluster), and `phoneboot \
                     serve` creates one at its first start; if it is elsewhere, name it with \
                     --database",
                flag = if self.named() {
                    format!(" --database {location}")
                } else {
                    String::new()
                }
            ),
            other => anyhow!(other),
        })?;
        Ok(db.by(command_actor()))
    }
}

/// Who a command writes as, for the audit log: `cli <login name>`, from the command's verbs
/// (never its values: a `field=value` may be a password).
pub(crate) fn command_actor() -> phoneboot_store::Actor {
    let user = ["USER", "LOGNAME"]
        .into_iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .or_else(|| {
            use std::os::unix::fs::MetadataExt as _;
            std::fs::metadata("/proc/self")
                .ok()
                .map(|m| format!("uid {}", m.uid()))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let verbs: Vec<String> = std::env::args()
        .skip(1)
        .take_while(|a| !a.starts_with('-') && !a.contains('='))
        .take(2)
        .collect();
    phoneboot_store::Actor::new(
        format!("cli {user}"),
        format!("phoneboot {}", verbs.join(" ")),
    )
}
