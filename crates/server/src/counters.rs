//! The "Cisco TFTP Server" perfmon counters (spec cisco-tftp.md §3), plus a few of phoneboot's
//! own, as atomics. Rendered as Prometheus text on `/metrics` and as a CUCM-named list on
//! `/counters` (what `phoneboot counters` reads).
//!
//! Accounting identity for TFTP requests, checked by the tests:
//!
//! ```text
//! Requests = RequestsProcessed + RequestsNotFound + RequestsOverflow + RequestsAborted
//!          + RequestsInProgress + RequestsDenied + RequestsOptionProbe
//! ```
//!
//! CUCM's identity has only the first five; the last two are phoneboot's, so that a refused
//! path or a firmware's tsize probe is neither a success nor a failure.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// One counter: its CUCM name, its Prometheus name, its help text and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Requests,
    RequestsProcessed,
    RequestsNotFound,
    RequestsOverflow,
    RequestsAborted,
    RequestsInProgress,
    SegmentsSent,
    SegmentsAcknowledged,
    MaxServingCount,
    HeartBeat,
    // phoneboot's own.
    RequestsDenied,
    RequestsOptionProbe,
    RequestsUnconfirmed,
    RequestsDuplicate,
    SegmentsRetransmitted,
    MalformedDatagrams,
    ForeignDatagrams,
    HttpRequests,
    HttpRequestsProcessed,
    HttpRequestsNotFound,
    HttpRequestsOverflow,
    HttpRequestsAborted,
    HttpConnectRequests,
    HttpServedFromDisk,
    HttpRequestsDenied,
    SepFound,
    SepNotFound,
    SipFound,
    SipNotFound,
    LdFound,
    LdNotFound,
    GkFound,
    GkNotFound,
    SegmentsFromDisk,
    BuildCount,
    BuildAbortCount,
    BuildDeviceCount,
    BuildDialruleCount,
    BuildSoftkeyCount,
    BuildUnitCount,
    BuildSignCount,
    BuildDuration,
    BuildErrors,
    ChangeNotifications,
    DeviceChangeNotifications,
    DialruleChangeNotifications,
    SoftkeyChangeNotifications,
    UnitChangeNotifications,
    EncryptCount,
    DatabaseVersion,
    DatabaseDegraded,
    DatabaseOutages,
    ClusterFiles,
    QueueLength,
    RequestsQueued,
    QueueServed,
    QueueTimedOut,
    QueueFull,
    QueueEvicted,
    QueueWaitMs,
    TransfersUnanswered,
    SlotsYielded,
    UnansweredReaped,
    HarvestThrottled,
    HarvestSources,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cumulative,
    Gauge,
}

#[derive(Debug)]
pub struct Def {
    pub counter: Counter,
    pub cucm_name: &'static str,
    pub metric: &'static str,
    pub help: &'static str,
    pub kind: Kind,
}

