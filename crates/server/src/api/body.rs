//! Request bodies: read up to a bound, in the declared type, and every fault said as a
//! problem naming the field (413 when too large, 415 when not JSON, 400 with the path of the
//! value that did not read).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::problem::Problem;

/// Largest JSON body the API takes (an object with its lines is a few KiB).
pub(crate) const JSON_MAX: usize = 1 << 20;
/// Largest import (CSV or TOML): 100,000 devices fit.
pub(crate) const IMPORT_MAX: usize = 64 << 20;
/// Largest custom file uploaded through the API.
pub(crate) const FILE_MAX: usize = 256 << 20;

/// A JSON body of type `T`.
#[derive(Debug)]
pub(crate) struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "The body must be JSON",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let Raw(bytes) = Raw::<JSON_MAX>::from_request(req, state).await?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de).map(Json).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            Problem::bad_request(&field, format!("the body does not read: {}", e.inner()))
        })
    }
}

/// A body of at most `MAX` bytes.
#[derive(Debug)]
pub(crate) struct Raw<const MAX: usize>(pub Bytes);

impl<S: Send + Sync, const MAX: usize> FromRequest<S> for Raw<MAX> {
    type Rejection = Problem;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let too_large = || {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "The body is too large",
                format!("this route takes at most {MAX} bytes"),
            )
            .with("limit", MAX)
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX as u64) {
            return Err(too_large());
        }
        axum::body::to_bytes(req.into_body(), MAX)
            .await
            .map(Raw)
            .map_err(|_| too_large())
    }
}

/// The query string read as `T`; a value that does not read is a problem naming its
/// parameter (axum's own rejection is plain text).
#[derive(Debug)]
pub(crate) struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| {
                let text = e.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .to_owned();
                Problem::bad_request(&parameter(&detail), format!("query: {detail}"))
            })
    }
}

/// The parameter a query error is about: `unknown field `x``, or the `x: ` serde_path_to_error
/// puts first.
fn parameter(detail: &str) -> String {
    if let Some(rest) = detail.split("field `").nth(1)
        && let Some((name, _)) = rest.split_once('`')
    {
        return name.to_owned();
    }
    match detail.split_once(": ") {
        Some((name, _)) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            name.to_owned()
        }
        _ => String::new(),
    }
}
