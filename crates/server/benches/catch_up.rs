//! What it costs a serving node to take in one device change, at 100,000 devices: the time
//! and the heap allocations of one `Follower::catch_up` (reading the change from the feed,
//! applying it to the snapshot, swapping the generation), and of the snapshot step alone.
//!
//! `cargo bench -p phoneboot-server --bench catch_up` (PHONEBOOT_BENCH_DEVICES to change the
//! size). It prints medians over the runs; allocations are counted by a global allocator.

// A counting allocator needs `unsafe impl GlobalAlloc`; it only forwards to the system's.
#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use phoneboot_model::*;
use phoneboot_server::built::BuiltFiles;
use phoneboot_server::config::DatabaseConfig;
use phoneboot_server::counters::Counters;
use phoneboot_server::db::Database;
use phoneboot_server::follow::Follower;
use phoneboot_store::{Create, Location, Mode, Write};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<T>(f: impl FnOnce() -> T) -> (T, Duration, u64, u64) {
    let (a, b) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    (
        out,
        took,
        ALLOCATIONS.load(Ordering::Relaxed) - a,
        BYTES.load(Ordering::Relaxed) - b,
    )
}

fn phone(i: u32) -> Object {
    Object::Device(support::phone(i))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let devices: u32 = std::env::var("PHONEBOOT_BENCH_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let config = DatabaseConfig {
            location: Location::Sqlite(dir.path().join("bench.db")),
            ..DatabaseConfig::default()
        };
        let db = Database::open(&config, Create::IfMissing).await.unwrap();
        let mut base = support::base();
        base.extend((0..devices).map(phone));
        let started = Instant::now();
        // Straight to the store: the bench measures taking a change in, not writing 100,000.
        db.store()
            .write(
                &base.into_iter().map(Write::Insert).collect::<Vec<_>>(),
                Mode::Commit,
            )
            .await
            .unwrap();
        eprintln!("{devices} devices written in {:.1} s", started.elapsed().as_secs_f64());
        let (snapshot, version) = db.snapshot().await.unwrap();
        let built = Arc::new(BuiltFiles::new(snapshot, version, None));
        let follower = Follower::new(Arc::clone(&built), db.clone(), Duration::from_secs(60));
        let counters = Counters::default();
        let (mut times, mut allocs, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
        let runs = 30;
        for run in 0..runs {
            let stored = db.get(Kind::Device, &format!("SEP{}", match phone(run * 7) {
                Object::Device(d) => d.mac,
                _ => unreachable!(),
            })).await.unwrap();
            let Object::Device(mut d) = stored.object.clone() else { unreachable!() };
            d.description = format!("changed {run}");
            db.update(&stored, Object::Device(d)).await.unwrap();
            let a = ALLOCATIONS.load(Ordering::Relaxed);
            let b = BYTES.load(Ordering::Relaxed);
            let started = Instant::now();
            let caught = follower.catch_up(&counters).await.unwrap().unwrap();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            allocs.push((ALLOCATIONS.load(Ordering::Relaxed) - a) as f64);
            bytes.push((BYTES.load(Ordering::Relaxed) - b) as f64);
            assert_eq!(caught.changes, 1);
        }
        // The snapshot step alone: what the feed reading does not cost.
        let generation = built.current();
        let mut step = (Vec::new(), Vec::new());
        for i in 0..runs {
            let ((), took, n, _) = counted(|| {
                let mut next = generation.snapshot.clone();
                next.put(phone(i));
                drop(next);
            });
            step.0.push(took.as_secs_f64() * 1000.0);
            step.1.push(n as f64);
        }
        println!("one device change taken in by a node holding {devices} devices ({runs} runs, medians):");
        println!(
            "  catch_up (feed read + snapshot + swap): {:.3} ms, {:.0} allocations, {:.1} KiB allocated",
            median(times),
            median(allocs),
            median(bytes) / 1024.0
        );
        println!(
            "  snapshot step alone (clone + put):      {:.3} ms, {:.0} allocations",
            median(step.0),
            median(step.1)
        );
    });
}