/// Every counter, in display order.
pub const DEFS: &[Def] = &[
    def(
        Counter::Requests,
        "Requests",
        "phoneboot_tftp_requests_total",
        "TFTP file requests received (RRQ and WRQ), duplicates of a running transfer excluded.",
        Kind::Cumulative,
    ),
    def(
        Counter::RequestsProcessed,
        "RequestsProcessed",
        "phoneboot_tftp_requests_processed_total",
        "TFTP requests served to the end (final ACK received, or every block sent and the final ACK lost).",
        Kind::Cumulative,
    ),
    def(
        Counter::RequestsNotFound,
        "RequestsNotFound",
        "phoneboot_tftp_requests_not_found_total",
        "TFTP requests for a file that exists in no root (answered ERROR 1). CTL/ITL misses in a nonsecure cluster land here and are normal.",
        Kind::Cumulative,
    ),
    def(
        Counter::RequestsOverflow,
        "RequestsOverflow",
        "phoneboot_tftp_requests_overflow_total",
        "TFTP requests refused because Maximum Serving Count transfers were in flight (answered busy).",
        Kind::Cumulative,
    ),
    def(
        Counter::RequestsAborted,
        "RequestsAborted",
        "phoneboot_tftp_requests_aborted_total",
        "TFTP transfers that ended before the file was sent: client silent, client ERROR, protocol violation, shutdown.",
        Kind::Cumulative,
    ),
    def(
        Counter::RequestsInProgress,
        "RequestsInProgress",
        "phoneboot_tftp_requests_in_progress",
        "TFTP transfers running now.",
        Kind::Gauge,
    ),
    def(
        Counter::SegmentsSent,
        "SegmentsSent",
        "phoneboot_tftp_segments_sent_total",
        "TFTP DATA packets sent, retransmissions included.",
        Kind::Cumulative,
    ),
    def(
        Counter::SegmentsAcknowledged,
        "SegmentsAcknowledged",
        "phoneboot_tftp_segments_acknowledged_total",
        "TFTP DATA blocks acknowledged by clients.",
        Kind::Cumulative,
    ),
    def(
        Counter::MaxServingCount,
        "MaxServingCount",
        "phoneboot_tftp_max_serving_count",
        "The Maximum Serving Count in force.",
        Kind::Gauge,
    ),
    def(
        Counter::HeartBeat,
        "HeartBeat",
        "phoneboot_heartbeat_total",
        "Increases once a second while the service is alive.",
        Kind::Cumulative,
    ),
    def(
        Counter::RequestsDenied,
        "RequestsDenied",
        "phoneboot_tftp_requests_denied_total",
        "TFTP requests refused with ERROR 2: write requests, names outside the roots, bad names.",
        Kind::Cumulative,
    ),
    def(
        Counter::RequestsOptionProbe,
        "RequestsOptionProbe",
        "phoneboot_tftp_requests_option_probe_total",
        "TFTP requests whose client answered the OACK with an ERROR (firmware size probes).",
        Kind::Cumulative,
    ),
    def(
        Counter::RequestsUnconfirmed,
        "RequestsUnconfirmed",
        "phoneboot_tftp_requests_unconfirmed_total",
        "Processed TFTP requests whose final ACK never arrived.",
        Kind::Cumulative,
    ),
    def(
        Counter::RequestsDuplicate,
        "RequestsDuplicate",
        "phoneboot_tftp_requests_duplicate_total",
        "Retransmitted RRQs from a client whose transfer is running (ignored).",
        Kind::Cumulative,
    ),
    def(
        Counter::SegmentsRetransmitted,
        "SegmentsRetransmitted",
        "phoneboot_tftp_segments_retransmitted_total",
        "TFTP DATA packets sent again after a timeout or a loss signal.",
        Kind::Cumulative,
    ),
    def(
        Counter::MalformedDatagrams,
        "MalformedDatagrams",
        "phoneboot_tftp_malformed_datagrams_total",
        "Datagrams on the TFTP port that are not a valid request (answered ERROR 4).",
        Kind::Cumulative,
    ),
    def(
        Counter::ForeignDatagrams,
        "ForeignDatagrams",
        "phoneboot_tftp_foreign_datagrams_total",
        "Datagrams reaching a transfer from a wrong address or port (answered ERROR 5).",
        Kind::Cumulative,
    ),
    def(
        Counter::HttpRequests,
        "HttpRequests",
        "phoneboot_http_requests_total",
        "HTTP file requests received (GET and HEAD).",
        Kind::Cumulative,
    ),
    def(
        Counter::HttpRequestsProcessed,
        "HttpRequestsProcessed",
        "phoneboot_http_requests_processed_total",
        "HTTP requests answered 200 (body handed to the connection) or 304.",
        Kind::Cumulative,
    ),
    def(
        Counter::HttpRequestsNotFound,
        "HttpRequestsNotFound",
        "phoneboot_http_requests_not_found_total",
        "HTTP requests for a file that exists in no root (404).",
        Kind::Cumulative,
    ),
    def(
        Counter::HttpRequestsOverflow,
        "HttpRequestsOverflow",
        "phoneboot_http_requests_overflow_total",
        "HTTP requests refused at Maximum Serving Count (503).",
        Kind::Cumulative,
    ),
    def(
        Counter::HttpRequestsAborted,
        "HttpRequestsAborted",
        "phoneboot_http_requests_aborted_total",
        "HTTP responses that did not complete: client gone, read error.",
        Kind::Cumulative,
    ),
    def(
        Counter::HttpConnectRequests,
        "HttpConnectRequests",
        "phoneboot_http_connect_requests",
        "HTTP file requests being handled now.",
        Kind::Gauge,
    ),
    def(
        Counter::HttpServedFromDisk,
        "HttpServedFromDisk",
        "phoneboot_http_served_from_disk_total",
        "HTTP requests whose file had to be read from disk (not in the cache).",
        Kind::Cumulative,
    ),
    def(
        Counter::HttpRequestsDenied,
        "HttpRequestsDenied",
        "phoneboot_http_requests_denied_total",
        "HTTP requests for a name that may not be served (403).",
        Kind::Cumulative,
    ),
    def(
        Counter::SepFound,
        "SEPFoundCount",
        "phoneboot_sep_found_total",
        "Requests for SEP<MAC> configuration files that were found.",
        Kind::Cumulative,
    ),
    def(
        Counter::SepNotFound,
        "SEPNotFoundCount",
        "phoneboot_sep_not_found_total",
        "Requests for SEP<MAC> configuration files that were not found.",
        Kind::Cumulative,
    ),
    def(
        Counter::SipFound,
        "SIPFoundCount",
        "phoneboot_sip_found_total",
        "Requests for SIP<MAC>.cnf files (7940/7960 SIP) that were found.",
        Kind::Cumulative,
    ),
    def(
        Counter::SipNotFound,
        "SIPNotFoundCount",
        "phoneboot_sip_not_found_total",
        "Requests for SIP<MAC>.cnf files (7940/7960 SIP) that were not found.",
        Kind::Cumulative,
    ),
    def(
        Counter::LdFound,
        "LDFoundCount",
        "phoneboot_ld_found_total",
        "Requests for ld<mac> files (7905) that were found.",
        Kind::Cumulative,
    ),
    def(
        Counter::LdNotFound,
        "LDNotFoundCount",
        "phoneboot_ld_not_found_total",
        "Requests for ld<mac> files (7905) that were not found.",
        Kind::Cumulative,
    ),
    def(
        Counter::GkFound,
        "GKFoundCount",
        "phoneboot_gk_found_total",
        "Requests for gk<mac> files (7912) that were found.",
        Kind::Cumulative,
    ),
    def(
        Counter::GkNotFound,
        "GKNotFoundCount",
        "phoneboot_gk_not_found_total",
        "Requests for gk<mac> files (7912) that were not found.",
        Kind::Cumulative,
    ),
    def(
        Counter::SegmentsFromDisk,
        "SegmentsFromDisk",
        "phoneboot_tftp_segments_from_disk_total",
        "TFTP DATA packets of transfers whose file was read from disk for them (not found in the memory cache).",
        Kind::Cumulative,
    ),
    def(
        Counter::BuildCount,
        "BuildCount",
        "phoneboot_build_count_total",
        "Full builds of every configuration file since start (at start, and after each change that touches every device: parameters, call managers, groups, pools, date/time groups).",
        Kind::Cumulative,
    ),
    def(
        Counter::BuildAbortCount,
        "BuildAbortCount",
        "phoneboot_build_abort_count_total",
        "Full builds abandoned because a newer change arrived before they finished.",
        Kind::Cumulative,
    ),
    def(
        Counter::BuildDeviceCount,
        "BuildDeviceCount",
        "phoneboot_build_device_count",
        "Device files built by the last full build.",
        Kind::Gauge,
    ),
    def(
        Counter::BuildDialruleCount,
        "BuildDialruleCount",
        "phoneboot_build_dialrule_count",
        "Dial plan files built by the last full build.",
        Kind::Gauge,
    ),
    def(
        Counter::BuildSoftkeyCount,
        "BuildSoftkeyCount",
        "phoneboot_build_softkey_count",
        "Softkey template files built by the last full build.",
        Kind::Gauge,
    ),
    def(
        Counter::BuildUnitCount,
        "BuildUnitCount",
        "phoneboot_build_unit_count",
        "Gateway (unit) files built by the last full build (none yet: gateway formats are not built).",
        Kind::Gauge,
    ),
    def(
        Counter::BuildSignCount,
        "BuildSignCount",
        "phoneboot_build_sign_count_total",
        "Signed files made (.sgn): each built file whose content changed, at the full build; a custom file at its first request and when it changes; never per request.",
        Kind::Cumulative,
    ),
    def(
        Counter::BuildDuration,
        "BuildDuration",
        "phoneboot_build_duration_ms",
        "Milliseconds the last full build took (CUCM reports seconds).",
        Kind::Gauge,
    ),
    def(
        Counter::BuildErrors,
        "BuildErrors",
        "phoneboot_build_errors",
        "Files the last full build could not make (each is logged with its reason). phoneboot's own.",
        Kind::Gauge,
    ),
    def(
        Counter::ChangeNotifications,
        "ChangeNotifications",
        "phoneboot_change_notifications_total",
        "Database changes the server has taken in (every entry of the change feed).",
        Kind::Cumulative,
    ),
    def(
        Counter::DeviceChangeNotifications,
        "DeviceChangeNotifications",
        "phoneboot_device_change_notifications_total",
        "Changes to devices (their files are rebuilt on the next request).",
        Kind::Cumulative,
    ),
    def(
        Counter::DialruleChangeNotifications,
        "DialruleChangeNotifications",
        "phoneboot_dialrule_change_notifications_total",
        "Changes to dial plans.",
        Kind::Cumulative,
    ),
    def(
        Counter::SoftkeyChangeNotifications,
        "SoftkeyChangeNotifications",
        "phoneboot_softkey_change_notifications_total",
        "Changes to softkey templates.",
        Kind::Cumulative,
    ),
    def(
        Counter::UnitChangeNotifications,
        "UnitChangeNotifications",
        "phoneboot_unit_change_notifications_total",
        "Changes to gateway devices.",
        Kind::Cumulative,
    ),
    def(
        Counter::EncryptCount,
        "EncryptCount",
        "phoneboot_encrypt_count_total",
        "Encrypted configuration files made (SEP<MAC>.cnf.xml.enc.sgn): once per device and content, never per request.",
        Kind::Cumulative,
    ),
    def(
        Counter::DatabaseVersion,
        "DatabaseVersion",
        "phoneboot_database_version",
        "The version of the device database this node serves (the same on every node of a cluster once it has caught up). phoneboot's own.",
        Kind::Gauge,
    ),
    def(
        Counter::DatabaseDegraded,
        "DatabaseDegraded",
        "phoneboot_database_degraded",
        "1 while the device database does not answer: the node serves the last state it took in and catches up when the database is back. phoneboot's own.",
        Kind::Gauge,
    ),
    def(
        Counter::DatabaseOutages,
        "DatabaseOutages",
        "phoneboot_database_outages_total",
        "Times the device database stopped answering this node. phoneboot's own.",
        Kind::Cumulative,
    ),
    def(
        Counter::ClusterFiles,
        "ClusterFiles",
        "phoneboot_cluster_files",
        "Custom files stored in the device database (phoneboot file put) that this node serves. phoneboot's own.",
        Kind::Gauge,
    ),
    def(
        Counter::QueueLength,
        "QueueLength",
        "phoneboot_queue_length",
        "Requests waiting for a serving slot now (at Maximum Serving Count). phoneboot's own.",
        Kind::Gauge,
    ),
    def(
        Counter::RequestsQueued,
        "RequestsQueued",
        "phoneboot_requests_queued_total",
        "Requests (TFTP and HTTP) that found every serving slot taken and waited for one. phoneboot's own.",
        Kind::Cumulative,
    ),
    def(
        Counter::QueueServed,
        "QueueServed",
        "phoneboot_queue_served_total",
        "Waiting requests that got a slot within the queue wait and were served. phoneboot's own.",
        Kind::Cumulative,
    ),
    def(
        Counter::QueueTimedOut,
        "QueueTimedOut",
        "phoneboot_queue_timed_out_total",
        "Waiting requests answered busy: no slot within the queue wait, or their place given to another source. phoneboot's own.",
        Kind::Cumulative,
    ),
    def(
        Counter::QueueFull,
        "QueueFull",
        "phoneboot_queue_full_total",
        "Requests answered busy at once because the queue was full. phoneboot's own.",
        Kind::Cumulative,
    ),
    def(
        Counter::QueueEvicted,
        "QueueEvicted",
        "phoneboot_queue_evicted_total",
        "Places in a full queue taken from a source holding more than its share, for a newcomer from another source. phoneboot's own.",
        Kind::Cumulative,
    ),
    def(
        Counter::QueueWaitMs,
        "QueueWaitMs",
        "phoneboot_queue_wait_milliseconds_total",
        "Milliseconds requests spent waiting for a slot, summed (divide by RequestsQueued for the mean). phoneboot's own.",
        Kind::Cumulative,
    ),
    def(
        Counter::TransfersUnanswered,
        "TransfersUnanswered",
        "phoneboot_transfers_unanswered",
        "Transfers whose client has not answered their first packet within the grace time, waiting without a slot now (half-open requests). phoneboot's own.",
        Kind::Gauge,
    ),
    def(
        Counter::SlotsYielded,
        "SlotsYielded",
        "phoneboot_slots_yielded_total",
        "Serving slots given up by transfers whose first packet went unanswered for the grace time. phoneboot's own.",
        Kind::Cumulative,
    ),
    def(
        Counter::UnansweredReaped,
        "UnansweredReaped",
        "phoneboot_unanswered_reaped_total",
        "Unanswered transfers ended because the pool of them was full. phoneboot's own.",
        Kind::Cumulative,
    ),
    def(
        Counter::HarvestThrottled,
        "HarvestThrottled",
        "phoneboot_harvest_throttled_total",
        "Requests for missing device configuration files left unanswered because their source asked for too many (a configuration harvest). phoneboot's own.",
        Kind::Cumulative,
    ),
    def(
        Counter::HarvestSources,
        "HarvestSources",
        "phoneboot_harvest_sources_total",
        "Source addresses found asking for many missing device configuration files, each logged once. phoneboot's own.",
        Kind::Cumulative,
    ),
];

