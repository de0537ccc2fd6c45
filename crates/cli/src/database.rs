//! What every database command shares: where the database is, and opening it.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use phoneboot_server::config::DatabaseConfig;
use phoneboot_server::db::Database;

#[derive(Debug, Clone, Args)]
pub(crate) struct DbArgs {
    /// The device database (SQLite file; created if missing). [default: ./phoneboot.db]
    #[arg(long, global = true, env = "PHONEBOOT_DATABASE", value_name = "FILE")]
    pub(crate) database: Option<PathBuf>,

    /// A model catalogue file that extends the built-in one (same shape as `phoneboot models
    /// --toml` prints); a model of the same name replaces the built-in one.
    #[arg(long, global = true, env = "PHONEBOOT_MODELS", value_name = "FILE")]
    pub(crate) models: Option<PathBuf>,
}

impl DbArgs {
    pub(crate) fn config(&self) -> DatabaseConfig {
        let mut config = DatabaseConfig::default();
        if let Some(path) = &self.database {
            config.path.clone_from(path);
        }
        config.models.clone_from(&self.models);
        config
    }

    pub(crate) async fn open(&self) -> anyhow::Result<Database> {
        let config = self.config();
        Database::open(&config)
            .await
            .with_context(|| format!("opening the device database {}", config.path.display()))
    }
}
