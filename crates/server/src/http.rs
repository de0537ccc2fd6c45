//! The HTTP file service (TCP 6970 by default): the TFTP namespace over HTTP, as newer phones
//! fetch it before falling back to TFTP (spec cisco-tftp.md §2).
//!
//! `GET`/`HEAD /<name>` go through the same name rules, confinement and file cache as TFTP, and
//! take a serving slot like a TFTP transfer (so the Maximum Serving Count bounds both):
//!
//! | outcome | status | counter |
//! |---|---|---|
//! | file sent | 200, with Content-Length, ETag (none yet for a download still arriving from another cluster), Last-Modified | HttpRequestsProcessed |
//! | validators match | 304 | HttpRequestsProcessed |
//! | no such file | 404 | HttpRequestsNotFound |
//! | name refused | 403 | HttpRequestsDenied (phoneboot's) |
//! | at Maximum Serving Count | 503 + Retry-After | HttpRequestsOverflow |
//! | client gone before the end | — | HttpRequestsAborted |

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http_body::Frame;
use socket2::{Domain, Protocol, Socket, Type};
use tracing::info;

use phoneboot_source::content::READ_AHEAD;
use phoneboot_source::peer::HOP_HEADER;
use phoneboot_source::{Content, File, FileName, Origin, Query, Source as _, Tls, Transport};

use crate::counters::Counter;
use crate::decision::{self, Outcome, Refusal, Serving, Ticket};
use crate::net::canonical;
use crate::{BindError, Shared};

/// The file routes; `fn app(state) -> Router` so that every behaviour is testable in-process.
pub(crate) fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{*name}", get(serve_file))
        .route("/", get(|| async { StatusCode::NOT_FOUND }))
        .with_state(shared)
}

/// Binds a TCP listener; `[::]` is made dual-stack explicitly (the sysctl default may differ).
pub(crate) fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, BindError> {
    let fail = |e| BindError::new(addr, e, "http-listen");
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        socket.set_only_v6(false).map_err(fail)?;
    }
    socket.set_reuse_address(true).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(1024).map_err(fail)?;
    tokio::net::TcpListener::from_std(socket.into()).map_err(fail)
}

/// The same routes over HTTPS (6971, 6972), where the connection says who the client is.
pub(crate) fn app_tls(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{*name}", get(serve_file_tls))
        .route("/", get(|| async { StatusCode::NOT_FOUND }))
        .with_state(shared)
}

async fn serve_file(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    method: Method,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&shared, client, Tls::None, &method, &name, &headers).await
}

async fn serve_file_tls(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<crate::https::TlsPeer>,
    method: Method,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&shared, peer.addr, peer.tls, &method, &name, &headers).await
}

async fn serve(
    shared: &Arc<Shared>,
    client: SocketAddr,
    tls: Tls,
    method: &Method,
    name: &str,
    headers: &HeaderMap,
) -> Response {
    let ticket = Ticket::open(&shared.counters, Transport::Http);
    let client = canonical(client);
    let name = match FileName::parse(name.as_bytes()) {
        Ok(name) => name,
        Err(why) => return refused(shared, decision::refuse_name(ticket, client, name, why)),
    };
    let mut query = Query::new(name, client, Transport::Http);
    query.local_only = headers.contains_key(HOP_HEADER);
    query.tls = tls;
    let chain = shared.chain();
    let lookup = chain.lookup(&query).await;
    let serving = match decision::decide(shared, ticket, &query, lookup)
        .settled()
        .await
    {
        Ok(serving) => serving,
        Err(refusal) => return refused(shared, refusal),
    };
    if serving.file.origin == Origin::Disk {
        shared.counters.incr(Counter::HttpServedFromDisk);
    }
    let etag = etag(&serving.file).await;
    let response = respond(method, headers, serving, etag);
    // One line per file served, as for TFTP transfers (misses are logged by log_miss).
    info!(
        %client,
        file = %query.name.display(),
        method = %method,
        status = response.status().as_u16(),
        bytes = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0),
        "HTTP served"
    );
    response
}

