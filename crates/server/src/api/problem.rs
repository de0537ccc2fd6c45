//! Every error of the API as `application/problem+json` (RFC 9457): a status, a title, a
//! detail a person can act on, and where the fault is a value, the field and how to fix it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db::WriteError;

/// One problem, as the API answers it (boxed: a handler's `Result` stays small).
#[derive(Debug, Clone)]
pub struct Problem(Box<Body>);

impl std::ops::Deref for Problem {
    type Target = Body;

    fn deref(&self) -> &Body {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut Body {
        &mut self.0
    }
}

/// What a problem says.
#[derive(Debug, Clone, Serialize)]
pub struct Body {
    #[serde(skip)]
    pub status: StatusCode,
    /// A URI naming the kind of problem (relative: `/problems/<name>`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    #[serde(rename = "status")]
    pub code: u16,
    pub detail: String,
    /// The field at fault, in the object's own names (`lines[0].dn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// More members of the problem (the versions of a conflict, the users of an object in
    /// use, the rows of a refused import).
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Seconds to wait (429, 503): sent as Retry-After too.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        name: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self(Box::new(Body {
            status,
            kind: format!("/problems/{name}"),
            title,
            code: status.as_u16(),
            detail: detail.into(),
            field: None,
            extra: serde_json::Map::new(),
            retry_after: None,
        }))
    }

    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }

    #[must_use]
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        if let Ok(v) = serde_json::to_value(value) {
            self.extra.insert(key.to_owned(), v);
        }
        self
    }

    pub fn bad_request(field: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "The request is malformed",
            detail,
        )
        .field(field)
    }

    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-value",
            "A value is not accepted",
            detail,
        )
        .field(field)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "No such object", detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Sign in first",
            "this needs an account: log in (POST /api/v1/session) or send an API token as \
             `Authorization: Bearer pbt_...` (phoneboot admin token add)",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Not allowed for this account",
            detail,
        )
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The server failed",
            detail,
        )
    }

    /// A store error: unreachable is 503 (try again), the rest 500.
    pub fn store(e: &phoneboot_store::StoreError) -> Self {
        if e.is_unreachable() {
            let mut p = Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database-unreachable",
                "The device database does not answer",
                format!("{e}; phones are still served what the node holds; try again"),
            );
            p.retry_after = Some(5);
            p
        } else {
            Self::internal(e.to_string())
        }
    }
}

impl From<WriteError> for Problem {
    fn from(e: WriteError) -> Self {
        let detail = e.to_string();
        match e {
            WriteError::Exists { kind, key } => Self::new(
                StatusCode::CONFLICT,
                "exists",
                "The object exists already",
                detail,
            )
            .with("kind", kind.as_str())
            .with("name", key),
            WriteError::NotFound { kind, key } => Self::not_found(detail)
                .with("kind", kind.as_str())
                .with("name", key),
            WriteError::InUse { kind, key, by } => Self::new(
                StatusCode::CONFLICT,
                "in-use",
                "The object is in use",
                detail,
            )
            .with("kind", kind.as_str())
            .with("name", key)
            .with(
                "used_by",
                by.iter()
                    .map(|(k, n)| serde_json::json!({ "kind": k.as_str(), "name": n }))
                    .collect::<Vec<_>>(),
            ),
            WriteError::Conflict {
                kind,
                key,
                expected,
                found,
            } => Self::stale(kind, &key, expected, found),
            WriteError::Invalid { field, .. } => Self::invalid(&field, detail),
            WriteError::Store(e) => Self::store(&e),
        }
    }
}

impl Problem {
    /// A change made against a version the object is no longer at.
    pub fn stale(kind: phoneboot_model::Kind, key: &str, expected: i64, found: i64) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "stale-version",
            "The object changed meanwhile",
            format!(
                "{kind} {key:?} is at version {found}; the change was made against version \
                 {expected}: read it again (GET, its ETag) and repeat the change"
            ),
        )
        .with("kind", kind.as_str())
        .with("name", key)
        .with("expected_version", expected)
        .with("current_version", found)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&*self.0).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// What every handler returns.
pub(crate) type ApiResult<T> = Result<T, Problem>;
