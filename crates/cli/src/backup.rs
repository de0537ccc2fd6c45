//! `phoneboot db backup|restore|check`: copies of the database taken while it serves, put
//! back whole, and its integrity checked.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use phoneboot_server::config::DatabaseConfig;
use phoneboot_server::db::Database;
use phoneboot_store::{Create, Location};

use crate::database::DbArgs;

#[derive(Debug, Args)]
#[command(after_help = "\
A backup is one consistent copy, taken while phoneboot serves and others write (SQLite's
VACUUM INTO): copy it anywhere. `restore` makes the database hold exactly what the backup
holds, in one write that a running server takes in like any other change.
    phoneboot db backup /var/backups/phoneboot-$(date +%F).db
    phoneboot db check
    phoneboot db restore /var/backups/phoneboot-2026-12-01.db")]
pub(crate) struct DbCommand {
    #[command(subcommand)]
    verb: DbVerb,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Subcommand)]
enum DbVerb {
    /// Write a consistent copy of the database to FILE (which must not exist).
    Backup { file: PathBuf },
    /// Make the database hold exactly what the backup FILE holds (checked first).
    Restore { file: PathBuf },
    /// Check the database: the file's integrity, its references, and every object against
    /// the rules of this version of phoneboot.
    Check,
}

pub(crate) async fn run(args: DbCommand) -> anyhow::Result<()> {
    let models = args.db.config()?.models;
    args.db
        .with(|db| async move {
            match args.verb {
                DbVerb::Backup { file } => {
                    db.backup(&file)
                        .await
                        .with_context(|| format!("backing up into {}", file.display()))?;
                    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                    outln!(
                        "backed up {} into {} ({size} bytes)",
                        db.location(),
                        file.display()
                    );
                }
                DbVerb::Check => {
                    let problems = db.check().await?;
                    if !problems.is_empty() {
                        for p in &problems {
                            eprintln!("{p}");
                        }
                        bail!(
                            "{}: {} problems (listed above)",
                            db.location(),
                            problems.len()
                        );
                    }
                    let head = db.store().head().await?;
                    outln!("{}: sound (version {head})", db.location());
                }
                DbVerb::Restore { file } => {
                    let backup = Database::open(
                        &DatabaseConfig {
                            location: Location::Sqlite(file.clone()),
                            models,
                            ..DatabaseConfig::default()
                        },
                        Create::Never,
                    )
                    .await
                    .with_context(|| format!("opening the backup {}", file.display()))?;
                    let problems = backup.check().await?;
                    if !problems.is_empty() {
                        bail!(
                            "{} is not a sound backup; nothing was restored:\n{}",
                            file.display(),
                            problems.join("\n")
                        );
                    }
                    let before = db.store().head().await?;
                    let restored = db.restore(&backup).await;
                    backup.close().await?;
                    let version = restored.map_err(|refused| {
                        let reasons: Vec<String> =
                            refused.0.iter().map(|(_, e)| e.to_string()).collect();
                        anyhow::anyhow!(
                            "{} cannot be restored; nothing was changed:\n{}",
                            file.display(),
                            reasons.join("\n")
                        )
                    })?;
                    outln!(
                        "restored {} into {} ({} change(s); version {version})",
                        file.display(),
                        db.location(),
                        version - before
                    );
                }
            }
            Ok(())
        })
        .await
}
