//! The chain's order and every Lookup outcome, with the real disk source and scripted sources
//! standing in for the builder (a later issue) and for remote clusters.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use phoneboot_source::chain::LookupFuture;
use phoneboot_source::dir::DirSource;
use phoneboot_source::*;

/// A source that always gives the same answer, at once or only when awaited.
#[derive(Debug)]
struct Scripted {
    label: &'static str,
    local: bool,
    immediate: bool,
    answer: Lookup,
    asked: AtomicUsize,
}

impl Scripted {
    fn new(label: &'static str, answer: Lookup) -> Arc<Self> {
        Arc::new(Self {
            label,
            local: true,
            immediate: true,
            answer,
            asked: AtomicUsize::new(0),
        })
    }

    fn remote(label: &'static str, answer: Lookup) -> Arc<Self> {
        Arc::new(Self {
            local: false,
            immediate: false,
            ..Arc::into_inner(Self::new(label, answer)).unwrap()
        })
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::Relaxed)
    }
}

impl Source for Scripted {
    fn name(&self) -> &str {
        self.label
    }
    fn is_local(&self) -> bool {
        self.local
    }
    fn try_now(&self, _: &Query) -> Option<Lookup> {
        self.immediate.then(|| self.answer.clone())
    }
    fn lookup<'a>(&'a self, _: &'a Query) -> LookupFuture<'a> {
        self.asked.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move { self.answer.clone() })
    }
}

fn file(text: &str) -> Lookup {
    Lookup::Found(File::new(
        Bytes::from(text.to_owned()),
        SystemTime::UNIX_EPOCH,
        Origin::Cache,
    ))
}

fn content(l: &Lookup) -> String {
    match l {
        Lookup::Found(f) => String::from_utf8_lossy(f.content.in_memory().unwrap()).into_owned(),
        other => format!("{other:?}"),
    }
}

/// A TFTP request for `s` from a phone.
fn name(s: &str) -> Query {
    Query::new(
        FileName::parse(s.as_bytes()).unwrap(),
        "192.0.2.50:50000".parse().unwrap(),
        Transport::Tftp,
    )
}

/// The same request, as another server sends it (hop header): local sources only.
fn from_peer(s: &str) -> Query {
    Query {
        local_only: true,
        ..name(s)
    }
}

fn disk(files: &[(&str, &str)]) -> (tempfile::TempDir, tempfile::TempDir, Arc<DirSource>) {
    let root = tempfile::tempdir().unwrap();
    let alt = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let (dir, rel) = match path.strip_prefix("alt:") {
            Some(rel) => (alt.path(), rel),
            None => (root.path(), *path),
        };
        std::fs::write(dir.join(rel), text).unwrap();
    }
    let roots = FileRoots::new(&[root.path().into(), alt.path().into()], true, 1 << 20).unwrap();
    (root, alt, Arc::new(DirSource::new(Arc::new(roots))))
}

#[tokio::test]
async fn a_built_file_shadows_a_disk_file_of_the_same_name() {
    let (_r, _a, dir) = disk(&[("SEP001122334455.cnf.xml", "on disk")]);
    let built = Scripted::new("built", file("built"));
    let chain = Chain::new(vec![built.clone(), dir]);
    let n = name("SEP001122334455.cnf.xml");
    assert_eq!(content(&chain.lookup(&n).await), "built");
    assert_eq!(content(&chain.try_now(&n).unwrap()), "built");
}

#[tokio::test]
async fn disk_shadows_remote_and_remote_is_asked_only_on_a_miss() {
    let (_r, _a, dir) = disk(&[("load.bin", "local")]);
    let remote = Scripted::remote("cluster", file("remote"));
    let chain = Chain::new(vec![dir, remote.clone()]);
    assert_eq!(content(&chain.lookup(&name("load.bin")).await), "local");
    assert_eq!(remote.asked(), 0);
    assert_eq!(content(&chain.lookup(&name("other.bin")).await), "remote");
    assert_eq!(remote.asked(), 1);
}

#[tokio::test]
async fn an_alternate_location_is_used_only_when_the_root_lacks_the_file() {
    let (_r, _a, dir) = disk(&[
        ("both", "root"),
        ("alt:both", "alt"),
        ("alt:only-alt", "alt only"),
    ]);
    let chain = Chain::new(vec![dir]);
    assert_eq!(content(&chain.lookup(&name("both")).await), "root");
    assert_eq!(content(&chain.lookup(&name("ONLY-ALT")).await), "alt only");
}

