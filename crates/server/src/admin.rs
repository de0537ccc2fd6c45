//! The admin HTTP listener (loopback by default): metrics and counters for people and scrapers.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::counters::Counters;

/// The admin routes; `fn app(state) -> Router` so that every route is testable in-process.
pub fn app(counters: Arc<Counters>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/counters", get(counters_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(counters)
}

async fn metrics(State(counters): State<Arc<Counters>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        counters.render_prometheus(),
    )
}

async fn counters_text(State(counters): State<Arc<Counters>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        counters.render_cucm(),
    )
}
