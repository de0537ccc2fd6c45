//! The storm runner's pacing and accounting, on a paused clock with a server that takes a
//! fixed time per file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use phoneboot_emu::boot::{Device, Family, Fetched, Fetcher};
use phoneboot_emu::dhcp::Target;
use phoneboot_emu::storm::{self, Live, Pace, Phone};

/// Answers every configuration after `delay` and nothing else; counts how many requests are
/// in flight at once.
struct Slow {
    delay: Duration,
    in_flight: AtomicUsize,
    most: AtomicUsize,
}

impl Slow {
    fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            delay,
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        })
    }
}

impl Fetcher for Slow {
    fn fetch<'a>(
        &'a self,
        _server: &'a Target,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Fetched> + Send + 'a>> {
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            if name.ends_with(".cnf.xml") && name.starts_with("SEP") {
                Fetched::File(b"<device>\n</device>\n".to_vec())
            } else {
                Fetched::NotFound
            }
        })
    }
}

fn phones(n: u32) -> Vec<Phone> {
    (0..n)
        .map(|i| Phone {
            device: Device::new(format!("0011220000{i:02X}").parse().unwrap(), Family::Xml),
            servers: vec![Target::Name("a".into())],
            http_first: false,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn concurrency_bounds_the_boots_running_at_once() {
    let server = Slow::new(Duration::from_millis(10));
    let fetcher: Arc<dyn Fetcher> = server.clone();
    let report = storm::run(
        phones(40),
        Pace {
            rate: None,
            concurrency: 8,
        },
        Arc::clone(&fetcher),
        fetcher,
        Arc::new(Live::default()),
    )
    .await;
    assert_eq!((report.booted, report.failed_total()), (40, 0));
    assert_eq!(
        server.most.load(Ordering::SeqCst),
        8,
        "one request per running boot"
    );
    // Each boot: CTLSEP, CTLFile, ITLSEP, ITLFile, SEP, RingList = 6 requests of 10 ms.
    assert_eq!(report.requests, 240);
    assert_eq!(report.boot_times.len(), 40);
    assert!(
        report
            .boot_times
            .iter()
            .all(|t| *t == Duration::from_millis(60))
    );
    assert_eq!(report.elapsed, Duration::from_millis(300), "5 rounds of 8");
}

#[tokio::test(start_paused = true)]
async fn a_rate_spreads_the_starts_and_every_request_is_counted_in_time() {
    let server = Slow::new(Duration::from_millis(10));
    let fetcher: Arc<dyn Fetcher> = server.clone();
    let report = storm::run(
        phones(10),
        Pace {
            rate: Some(20.0),
            concurrency: 100,
        },
        Arc::clone(&fetcher),
        fetcher,
        Arc::new(Live::default()),
    )
    .await;
    assert_eq!(report.booted, 10);
    // The last starts at 9/20 s and takes 60 ms.
    assert_eq!(report.elapsed, Duration::from_millis(510));
    assert_eq!(
        server.most.load(Ordering::SeqCst),
        2,
        "a boot takes 60 ms, one starts every 50"
    );
    let rate = report.request_rate();
    let total: f64 = rate.iter().map(|(_, r)| r * 0.1).sum();
    assert!((total - 60.0).abs() < 1e-6, "{rate:?}");
    assert_eq!(report.files, 10);
    let summary = report.summary();
    assert!(
        summary.contains("booted: 10 (provisioned as their configuration says)\n"),
        "{summary}"
    );
    assert!(summary.contains("\nfailed: 0\n"), "{summary}");
}
