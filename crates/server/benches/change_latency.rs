//! Change-to-servable latency: from the start of a device write to the moment a serving node
//! holds a generation with it (the next request gets the new file), over many changes, at
//! 100,000 devices — on the node that made the write (its own wake hint) and on another node
//! of the cluster (PostgreSQL NOTIFY), and the same for two handles on one SQLite file (how a
//! CLI write reaches `serve`: SQLite's data_version).
//!
//! `cargo bench -p phoneboot-server --bench change_latency` (PHONEBOOT_BENCH_DEVICES,
//! PHONEBOOT_BENCH_CHANGES to change the sizes). It starts its own PostgreSQL (Debian's
//! `postgresql` package; the tests' server: durability off) and two in-process servers with
//! default settings on each backend, and prints p50/p99/max.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use phoneboot_model::*;
use phoneboot_server::config::{Config, DatabaseConfig};
use phoneboot_server::counters::Counter;
use phoneboot_server::db::Database;
use phoneboot_server::{Handle, Server};
use phoneboot_store::{Create, Location, Mode, Write};

/// A server with phoneboot's defaults on loopback ports of its own, following `location`.
async fn node(location: &Location, state: &Path) -> Handle {
    let root = state.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let database = DatabaseConfig {
        location: location.clone(),
        state_dir: state.to_path_buf(),
        ..DatabaseConfig::default()
    };
    let config = Config {
        tftp_listen: vec!["127.0.0.1:0".parse().unwrap()],
        tftp_fallback: None,
        http_listen: Vec::new(),
        admin_listen: None,
        root,
        database: Some(database),
        ..Config::default()
    };
    let server = Server::builder(config).bind().await.unwrap();
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));
    handle
}

fn quantiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    // The q-th value of the sorted samples, by rank (no float index).
    let at = |q: f64| {
        let last = ms.len() - 1;
        let rank = (0..=last)
            .find(|i| *i as f64 >= last as f64 * q - 0.5)
            .unwrap_or(last);
        ms[rank]
    };
    format!(
        "p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

/// Writes `changes` device changes through `writer`; for each, how long until `here` (the
/// writer's node) and `there` (another node) serve it.
async fn measure(
    label: &str,
    writer: &Database,
    here: &Handle,
    there: &Handle,
    devices: u32,
    changes: u32,
) {
    let (mut write, mut same, mut other) = (Vec::new(), Vec::new(), Vec::new());
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for run in 0..changes {
        let key = format!("SEP{}", support::phone((run * 7919) % devices).mac);
        let stored = writer.get(Kind::Device, &key).await.unwrap();
        let Object::Device(mut d) = stored.object.clone() else {
            unreachable!()
        };
        d.description = format!("changed {run}");
        let started = Instant::now();
        let written = writer.update(&stored, Object::Device(d)).await.unwrap();
        let committed = started.elapsed();
        let version = u64::try_from(written.version).unwrap();
        let (mut a, mut b) = (None, None);
        while a.is_none() || b.is_none() {
            if a.is_none() && here.counters().get(Counter::DatabaseVersion) >= version {
                a = Some(started.elapsed());
            }
            if b.is_none() && there.counters().get(Counter::DatabaseVersion) >= version {
                b = Some(started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{label}: change {run} never served"
            );
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
        write.push(ms(committed));
        // From the commit (the write's return): a node may have it before the writer hears.
        same.push(ms(a.unwrap().saturating_sub(committed)));
        other.push(ms(b.unwrap().saturating_sub(committed)));
    }
    println!("{label}, {changes} changes at {devices} devices:");
    println!("  the write (checks + commit): {}", quantiles(write));
    println!("  commit to servable, same node:  {}", quantiles(same));
    println!("  commit to servable, other node: {}", quantiles(other));
}

async fn fill(location: &Location, devices: u32) -> Database {
    let config = DatabaseConfig {
        location: location.clone(),
        ..DatabaseConfig::default()
    };
    let db = Database::open(&config, Create::IfMissing).await.unwrap();
    let mut objects = support::base();
    objects.extend((0..devices).map(|i| Object::Device(support::phone(i))));
    let started = Instant::now();
    db.store()
        .write(
            &objects.into_iter().map(Write::Insert).collect::<Vec<_>>(),
            Mode::Commit,
        )
        .await
        .unwrap();
    eprintln!(
        "{location}: {devices} devices written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    db
}

fn main() {
    let var = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let devices = var("PHONEBOOT_BENCH_DEVICES", 100_000);
    let changes = var("PHONEBOOT_BENCH_CHANGES", 1_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pg = phoneboot_testkit::Postgres::start();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        for location in [
            Location::Postgres(pg.create_database()),
            Location::Sqlite(dir.path().join("bench.db")),
        ] {
            let writer = fill(&location, devices).await;
            let tag = match location {
                Location::Postgres(_) => "postgres",
                Location::Sqlite(_) => "sqlite",
            };
            // The writer's node shares its store handle, as the admin API of a node does.
            let here = {
                let state = dir.path().join(format!("{tag}-a"));
                std::fs::create_dir_all(state.join("root")).unwrap();
                let config = Config {
                    tftp_listen: vec!["127.0.0.1:0".parse().unwrap()],
                    tftp_fallback: None,
                    http_listen: Vec::new(),
                    admin_listen: None,
                    root: state.join("root"),
                    database: Some(DatabaseConfig {
                        location: location.clone(),
                        state_dir: state.clone(),
                        ..DatabaseConfig::default()
                    }),
                    ..Config::default()
                };
                let server = Server::builder(config)
                    .database(writer.clone())
                    .bind()
                    .await
                    .unwrap();
                let handle = server.handle();
                tokio::spawn(server.run(std::future::pending()));
                handle
            };
            let there = node(&location, &dir.path().join(format!("{tag}-b"))).await;
            // Steady state: both have built everything once and (PostgreSQL) written their
            // copy of the database before the first change.
            if matches!(location, Location::Postgres(_)) {
                for side in ["a", "b"] {
                    let written = dir.path().join(format!("{tag}-{side}/replica.version"));
                    let deadline = Instant::now() + Duration::from_secs(120);
                    while !written.exists() && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
            let label = match location {
                Location::Postgres(_) => "PostgreSQL (other node: NOTIFY)",
                Location::Sqlite(_) => {
                    "SQLite (other node: another handle on the file, data_version)"
                }
            };
            measure(label, &writer, &here, &there, devices, changes).await;
            here.shutdown();
            there.shutdown();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    drop(pg);
}
