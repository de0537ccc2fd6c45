//! The request path in-process: one decision per request, translated to each wire from one
//! table, every refusal of TFTP sent from the request port whether it was decided at once or
//! after a lookup, counted once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use phoneboot_server::counters::Counter;
use phoneboot_server::decision::{REFUSALS, Refusal};
use phoneboot_source::{Denied, Digest, Lookup, Source, Transport};
use support::{Peer, Running, Scripted, as_error, found};

/// A name whose lookup ends in `refusal`, from a scripted source.
fn provoking(refusal: Refusal) -> (&'static str, Lookup) {
    match refusal {
        Refusal::NotFound => ("missing.bin", Lookup::Skip),
        Refusal::Denied => ("secret.bin", Lookup::Denied(Denied::OutsideRoot)),
        Refusal::Busy => ("busy.bin", Lookup::Busy),
        Refusal::Failed => ("broken.bin", Lookup::Failed("disk on fire".into())),
        // A device file's miss, throttled only past the harvest guard's burst (its own test).
        Refusal::Throttled => ("SEP0011223344AA.cnf.xml", Lookup::Skip),
    }
}

/// The refusals a single request provokes (throttling takes many).
fn single() -> impl Iterator<Item = &'static phoneboot_server::decision::RefusalWire> {
    REFUSALS
        .iter()
        .filter(|row| row.refusal != Refusal::Throttled)
}

fn scripted(immediate: bool) -> Arc<dyn Source> {
    Arc::new(Scripted {
        answers: REFUSALS.iter().map(|row| provoking(row.refusal)).collect(),
        immediate,
    })
}

#[tokio::test]
async fn every_refusal_goes_on_both_wires_as_the_one_table_says_and_tftp_answers_from_port_69() {
    for immediate in [true, false] {
        let server = Running::start(Some(vec![scripted(immediate)]), None, |_| {}).await;
        for row in single() {
            let (name, _) = provoking(row.refusal);
            let peer = Peer::new().await;
            peer.rrq(server.tftp, name).await;
            let (reply, from) = peer.recv(Duration::from_secs(5)).await.expect("an answer");
            assert_eq!(
                from,
                server.tftp,
                "{name} (decided {}): refused from the request port",
                if immediate {
                    "at once"
                } else {
                    "after the lookup"
                }
            );
            assert_eq!(
                as_error(&reply),
                row.tftp
                    .map(|(code, text)| (code.as_u16(), text.to_owned())),
                "{name} over TFTP"
            );
            let (status, headers, body) = server.get(&format!("/{name}"), &[]).await;
            assert_eq!(
                (status, &body[..]),
                (row.http.0, row.http.1.as_bytes()),
                "{name}"
            );
            if row.refusal == Refusal::Busy {
                assert_eq!(headers["retry-after"], "5");
            }
        }
        // Each refusal counted once, where the table says, per transport.
        for row in single() {
            assert_eq!(
                server.counter(row.outcome.counter(Transport::Tftp)),
                1,
                "{row:?}"
            );
            assert_eq!(
                server.counter(row.outcome.counter(Transport::Http)),
                1,
                "{row:?}"
            );
        }
        assert_eq!(server.counter(Counter::Requests), 4);
        assert_eq!(server.counter(Counter::HttpRequests), 4);
        assert_eq!(server.counter(Counter::RequestsInProgress), 0);
        assert_eq!(server.counter(Counter::HttpConnectRequests), 0);
        server.stop().await;
    }
}

