//! `phoneboot db backup|restore|check`: copies of the database taken while it serves, put
//! back whole, and its integrity checked.

use std::path::{Path, PathBuf};

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
    phoneboot db restore /var/backups/phoneboot-2026-12-01.db
A PostgreSQL database's backup is a SQLite file as well. `copy` moves a whole database into
an empty one — a single node's file into the cluster's PostgreSQL, or back:
    createdb -h db1 -U phoneboot phoneboot
    phoneboot db copy phoneboot.db postgres://phoneboot@db1/phoneboot")]
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
    /// Copy a whole database into an empty one, SQLite to PostgreSQL or back, verified object
    /// by object: how a single node becomes the first member of a cluster.
    Copy {
        /// The database copied: a SQLite file, sqlite:PATH or postgres://USER@HOST/DB.
        from: String,
        /// The empty database it goes into (a new SQLite file, or a PostgreSQL database made
        /// with createdb).
        to: String,
    },
}

pub(crate) async fn run(args: DbCommand) -> anyhow::Result<()> {
    if let DbVerb::Copy { from, to } = &args.verb {
        return copy(from, to).await;
    }
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
                DbVerb::Copy { .. } => unreachable!("copied above"),
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

/// `db copy FROM TO`: every object into an empty database, then both read back and compared.
async fn copy(from: &str, to: &str) -> anyhow::Result<()> {
    let parse = |text: &str, what: &str| {
        Location::parse(text).with_context(|| format!("the database to copy {what}"))
    };
    let (from, to) = (parse(from, "from")?, parse(to, "into")?);
    if from == to {
        bail!("{from} is both the source and the target of the copy");
    }
    let source = phoneboot_store::open(&from, Create::Never)
        .await
        .with_context(|| format!("opening {from}"))?;
    // A SQLite file made for the copy is removed again if the copy fails.
    let made = to
        .sqlite_path()
        .filter(|p| !p.exists())
        .map(Path::to_path_buf);
    let remove_made = || {
        for suffix in ["", "-wal", "-shm"] {
            if let Some(path) = &made {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
    };
    let target = match phoneboot_store::open(&to, Create::IfMissing).await {
        Ok(target) => target,
        Err(e) => {
            remove_made();
            return Err(e).with_context(|| format!("opening {to}"));
        }
    };
    let copied = phoneboot_store::copy(&*source, &*target).await;
    let verified = match copied {
        Ok(_) => phoneboot_store::same_objects(&*source, &*target).await,
        Err(e) => Err(e),
    };
    // Both closed whatever happened, the target before it may be removed.
    let closed = (source.close().await, target.close().await);
    let verified = verified.and_then(|n| closed.0.and(closed.1).map(|()| n));
    if let Err(e) = &verified {
        let refused_at_once = matches!(e, phoneboot_store::StoreError::NotEmpty(_));
        match &made {
            Some(_) => remove_made(),
            None if !refused_at_once => bail!(
                "copying {from} into {to}: {e}\n  {to} may now hold part of the copy: empty it \
                 (PostgreSQL: dropdb and createdb) before trying again"
            ),
            None => {}
        }
    }
    let objects = verified.with_context(|| format!("copying {from} into {to}"))?;
    outln!("copied {objects} objects from {from} into {to}; verified object by object");
    Ok(())
}