#[tokio::test]
async fn every_outcome_passes_through_the_chain() {
    let n = name("f");
    for (answer, expect) in [
        (Lookup::Busy, "Busy"),
        (Lookup::Denied(Denied::OutsideRoot), "Denied(OutsideRoot)"),
        (
            Lookup::Failed("disk on fire".into()),
            "Failed(\"disk on fire\")",
        ),
    ] {
        let first = Scripted::new("first", answer);
        let never = Scripted::new("never", file("too late"));
        let chain = Chain::new(vec![first, never.clone()]);
        assert_eq!(content(&chain.lookup(&n).await), expect);
        assert_eq!(never.asked(), 0, "{expect} must stop the chain");
    }
    // Nobody has it: the chain's answer is Skip.
    let chain = Chain::new(vec![
        Scripted::new("a", Lookup::Skip),
        Scripted::new("b", Lookup::Skip),
    ]);
    assert!(matches!(chain.lookup(&n).await, Lookup::Skip));
    assert!(matches!(chain.try_now(&n), Some(Lookup::Skip)));
}

#[tokio::test]
async fn a_request_from_another_server_is_answered_from_local_sources_only() {
    let (_r, _a, dir) = disk(&[]);
    let remote = Scripted::remote("cluster", file("remote"));
    let chain = Chain::new(vec![dir, remote.clone()]);
    assert!(matches!(chain.lookup(&from_peer("x")).await, Lookup::Skip));
    assert_eq!(remote.asked(), 0, "the hop rule prevents loops");
    assert!(chain.has_remote());
}

#[tokio::test]
async fn try_now_defers_to_lookup_only_where_a_source_must_wait() {
    let (root, _a, dir) = disk(&[("cold.bin", "cold")]);
    let remote = Scripted::remote("cluster", file("remote"));
    let chain = Chain::new(vec![dir, remote]);
    // Not cached yet: the disk must read it, so the answer is not immediate.
    assert!(chain.try_now(&name("cold.bin")).is_none());
    assert_eq!(content(&chain.lookup(&name("cold.bin")).await), "cold");
    // Cached now: immediate.
    assert_eq!(content(&chain.try_now(&name("cold.bin")).unwrap()), "cold");
    // A miss on disk with a remote behind it must wait for the remote.
    assert!(chain.try_now(&name("missing")).is_none());
    // A miss with no remote eligible is known at once.
    assert!(matches!(
        chain.try_now(&from_peer("missing")),
        Some(Lookup::Skip)
    ));
    drop(root);
}

/// A source around another: what it finds, marked. Stands in for the signing wrapper.
#[derive(Debug)]
struct Marking<S> {
    inner: S,
    seen: std::sync::Mutex<Vec<(Transport, std::net::SocketAddr)>>,
}

impl<S: Source> Source for Marking<S> {
    fn name(&self) -> &str {
        "marking"
    }
    fn try_now(&self, query: &Query) -> Option<Lookup> {
        self.seen
            .lock()
            .unwrap()
            .push((query.transport, query.client));
        Some(mark(self.inner.try_now(query)?))
    }
    fn lookup<'a>(&'a self, query: &'a Query) -> LookupFuture<'a> {
        Box::pin(async move { mark(self.inner.lookup(query).await) })
    }
}

fn mark(lookup: Lookup) -> Lookup {
    match lookup {
        Lookup::Found(f) => {
            let mut text = f.content.in_memory().unwrap().to_vec();
            text.extend_from_slice(b" (marked)");
            Lookup::Found(File::new(Bytes::from(text), f.modified, f.origin))
        }
        other => other,
    }
}

#[tokio::test]
async fn a_chain_is_a_source_a_wrapper_can_sit_around_and_the_query_reaches_it() {
    let (_r, _a, dir) = disk(&[("RingList.xml", "rings")]);
    let wrapped = Marking {
        inner: Chain::new(vec![Scripted::new("built", Lookup::Skip), dir]),
        seen: Default::default(),
    };
    // The wrapper is itself the first source of an outer chain.
    let outer = Chain::new(vec![Arc::new(wrapped) as Arc<dyn Source>]);
    let mut q = name("ringlist.xml");
    q.transport = Transport::Http;
    assert_eq!(content(&outer.lookup(&q).await), "rings (marked)");
    assert_eq!(content(&outer.try_now(&q).unwrap()), "rings (marked)");
    assert!(matches!(outer.lookup(&name("absent")).await, Lookup::Skip));
}