/// The HTTP form of a refusal, from the table both transports share; a 503 says when to come
/// back.
fn refused(shared: &Shared, refusal: Refusal) -> Response {
    let (status, body) = refusal.wire().http;
    let mut response = (status, body).into_response();
    if refusal == Refusal::Busy {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(shared.config().http_retry_after_secs),
        );
    }
    response
}

fn respond(
    method: &Method,
    request: &HeaderMap,
    serving: Serving,
    etag: Option<String>,
) -> Response {
    let file = &serving.file;
    let last_modified = httpdate::fmt_http_date(file.modified);
    let len = file.content.len();
    let mut response = if not_modified(request, etag.as_deref(), file) {
        serving.close(Outcome::Processed);
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        serving.close(Outcome::Processed);
        let mut r = StatusCode::OK.into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        r
    } else {
        let body = Served {
            content: file.content.clone(),
            offset: 0,
            reading: None,
            serving: Some(serving),
        };
        let mut r = Response::new(Body::new(body));
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        r
    };
    let h = response.headers_mut();
    if let Some(v) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&last_modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

/// A strong validator: the content's SHA-256, the same for the same bytes on every node and
/// after every restart (RFC 9110 §8.8.3). A file streamed from disk is hashed once per version,
/// off the runtime; a download still arriving has none until it is whole (Last-Modified
/// still validates it).
async fn etag(file: &File) -> Option<String> {
    let digest = match (file.digest_known(), &file.content) {
        (Some(digest), _) => Some(digest),
        (None, Content::Paged(_)) => {
            let file = file.clone();
            tokio::task::spawn_blocking(move || file.digest().ok())
                .await
                .ok()
                .flatten()
        }
        (None, Content::Memory(_) | Content::Spooled(_)) => None,
    };
    digest.map(|d| format!("\"{d}\""))
}

/// RFC 9110 §13.1: If-None-Match decides when present; otherwise If-Modified-Since, at the
/// one-second resolution of HTTP dates.
fn not_modified(request: &HeaderMap, etag: Option<&str>, file: &File) -> bool {
    if let Some(inm) = request.get(header::IF_NONE_MATCH) {
        let inm = inm.to_str().unwrap_or_default();
        return inm
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || Some(t) == etag);
    }
    let Some(since) = request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return false;
    };
    let modified_secs = file
        .modified
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let since_secs = since
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    modified_secs <= since_secs
}

/// A response body that holds the serving slot and the request's ticket until the last byte
/// is handed to the connection, and counts the request processed then — or aborted if the
/// client goes first. Content in memory goes as one frame; other content is read a stretch at a
/// time as the connection takes it, so a slow client holds one stretch, not the file.
struct Served {
    content: Content,
    /// Bytes handed over so far.
    offset: u64,
    reading: Option<Pin<Box<dyn Future<Output = io::Result<Bytes>> + Send>>>,
    serving: Option<Serving>,
}

impl Served {
    fn done(&self) -> bool {
        self.offset >= self.content.len()
    }
}

impl http_body::Body for Served {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.done() {
            if let Some(serving) = this.serving.take() {
                serving.close(Outcome::Processed);
            }
            return Poll::Ready(None);
        }
        if let Some(bytes) = this.content.in_memory() {
            this.offset = bytes.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(bytes.clone()))));
        }
        let reading = this.reading.get_or_insert_with(|| {
            let (content, offset) = (this.content.clone(), this.offset);
            Box::pin(async move { content.read(offset, READ_AHEAD).await })
        });
        let read = std::task::ready!(reading.as_mut().poll(cx));
        this.reading = None;
        match read {
            Ok(bytes) if !bytes.is_empty() => {
                this.offset += bytes.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Ok(_) => Poll::Ready(Some(Err(io::Error::other("the file ended early")))),
            // The connection is cut: the client sees fewer bytes than Content-Length said.
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.content.len().saturating_sub(self.offset))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(serving) = self.serving.take() {
            // hyper may drop a body it has fully written without asking for the end of stream;
            // only a body with data left is an abort.
            serving.close(if self.done() {
                Outcome::Processed
            } else {
                Outcome::Aborted
            });
        }
    }
}
