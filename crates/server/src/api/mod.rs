//! The admin REST API under `/api/v1` (JSON), on the domain layer every writer uses: the
//! CLI, the CSV import and this API obey one set of rules (`crate::db`).
//!
//! Every route is declared once, in [`routes`]: its method, path, who may call it, what it
//! takes and answers. The router and the OpenAPI document are both made from that table, so
//! that a route cannot exist undocumented nor be documented with another access rule than the
//! one enforced.

mod accounts;
pub(crate) mod auth;
mod body;
pub(crate) mod objects;
mod openapi;
mod problem;
pub(crate) mod tools;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use phoneboot_model::Kind;

pub use auth::{SESSION_COOKIE, SESSION_SECS, Throttle};
pub use openapi::document as openapi_document;
pub use problem::Problem;

use crate::accounts::{Access, Role};
use crate::admin::AdminState;
use crate::db::Database;

/// What the API's handlers see.
#[derive(Debug, Clone)]
pub struct Api {
    pub admin: AdminState,
    /// Failed logins per client address.
    pub throttle: Arc<Throttle>,
    /// The admin listener speaks TLS: session cookies are then `Secure`.
    pub tls: bool,
}

impl Api {
    pub fn new(admin: AdminState) -> Self {
        let tls = admin.tls;
        Self {
            admin,
            throttle: Arc::new(Throttle::default()),
            tls,
        }
    }

    /// The database, or why there is none.
    pub(crate) fn database(&self) -> Result<Database, Problem> {
        self.admin.database.get().ok_or_else(|| {
            Problem::new(
                axum::http::StatusCode::NOT_FOUND,
                "no-database",
                "This node has no device database",
                "this node serves files only: start it with a device database (--database) to \
                 manage devices",
            )
        })
    }
}

/// The prefix of every route of the API.
pub const PREFIX: &str = "/api/v1";

/// One route of the API, as the router and the OpenAPI document both read it.
pub struct Route {
    pub method: Method,
    /// The path in OpenAPI's form (`/api/v1/devices/{name}`); a `{name}` that is the last
    /// segment of a `render` or `files` path takes slashes.
    pub path: String,
    pub operation: String,
    pub summary: String,
    pub tag: &'static str,
    pub access: Access,
    /// Query parameters it reads.
    pub query: &'static [(&'static str, &'static str)],
    /// The content type of the body it takes, if any.
    pub body: Option<&'static str>,
    /// Its status when it succeeds.
    pub ok: u16,
    /// The content type of a successful answer.
    pub answers: &'static str,
    handler: MethodRouter<Api>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Route {
    fn new<H, T>(method: Method, path: impl Into<String>, access: Access, handler: H) -> Self
    where
        H: Handler<T, Api>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        Self {
            method,
            path: path.into(),
            operation: String::new(),
            summary: String::new(),
            tag: "objects",
            access,
            query: &[],
            body: None,
            ok: 200,
            answers: "application/json",
            handler: axum::routing::on(filter, handler),
        }
    }

    fn doc(
        mut self,
        tag: &'static str,
        operation: impl Into<String>,
        summary: impl Into<String>,
    ) -> Self {
        self.tag = tag;
        self.operation = operation.into();
        self.summary = summary.into();
        self
    }

    fn query(mut self, query: &'static [(&'static str, &'static str)]) -> Self {
        self.query = query;
        self
    }

    fn body(mut self, content_type: &'static str) -> Self {
        self.body = Some(content_type);
        self
    }

    fn ok(mut self, status: u16) -> Self {
        self.ok = status;
        self
    }

    fn answers(mut self, content_type: &'static str) -> Self {
        self.answers = content_type;
        self
    }

    /// The path in axum's form: the last `{name}` of a file path is a wildcard.
    fn axum_path(&self) -> String {
        if self.path.ends_with("/{path}") {
            format!("{}{{*path}}", self.path.trim_end_matches("{path}"))
        } else {
            self.path.clone()
        }
    }
}

/// The path segment of each kind's collection.
pub fn collection(kind: Kind) -> &'static str {
    match kind {
        Kind::Params => "params",
        Kind::CallManager => "callmanagers",
        Kind::CmGroup => "groups",
        Kind::DateTimeGroup => "datetime-groups",
        Kind::DevicePool => "pools",
        Kind::DialPlan => "dialplans",
        Kind::Softkeys => "softkey-templates",
        Kind::FeaturePolicy => "feature-policies",
        Kind::User => "users",
        Kind::Device => "devices",
    }
}

/// `text` as one segment of a URL path or a query value: everything but the unreserved
/// characters percent-encoded (a pool named `A#1` is not the pool `A`). The API's Location
/// headers and the UI's links both name objects this way.
pub(crate) fn segment(text: &str) -> String {
    use std::fmt::Write as _;
    text.bytes()
        .fold(String::with_capacity(text.len()), |mut out, b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "%{b:02X}");
            }
            out
        })
}

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    let mut routes = auth::routes();
    routes.extend(accounts::routes());
    routes.extend(objects::routes());
    routes.extend(tools::routes());
    routes.push(
        Route::new(
            Method::GET,
            format!("{PREFIX}/openapi.json"),
            Access::Public,
            openapi::serve,
        )
        .doc(
            "meta",
            "openapi",
            "This document: the API's OpenAPI 3.1 description",
        ),
    );
    routes
}

/// The API's router, to be nested at the root of the admin listener.
pub fn router(api: Api) -> Router {
    let mut router: Router<Api> = Router::new();
    for route in routes() {
        let access = route.access;
        let path = route.axum_path();
        let handler =
            route
                .handler
                .route_layer(middleware::from_fn(move |req: Request, next: Next| {
                    require(access, req, next)
                }));
        router = router.route(&path, handler);
    }
    router
        .fallback(|| async {
            Problem::not_found("no such route: the routes are listed in /api/v1/openapi.json")
        })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Not a method of this route",
                "this route does not take this method: /api/v1/openapi.json lists each route's",
            )
        })
        .layer(middleware::from_fn_with_state(
            api.clone(),
            auth::authenticate,
        ))
        .with_state(api)
}

/// Lets the request through when its account may do what the route needs.
async fn require(access: Access, req: Request, next: Next) -> Response {
    if access == Access::Public {
        return next.run(req).await;
    }
    let Some(principal) = req.extensions().get::<auth::Principal>() else {
        return Problem::unauthorized().into_response();
    };
    if !principal.role.may(access) {
        let needed = Role::least_for(access);
        return Problem::forbidden(format!(
            "account {:?} has the {} role; this needs the {needed} role (an admin can give it: \
             phoneboot admin user role NAME {needed})",
            principal.account, principal.role,
        ))
        .with("role", principal.role.as_str())
        .with("needed", needed.as_str())
        .into_response();
    }
    next.run(req).await
}
