//! The HTTP file service (TCP 6970 by default): the TFTP namespace over HTTP, as newer phones
//! fetch it before falling back to TFTP (spec cisco-tftp.md §2).
//!
//! `GET`/`HEAD /<name>` go through the same name rules, confinement and file cache as TFTP, and
//! take a serving slot like a TFTP transfer (so the Maximum Serving Count bounds both):
//!
//! | outcome | status | counter |
//! |---|---|---|
//! | file sent | 200, with Content-Length, ETag, Last-Modified | HttpRequestsProcessed |
//! | validators match | 304 | HttpRequestsProcessed |
//! | no such file | 404 | HttpRequestsNotFound |
//! | name refused | 403 | HttpRequestsDenied (phoneboot's) |
//! | at Maximum Serving Count | 503 + Retry-After | HttpRequestsOverflow |
//! | client gone before the end | — | HttpRequestsAborted |

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
use tracing::{debug, info};

use crate::admission::Slot;
use crate::counters::{Counter, Counters};
use crate::misses::count_lookup;
use crate::{BindError, Shared};
use phoneboot_source::peer::HOP_HEADER;
use phoneboot_source::{File, FileName, Lookup, Origin, Stamp};

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

async fn serve_file(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    method: Method,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let counters = &shared.counters;
    counters.incr(Counter::HttpRequests);
    let connected = Connected::new(counters);
    let name = match FileName::parse(name.as_bytes()) {
        Ok(name) => name,
        Err(why) => return refuse(counters, &name, why),
    };
    // A request from another server (centralized TFTP) is answered from local sources only.
    let local_only = headers.contains_key(HOP_HEADER);
    let file = match shared.chain.lookup(&name, local_only).await {
        Lookup::Found(file) => file,
        Lookup::Skip => {
            count_lookup(counters, &name, false);
            crate::log_miss(&shared, "HTTP", Some(client), &name.display());
            return not_found(counters, &name.display());
        }
        Lookup::Denied(why) => return refuse(counters, &name.display(), why),
        Lookup::Busy => return busy(&shared),
        Lookup::Failed(why) => return failed(counters, &name.display(), &why),
    };
    count_lookup(counters, &name, true);
    if file.origin == Origin::Disk {
        counters.incr(Counter::HttpServedFromDisk);
    }
    // Like TFTP: an empty file never takes a slot.
    let slot = if file.content.is_empty() {
        None
    } else {
        match shared.admission.try_slot() {
            Some(slot) => Some(slot),
            None => return busy(&shared),
        }
    };
    let response = respond(counters, &method, &headers, file, (slot, connected));
    // One line per file served, as for TFTP transfers (misses are logged by log_miss).
    info!(
        client = %SocketAddr::new(client.ip().to_canonical(), client.port()),
        file = %name.display(),
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

fn respond(
    counters: &Arc<Counters>,
    method: &Method,
    request: &HeaderMap,
    file: File,
    held: (Option<Slot>, Connected),
) -> Response {
    let etag = etag(file.stamp);
    let last_modified = httpdate::fmt_http_date(file.stamp.modified);
    let mut response = if not_modified(request, &etag, file.stamp) {
        counters.incr(Counter::HttpRequestsProcessed);
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        counters.incr(Counter::HttpRequestsProcessed);
        let mut r = StatusCode::OK.into_response();
        r.headers_mut().insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(file.content.len()),
        );
        r
    } else {
        let len = file.content.len();
        let body = Served {
            data: Some(file.content),
            counters: Arc::clone(counters),
            finished: false,
            _held: held,
        };
        let mut r = Response::new(Body::new(body));
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        r
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
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

/// A strong validator: changes whenever the file does (another inode, size or mtime).
fn etag(stamp: Stamp) -> String {
    format!("\"{:016x}\"", stamp.tag)
}

/// RFC 9110 §13.1: If-None-Match decides when present; otherwise If-Modified-Since, at the
/// one-second resolution of HTTP dates.
fn not_modified(request: &HeaderMap, etag: &str, stamp: Stamp) -> bool {
    if let Some(inm) = request.get(header::IF_NONE_MATCH) {
        let inm = inm.to_str().unwrap_or_default();
        return inm
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag);
    }
    let Some(since) = request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return false;
    };
    let modified_secs = stamp
        .modified
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let since_secs = since
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    modified_secs <= since_secs
}

/// 503 with Retry-After: the Maximum Serving Count is reached here, or the alternate server
/// that has the file is busy.
fn busy(shared: &Shared) -> Response {
    shared.counters.incr(Counter::HttpRequestsOverflow);
    let retry_after = HeaderValue::from(shared.config.http_retry_after_secs);
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, retry_after)],
        "Server busy, try again later\n",
    )
        .into_response()
}

fn not_found(counters: &Counters, name: &str) -> Response {
    counters.incr(Counter::HttpRequestsNotFound);
    debug!(file = %name, "HTTP not found");
    (StatusCode::NOT_FOUND, "File not found\n").into_response()
}

fn refuse(counters: &Counters, name: &str, why: impl std::fmt::Display) -> Response {
    counters.incr(Counter::HttpRequestsDenied);
    debug!(file = %name, "HTTP refused: {why}");
    (StatusCode::FORBIDDEN, "Access violation\n").into_response()
}

fn failed(counters: &Counters, name: &str, e: &str) -> Response {
    counters.incr(Counter::HttpRequestsAborted);
    tracing::warn!(file = %name, "HTTP read failed: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, "Read error\n").into_response()
}

/// A response body that holds the serving slot until the last byte is handed to the
/// connection, and counts the request processed then — or aborted if the client goes first.
struct Served {
    data: Option<Bytes>,
    counters: Arc<Counters>,
    finished: bool,
    /// The serving slot and the HttpConnectRequests share, released with the body.
    _held: (Option<Slot>, Connected),
}

/// One request's share of the HttpConnectRequests gauge.
struct Connected(Arc<Counters>);

impl Connected {
    fn new(counters: &Arc<Counters>) -> Self {
        counters.incr(Counter::HttpConnectRequests);
        Self(Arc::clone(counters))
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.decr(Counter::HttpConnectRequests);
    }
}

impl http_body::Body for Served {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.data.take() {
            Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
            None => {
                if !self.finished {
                    self.finished = true;
                    self.counters.incr(Counter::HttpRequestsProcessed);
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if !self.finished {
            // hyper may drop a body it has fully written without asking for the end of stream;
            // only a body with data left is an abort.
            let counter = if self.data.is_none() {
                Counter::HttpRequestsProcessed
            } else {
                Counter::HttpRequestsAborted
            };
            self.counters.incr(counter);
        }
    }
}
