//! `phoneboot file`: custom files (ring tones, backgrounds, RingList.xml, firmware loads) in the
//! TFTP root or an alternate location, without a restart — or, with `--cluster`, in the
//! device database, where every node of the cluster serves them. A running server serves the
//! new version from the next request on; a transfer in flight finishes with the version it
//! started.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use phoneboot_server::config::{Config, Settings};
use phoneboot_server::db::Database;
use phoneboot_source::FileName;
use phoneboot_source::dir::{FileRoots, Probe};
use phoneboot_store::StoredFile;

use crate::database::DbArgs;

#[derive(Debug, Args)]
pub(crate) struct FileArgs {
    /// TOML configuration file (for its root and alternate locations).
    #[arg(
        long,
        short,
        env = "PHONEBOOT_CONFIG",
        value_name = "FILE",
        global = true
    )]
    config: Option<PathBuf>,
    /// The TFTP root. [default: ./tftp]
    #[arg(long, env = "PHONEBOOT_ROOT", value_name = "DIR", global = true)]
    root: Option<PathBuf>,
    /// An alternate file location, as given to `serve` (repeatable).
    #[arg(
        long = "alternate-root",
        env = "PHONEBOOT_ALTERNATE_ROOTS",
        value_name = "DIR",
        value_delimiter = ',',
        global = true
    )]
    alternate_roots: Vec<PathBuf>,
    /// Act on the files stored in the device database, which every node of the cluster
    /// serves (before its own disk), instead of this node's disk.
    #[arg(long, global = true)]
    cluster: bool,
    /// With --cluster: the device database (a SQLite file, or postgres://USER@HOST/DB).
    /// [default: the config file's [database] url, else ./phoneboot.db]
    #[arg(
        long,
        env = "PHONEBOOT_DATABASE",
        hide_env_values = true,
        value_name = "URL|FILE",
        global = true
    )]
    database: Option<String>,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Store a file, atomically replacing any file of that name (in any case).
    Put {
        /// The local file to upload; "-" reads standard input.
        source: PathBuf,
        /// Its name on the server (folders allowed). [default: the source's file name]
        name: Option<String>,
        /// 0 for the root, N for the Nth alternate location.
        #[arg(long, default_value_t = 0)]
        location: usize,
    },
    /// Print or save a file as a phone would get it (first location that has it).
    Get {
        name: String,
        /// Where to write it. [default: standard output]
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// List the files of every location.
    List,
    /// Remove a file.
    Rm {
        name: String,
        /// 0 for the root, N for the Nth alternate location.
        #[arg(long, default_value_t = 0)]
        location: usize,
    },
}