const fn def(
    counter: Counter,
    cucm_name: &'static str,
    metric: &'static str,
    help: &'static str,
    kind: Kind,
) -> Def {
    Def {
        counter,
        cucm_name,
        metric,
        help,
        kind,
    }
}

const COUNT: usize = DEFS.len();

/// The live counter values.
#[derive(Debug)]
pub struct Counters {
    values: [AtomicU64; COUNT],
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            values: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Counters {
    pub fn add(&self, counter: Counter, n: u64) {
        if n > 0 {
            self.values[counter as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn incr(&self, counter: Counter) {
        self.add(counter, 1);
    }

    pub fn decr(&self, counter: Counter) {
        self.values[counter as usize].fetch_sub(1, Ordering::Relaxed);
    }

    pub fn set(&self, counter: Counter, value: u64) {
        self.values[counter as usize].store(value, Ordering::Relaxed);
    }

    pub fn get(&self, counter: Counter) -> u64 {
        self.values[counter as usize].load(Ordering::Relaxed)
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::with_capacity(4096);
        for d in DEFS {
            let kind = match d.kind {
                Kind::Cumulative => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(
                out,
                "# HELP {} {} (CUCM: {})",
                d.metric, d.help, d.cucm_name
            );
            let _ = writeln!(out, "# TYPE {} {kind}", d.metric);
            let _ = writeln!(out, "{} {}", d.metric, self.get(d.counter));
        }
        out
    }

    /// Every counter by its CUCM name, in the order RTMT lists them.
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        DEFS.iter()
            .map(|d| (d.cucm_name, self.get(d.counter)))
            .collect()
    }

    /// One `Name value` line per counter, with the CUCM names.
    pub fn render_cucm(&self) -> String {
        let mut out = String::with_capacity(1024);
        for d in DEFS {
            let _ = writeln!(out, "{} {}", d.cucm_name, self.get(d.counter));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_has_exactly_one_definition_in_order() {
        assert_eq!(DEFS.len(), COUNT);
        for (i, d) in DEFS.iter().enumerate() {
            assert_eq!(d.counter as usize, i, "{}", d.cucm_name);
        }
    }

    #[test]
    fn prometheus_text_has_help_type_and_value() {
        let c = Counters::default();
        c.add(Counter::RequestsNotFound, 3);
        let text = c.render_prometheus();
        assert!(text.contains("# TYPE phoneboot_tftp_requests_not_found_total counter\n"));
        assert!(text.contains("\nphoneboot_tftp_requests_not_found_total 3\n"));
        assert!(text.contains("# TYPE phoneboot_tftp_requests_in_progress gauge\n"));
        assert!(c.render_cucm().contains("RequestsNotFound 3\n"));
    }
}