#[tokio::test]
async fn a_busy_server_configured_to_drop_stays_silent_over_tftp_only() {
    let server = Running::start(Some(vec![scripted(true)]), None, |c| {
        c.busy_reply = phoneboot_server::config::BusyReply::Drop;
    })
    .await;
    let peer = Peer::new().await;
    peer.rrq(server.tftp, "busy.bin").await;
    assert!(peer.recv(Duration::from_millis(500)).await.is_none());
    let (status, ..) = server.get("/busy.bin", &[]).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "HTTP always answers"
    );
    assert_eq!(server.counter(Counter::RequestsOverflow), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_name_that_is_not_one_is_refused_on_both_wires_without_a_lookup() {
    let server = Running::start(Some(vec![scripted(false)]), None, |_| {}).await;
    let peer = Peer::new().await;
    peer.rrq(server.tftp, "../etc/passwd").await;
    let (reply, from) = peer.recv(Duration::from_secs(5)).await.unwrap();
    assert_eq!(from, server.tftp);
    let denied = Refusal::Denied.wire();
    assert_eq!(
        as_error(&reply),
        denied.tftp.map(|(code, text)| (code.as_u16(), text.into()))
    );
    let (status, ..) = server.get("/..%2fetc%2fpasswd", &[]).await;
    assert_eq!(status, denied.http.0);
    assert_eq!(server.counter(Counter::RequestsDenied), 1);
    assert_eq!(server.counter(Counter::HttpRequestsDenied), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_served_file_goes_out_whole_and_its_etag_is_its_content_hash() {
    let content: &'static [u8] = b"<device>\n</device>\n";
    let source = Arc::new(Scripted {
        answers: vec![("SEP001122334455.cnf.xml", found(content))],
        immediate: false,
    });
    let server = Running::start(Some(vec![source]), None, |_| {}).await;
    // TFTP, after the lookup (the slow path): DATA 1 from the transfer's own port.
    let peer = Peer::new().await;
    peer.rrq(server.tftp, "sep001122334455.cnf.xml").await;
    let (data, from) = peer.recv(Duration::from_secs(5)).await.unwrap();
    assert_ne!(
        from.port(),
        server.tftp.port(),
        "a transfer has its own port (TID)"
    );
    assert_eq!(&data[..4], &[0, 3, 0, 1]);
    assert_eq!(&data[4..], content);
    peer.socket.send_to(&[0, 4, 0, 1], from).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.counter(Counter::RequestsProcessed) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never counted processed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.counter(Counter::SepFound), 1);
    // HTTP: the same bytes, an ETag that is their SHA-256, and 304 for it.
    let (status, headers, body) = server.get("/SEP001122334455.cnf.xml", &[]).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, content));
    let etag = format!("\"{}\"", Digest::of(content));
    assert_eq!(headers["etag"], etag.as_str());
    assert_eq!(headers["last-modified"], "Tue, 14 Nov 2023 22:13:20 GMT");
    let (status, ..) = server
        .get("/SEP001122334455.cnf.xml", &[("if-none-match", &etag)])
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(server.counter(Counter::HttpRequestsProcessed), 2);
    assert_eq!(
        server.counter(Counter::SepFound),
        3,
        "TFTP and HTTP count alike"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_reload_changes_the_serving_count_and_the_sources_answer_on() {
    let server = Running::start(Some(vec![scripted(true)]), None, |c| {
        c.max_serving_count = 50;
        c.max_serving_count_unset = false;
    })
    .await;
    assert_eq!(server.counter(Counter::MaxServingCount), 50);
    let mut config = support::config(std::path::Path::new("/"));
    config.max_serving_count = 7;
    config.max_serving_count_unset = false;
    config.tftp_listen = vec!["127.0.0.1:1".parse().unwrap()];
    let restart = server.handle.reload(config.clone()).unwrap();
    assert_eq!(
        restart,
        ["tftp listen addresses"],
        "listeners are not rebound"
    );
    assert_eq!(server.counter(Counter::MaxServingCount), 7);
    config.max_serving_count = 0;
    assert!(
        server.handle.reload(config).is_err(),
        "an invalid one is refused"
    );
    assert_eq!(
        server.counter(Counter::MaxServingCount),
        7,
        "and changes nothing"
    );
    let (status, ..) = server.get("/missing.bin", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}
