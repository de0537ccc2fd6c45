//! What every database command shares: where the database is, and opening it.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use phoneboot_server::config::{Config, DatabaseConfig, DatabaseSection, Settings};
use phoneboot_server::db::Database;

#[derive(Debug, Clone, Default, Args)]
pub(crate) struct DbArgs {
    /// The configuration file `serve` reads: its [database] section applies here too, so the
    /// CLI and the server agree on the database, the model file and the profile converter.
    #[arg(long, global = true, env = "PHONEBOOT_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// The device database (SQLite file; created if missing). [default: the config file's
    /// [database] path, else ./phoneboot.db]
    #[arg(long, global = true, env = "PHONEBOOT_DATABASE", value_name = "FILE")]
    pub(crate) database: Option<PathBuf>,

    /// A model catalogue file that extends the built-in one (same shape as `phoneboot models
    /// --toml` prints); a model of the same name replaces the built-in one.
    #[arg(long, global = true, env = "PHONEBOOT_MODELS", value_name = "FILE")]
    pub(crate) models: Option<PathBuf>,
}

impl DbArgs {
    /// The flags over the config file's [database] section over the defaults, checked as
    /// `serve` checks them.
    pub(crate) fn config(&self) -> anyhow::Result<DatabaseConfig> {
        let file = match &self.config {
            Some(path) => Settings::load(path)?,
            None => Settings::default(),
        };
        let flags = Settings {
            database: DatabaseSection {
                path: self
                    .database
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
                models: self.models.clone(),
                ..DatabaseSection::default()
            },
            ..Settings::default()
        };
        match Config::from_layers(file, flags)?.database {
            Some(database) => Ok(database),
            None => bail!(
                "the configuration turns the device database off ([database] path = \"off\"); \
                 name one with --database FILE"
            ),
        }
    }

    pub(crate) async fn open(&self) -> anyhow::Result<Database> {
        open(&self.config()?).await
    }
}

pub(crate) async fn open(config: &DatabaseConfig) -> anyhow::Result<Database> {
    Database::open(config)
        .await
        .with_context(|| format!("opening the device database {}", config.path.display()))
}
