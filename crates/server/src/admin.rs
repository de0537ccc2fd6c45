//! The admin HTTP listener (loopback by default): metrics and counters for people and
//! scrapers, and a health check that reaches the database. It is given the database as well
//! as the counters, so that the admin API grows here on the same domain layer as the CLI.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::counters::{Counter, Counters};
use crate::db::Slot;

/// What the admin routes see.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub counters: Arc<Counters>,
    /// The database in force; none when the server serves files only.
    pub database: Slot,
    /// What each device last fetched from this node.
    pub fetches: Arc<crate::fetches::Fetches>,
    /// The generation served, to compare fetches with.
    pub built: Option<Arc<crate::built::BuiltFiles>>,
    /// Cancelled when the server stops: streams (the change feed) end then.
    pub stop: tokio_util::sync::CancellationToken,
    /// The listener speaks TLS (session cookies are then `Secure`).
    pub tls: bool,
    /// Proxies in front of the listener whose `X-Forwarded-For` names the client (and whose
    /// `X-Forwarded-Proto: https` makes cookies `Secure`).
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
}

/// The admin routes; `fn app(state) -> Router` so that every route is testable in-process.
pub fn app(state: AdminState) -> Router {
    // One state for the API and the UI: the same sessions, and one login throttle.
    let api = crate::api::Api::new(state.clone());
    Router::new()
        .route("/metrics", get(metrics))
        .route("/counters", get(counters_text))
        .route("/healthz", get(health))
        .route("/devices/fetched", get(fetched))
        .with_state(state)
        .merge(crate::api::router(api.clone()))
        .merge(crate::ui::router(api))
}

/// Serves the admin routes on `listener` (HTTPS when `tls` is given) until `state.stop`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: AdminState,
    secure: Arc<crate::security::SecureState>,
) {
    let addr = listener
        .local_addr()
        .map_or_else(|_| String::new(), |a| a.to_string());
    let (what, scheme) = if tls.is_some() {
        ("HTTPS", "https")
    } else {
        ("HTTP", "http")
    };
    tracing::info!("admin {what} on {scheme}://{addr}/metrics");
    tracing::info!("web UI on {scheme}://{addr}/ui/, admin API on {scheme}://{addr}/api/v1");
    let stop = state.stop.clone();
    let app = app(state);
    let result = match tls {
        Some(tls) => {
            let kind = crate::https::Kind::ServerAuthenticated;
            let listener =
                match crate::https::TlsListener::new(listener, kind, tls, secure, stop.clone()) {
                    Ok(listener) => listener,
                    Err(e) => return tracing::warn!("admin HTTPS not started: {e}"),
                };
            let app = app.into_make_service_with_connect_info::<crate::https::TlsPeer>();
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        }
        None => {
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        }
    };
    if let Err(e) = result {
        tracing::warn!("admin {what} stopped: {e}");
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.counters.render_prometheus(),
    )
}

async fn counters_text(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.counters.render_cucm(),
    )
}

/// Which phones run the configuration the database holds, which an older one, which never
/// fetched theirs: JSON, one object per device (`?state=stale|never|current` filters).
async fn fetched(State(state): State<AdminState>, uri: axum::http::Uri) -> impl IntoResponse {
    let wanted = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("state=")));
    match fetch_report(&state, wanted).await {
        Ok(report) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        ),
        Err((status, message)) => (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            message + "\n",
        ),
    }
}

/// The fetch report of every device, only those in state `wanted` if given.
pub(crate) async fn fetch_report(
    state: &AdminState,
    wanted: Option<&str>,
) -> Result<Vec<crate::fetches::DeviceFetch>, (StatusCode, String)> {
    let Some(built) = &state.built else {
        return Err((
            StatusCode::NOT_FOUND,
            "this node serves files only (no device database)".to_owned(),
        ));
    };
    if let Some(w) = wanted
        && !["current", "stale", "never"].contains(&w)
    {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("state: {w:?} is none of current, stale, never"),
        ));
    }
    let generation = built.current();
    // Rendering every device's file is CPU work: off the runtime's threads.
    let fetches = Arc::clone(&state.fetches);
    let report = tokio::task::spawn_blocking(move || fetches.report(&generation.snapshot))
        .await
        .unwrap_or_default();
    Ok(report
        .into_iter()
        .filter(|d| wanted.is_none_or(|w| serde_json::to_value(d.state).is_ok_and(|v| v == w)))
        .collect())
}

/// 200 while the node serves: `ok` when the database answers, `degraded` when it does not
/// and the node serves the last state it took in (a load balancer must not take every node
/// of a cluster out of rotation because their shared database is down: they all still
/// serve).
async fn health(State(state): State<AdminState>) -> impl IntoResponse {
    let Some(db) = &state.database.get() else {
        return (StatusCode::OK, "ok\n".to_owned());
    };
    let serving = state.counters.get(Counter::DatabaseVersion);
    if state.counters.get(Counter::DatabaseDegraded) == 1 {
        return (
            StatusCode::OK,
            format!(
                "degraded\nthe device database does not answer; serving version {serving}, the \
                 last state taken in ({})\n",
                db.location()
            ),
        );
    }
    match db.store().head().await {
        Ok(version) => (
            StatusCode::OK,
            format!(
                "ok\ndatabase {} at version {version}; serving version {serving}\n",
                db.location()
            ),
        ),
        Err(e) => (
            StatusCode::OK,
            format!(
                "degraded\nthe device database {} does not answer: {e}\nserving version \
                 {serving}, the last state taken in\n",
                db.location()
            ),
        ),
    }
}
