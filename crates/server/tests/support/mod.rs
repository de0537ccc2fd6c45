//! In-process servers for the tests: a real `Server` bound to loopback, given scripted
//! sources or a real database, and a raw UDP peer to talk TFTP to it.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use phoneboot_server::config::Config;
use phoneboot_server::db::Database;
use phoneboot_server::{Handle, Server};
use phoneboot_source::{File, Lookup, LookupFuture, Origin, Query, Source};
use tokio::net::UdpSocket;
use tower::ServiceExt as _;

/// What a scripted source answers for a name, and whether it can answer at once (the TFTP
/// fast path) or only when awaited (the slow path: a disk read, a peer fetch).
#[derive(Debug)]
pub struct Scripted {
    pub answers: Vec<(&'static str, Lookup)>,
    pub immediate: bool,
}

impl Scripted {
    fn answer(&self, query: &Query) -> Lookup {
        let name = query.name.display();
        self.answers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map_or(Lookup::Skip, |(_, l)| l.clone())
    }
}

impl Source for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn try_now(&self, query: &Query) -> Option<Lookup> {
        self.immediate.then(|| self.answer(query))
    }
    fn lookup<'a>(&'a self, query: &'a Query) -> LookupFuture<'a> {
        Box::pin(async move { self.answer(query) })
    }
}

pub fn found(content: &'static [u8]) -> Lookup {
    Lookup::Found(File::new(
        Bytes::from_static(content),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        Origin::Cache,
    ))
}

/// A configuration for an in-process server: TFTP on 127.0.0.1, no HTTP or admin listener
/// (their routers are asked directly), no database unless one is given.
pub fn config(root: &std::path::Path) -> Config {
    let mut config = Config {
        tftp_listen: vec!["127.0.0.1:0".parse().unwrap()],
        tftp_fallback: None,
        http_listen: Vec::new(),
        admin_listen: None,
        root: root.to_path_buf(),
        database: None,
        ..Config::default()
    };
    config.shutdown_grace = Duration::from_millis(300);
    config
}

/// A running server and what a test talks to it with.
pub struct Running {
    pub tftp: SocketAddr,
    pub files: axum::Router,
    pub admin: axum::Router,
    pub handle: Handle,
    pub task: tokio::task::JoinHandle<()>,
    _root: tempfile::TempDir,
}

impl Running {
    pub async fn start(
        sources: Option<Vec<Arc<dyn Source>>>,
        database: Option<Database>,
        tune: impl FnOnce(&mut Config),
    ) -> Self {
        let root = tempfile::tempdir().unwrap();
        let mut config = config(root.path());
        tune(&mut config);
        let mut builder = Server::builder(config);
        if let Some(sources) = sources {
            builder = builder.sources(sources);
        }
        if let Some(db) = database {
            builder = builder.database(db);
        }
        let server = builder.bind().await.unwrap();
        let tftp = server.tftp_addrs()[0];
        let files = server.file_service();
        let admin = server.admin_service();
        let handle = server.handle();
        let task = tokio::spawn(server.run(std::future::pending()));
        Self {
            tftp,
            files,
            admin,
            handle,
            task,
            _root: root,
        }
    }

    /// An HTTP GET of the file service, as from 192.0.2.50.
    pub async fn get(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Bytes) {
        let mut request = Request::get(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let client: SocketAddr = "192.0.2.50:40000".parse().unwrap();
        let response = self
            .files
            .clone()
            .layer(MockConnectInfo(client))
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let body = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        (status, headers, body)
    }

    /// One admin route's body.
    pub async fn admin(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .admin
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    pub fn counter(&self, name: phoneboot_server::counters::Counter) -> u64 {
        self.handle.counters().get(name)
    }

    pub async fn stop(self) {
        self.handle.shutdown();
        self.task.await.unwrap();
    }
}

/// A TFTP peer on loopback.
pub struct Peer {
    pub socket: UdpSocket,
}

impl Peer {
    pub async fn new() -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    /// A peer on another loopback address: another source to the server.
    pub async fn on(ip: &str) -> Self {
        Self {
            socket: UdpSocket::bind((ip, 0)).await.unwrap(),
        }
    }

    pub async fn rrq(&self, to: SocketAddr, name: &str) {
        let mut datagram = vec![0, 1];
        datagram.extend_from_slice(name.as_bytes());
        datagram.extend_from_slice(b"\0octet\0");
        self.socket.send_to(&datagram, to).await.unwrap();
    }

    /// The next datagram and who sent it, or None after `wait`.
    pub async fn recv(&self, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = vec![0u8; 70_000];
        match tokio::time::timeout(wait, self.socket.recv_from(&mut buf)).await {
            Ok(Ok((n, from))) => Some((buf[..n].to_vec(), from)),
            _ => None,
        }
    }
}

/// An ERROR packet's (code, text).
pub fn as_error(d: &[u8]) -> Option<(u16, String)> {
    if d.len() < 5 || d[..2] != [0, 5] {
        return None;
    }
    let code = u16::from_be_bytes([d[2], d[3]]);
    Some((
        code,
        String::from_utf8_lossy(&d[4..d.len() - 1]).into_owned(),
    ))
}