pub(crate) async fn run(args: FileArgs) -> anyhow::Result<()> {
    if args.cluster {
        let db = DbArgs {
            config: args.config.clone(),
            database: args.database.clone(),
            models: None,
            state_dir: None,
        };
        return db.with(|db| cluster(db, args.action)).await;
    }
    let file = match &args.config {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };
    let flags = Settings {
        root: args.root,
        alternate_roots: (!args.alternate_roots.is_empty()).then_some(args.alternate_roots),
        ..Settings::default()
    };
    let config = Config::from_layers(file, flags)?;
    let mut locations = vec![config.root.clone()];
    locations.extend(config.alternate_roots.iter().cloned());
    if matches!(args.action, Action::Put { .. }) && !config.root.exists() && locations.len() == 1 {
        std::fs::create_dir_all(&config.root)
            .with_context(|| format!("creating the root {}", config.root.display()))?;
    }
    let roots = FileRoots::new(&locations, config.case_insensitive, 1 << 20)?;
    match args.action {
        Action::Put {
            source,
            name,
            location,
        } => {
            let (name, content) = upload(&source, name)?;
            let parsed = parse(&name)?;
            let path = roots
                .put(location, &parsed, &content)
                .with_context(|| format!("storing {name}"))?;
            eprintln!(
                "stored {name}: {} bytes -> {}",
                content.len(),
                path.display()
            );
        }
        Action::Get { name, output } => {
            let parsed = parse(&name)?;
            let content = match roots.probe(&parsed) {
                Probe::Found(f) => f.content,
                Probe::NeedsLoad(p) => {
                    roots
                        .load(p)
                        .with_context(|| format!("reading {name}"))?
                        .content
                }
                Probe::NotFound => bail!("{name}: no such file in any location"),
                Probe::Denied(why) => bail!("{name}: {why}"),
            };
            // A large file is copied a stretch at a time, never held whole.
            let mut out: Box<dyn Write> = match &output {
                Some(path) => Box::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("writing {}", path.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut written = Ok(());
            content
                .for_each_chunk(|chunk| {
                    if written.is_ok() {
                        written = out.write_all(chunk);
                    }
                })
                .with_context(|| format!("reading {name}"))?;
            written
                .and_then(|()| out.flush())
                .with_context(|| match &output {
                    Some(path) => format!("writing {}", path.display()),
                    None => "writing to standard output".to_owned(),
                })?;
        }
        Action::List => {
            let dirs: Vec<_> = roots.locations().map(|p| p.display().to_string()).collect();
            let mut out = std::io::stdout().lock();
            for l in roots.list() {
                let when = l
                    .modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                writeln!(
                    out,
                    "{:>12}  {}  {}  [{}]",
                    l.len,
                    httpdate::fmt_http_date(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(when)
                    ),
                    l.name,
                    dirs.get(l.location).map_or("?", String::as_str)
                )?;
            }
        }
        Action::Rm { name, location } => {
            let parsed = parse(&name)?;
            let path = roots
                .remove(location, &parsed)
                .with_context(|| format!("removing {name}"))?;
            eprintln!("removed {}", path.display());
        }
    }
    Ok(())
}

/// The name to store an upload under and its content (`-`: standard input).
fn upload(source: &std::path::Path, name: Option<String>) -> anyhow::Result<(String, Vec<u8>)> {
    let name = match name {
        Some(n) => n,
        None => source
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| source.as_os_str() != "-")
            .context("give the name to store it under (the source has none)")?
            .to_owned(),
    };
    let content = if source.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        buf
    } else {
        std::fs::read(source).with_context(|| format!("reading {}", source.display()))?
    };
    Ok((name, content))
}

/// The `--cluster` verbs: the files stored in the device database.
async fn cluster(db: Database, action: Action) -> anyhow::Result<()> {
    let store = db.store();
    let find = |name: &str, files: Vec<StoredFile>| {
        let wanted = parse(name)?.display().to_lowercase();
        files
            .into_iter()
            .find(|f| f.name.to_lowercase() == wanted)
            .with_context(|| format!("{name}: no such file in {}", db.location()))
    };
    match action {
        Action::Put {
            source,
            name,
            location,
        } => {
            if location != 0 {
                bail!(
                    "--location names a folder of this node's disk; with --cluster there is none"
                );
            }
            let (name, content) = upload(&source, name)?;
            let name = parse(&name)?.display();
            if name.is_empty() {
                bail!("give the name to store it under");
            }
            let stored = store
                .put_file(&name, &content, None)
                .await
                .with_context(|| format!("storing {name} in {}", db.location()))?;
            eprintln!(
                "stored {name} in {}: {} bytes, sha256 {}; every node serves it",
                db.location(),
                stored.size,
                stored.digest
            );
        }
        Action::Get { name, output } => {
            let file = find(&name, store.files().await?.0)?;
            let content = store
                .read_file(&file.digest)
                .await?
                .with_context(|| format!("{name}: removed while it was read"))?;
            match output {
                Some(path) => std::fs::write(&path, &content)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().write_all(&content)?,
            }
        }
        Action::List => {
            let mut out = std::io::stdout().lock();
            for f in store.files().await?.0 {
                let when = std::time::UNIX_EPOCH
                    + std::time::Duration::from_secs(u64::try_from(f.at).unwrap_or(0));
                writeln!(
                    out,
                    "{:>12}  {}  {}  [sha256 {}]",
                    f.size,
                    httpdate::fmt_http_date(when),
                    f.name,
                    f.digest.get(..16).unwrap_or(&f.digest)
                )?;
            }
        }
        Action::Rm { name, location } => {
            if location != 0 {
                bail!(
                    "--location names a folder of this node's disk; with --cluster there is none"
                );
            }
            let file = find(&name, store.files().await?.0)?;
            store.remove_file(&file.name).await?;
            eprintln!("removed {} from {}", file.name, db.location());
        }
    }
    Ok(())
}

/// A name as the server would take it, or why not.
fn parse(name: &str) -> anyhow::Result<FileName> {
    FileName::parse(name.as_bytes()).map_err(|why| anyhow::anyhow!("{name:?}: {why}"))
}
