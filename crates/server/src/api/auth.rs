//! Who is calling: API tokens (`Authorization: Bearer pbt_...`) and browser sessions (an
//! HttpOnly, SameSite=Strict cookie, with a CSRF token every state-changing request must
//! echo in `X-CSRF-Token`); logging in and out, with failed logins throttled per client
//! address. The accounts and their tokens are managed in `accounts.rs`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::connect_info::{ConnectInfo, MockConnectInfo};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use phoneboot_store::{Actor, Credential, CredentialKind, Event, unix_seconds};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::Json;
use super::problem::{ApiResult, Problem};
use super::{Api, PREFIX, Route};
use crate::accounts::{self, Access, Role};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "phoneboot_session";
/// How long a browser session lasts.
pub const SESSION_SECS: i64 = 8 * 3600;
/// The header a session's state-changing requests carry their CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The account a request is made as.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub account: String,
    pub role: Role,
    /// The session's digest, when signed in through the browser.
    pub session: Option<String>,
    /// The digest of the secret the request came with (token or session): a long stream
    /// checks it still stands.
    pub credential: String,
    pub client: Client,
}

impl Principal {
    /// Who the audit log says made a write.
    pub(crate) fn actor(&self) -> Actor {
        Actor::new(self.account.clone(), self.client.to_string())
    }
}

/// The client's address (none in a test that gives none).
#[derive(Debug, Clone, Copy)]
pub struct Client(pub Option<IpAddr>);

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("unknown"),
        }
    }
}

/// The secret a request carries: a bearer token, else the session cookie.
fn presented(headers: &HeaderMap) -> Option<(String, CredentialKind)> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = auth.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| (token.trim().to_owned(), CredentialKind::Token));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (name, value) = c.trim().split_once('=')?;
            (name == SESSION_COOKIE).then(|| (value.to_owned(), CredentialKind::Session))
        })
}

/// Finds the account of the request's secret, if any, and checks a session's CSRF token on
/// every request that changes something. A secret that is not (or no longer) valid is 401:
/// a client must not go on believing it is signed in.
pub(crate) async fn authenticate(State(api): State<Api>, req: Request, next: Next) -> Response {
    identify(&api, req, next, true).await
}

/// As [`authenticate`], for the UI's pages: an ended session is no one (the page sends the
/// browser to the login page, and the stale cookie is cleared).
pub(crate) async fn authenticate_page(
    State(api): State<Api>,
    req: Request,
    next: Next,
) -> Response {
    identify(&api, req, next, false).await
}

async fn identify(api: &Api, mut req: Request, next: Next, strict: bool) -> Response {
    let extensions = req.extensions();
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .or_else(|| {
            extensions
                .get::<ConnectInfo<crate::https::TlsPeer>>()
                .map(|c| c.0.addr.ip())
        })
        .or_else(|| {
            extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        });
    let (client, forwarded_tls) = behind_proxy(peer, req.headers(), &api.admin.trusted_proxies);
    let client = Client(client);
    req.extensions_mut()
        .insert(Secure(api.tls || forwarded_tls));
    req.extensions_mut().insert(client);
    let Some((secret, kind)) = presented(req.headers()) else {
        return next.run(req).await;
    };
    // A secret is bounded: anything longer is no secret of ours.
    if secret.len() > 128 {
        return Problem::unauthorized().into_response();
    }
    let Some(db) = api.admin.database.get() else {
        return next.run(req).await;
    };
    let found = match db.store().credential(&accounts::digest(&secret)).await {
        Ok(found) => found,
        Err(e) => return Problem::store(&e).into_response(),
    };
    let Some((credential, account)) = found.filter(|(c, _)| c.kind == kind) else {
        let mut response = if strict {
            Problem::unauthorized().into_response()
        } else {
            next.run(req).await
        };
        if kind == CredentialKind::Session {
            response
                .headers_mut()
                .insert(header::SET_COOKIE, clear_cookie(api.tls || forwarded_tls));
        }
        return response;
    };
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if kind == CredentialKind::Session && unsafe_method {
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let expected = credential.csrf.as_deref();
        if sent.is_none() || !constant_time_eq(sent, expected) {
            return Problem::forbidden(
                "a change made with a browser session must carry the session's CSRF token in \
                 the X-CSRF-Token header (GET /api/v1/session gives it)",
            )
            .with("reason", "csrf")
            .into_response();
        }
    }
    req.extensions_mut().insert(Principal {
        account: account.name.clone(),
        role: accounts::role_of(&account),
        session: (kind == CredentialKind::Session).then(|| credential.digest.clone()),
        credential: credential.digest.clone(),
        client,
    });
    next.run(req).await
}

/// The client a request is from: the peer, or, when the peer is a trusted proxy, the last
/// address of `X-Forwarded-For` that is not one (what a client itself wrote further left is
/// not believed); and whether a trusted proxy says the client spoke HTTPS.
fn behind_proxy(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> (Option<IpAddr>, bool) {
    // A dual-stack listener sees an IPv4 client as ::ffff:a.b.c.d: compared as IPv4.
    let peer = peer.map(|p| p.to_canonical());
    let trusted_one = |a: &IpAddr| trusted.iter().any(|t| t.to_canonical() == a.to_canonical());
    let Some(peer) = peer.filter(|p| trusted_one(p)) else {
        return (peer, false);
    };
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .map(|a| a.to_canonical())
        .collect::<Vec<_>>();
    let client = forwarded
        .iter()
        .rev()
        .find(|a| !trusted_one(a))
        .copied()
        .unwrap_or(peer);
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    (Some(client), https)
}

/// The request reached the client over TLS (directly, or through a trusted proxy that says
/// so): its session cookie is `Secure`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Secure(pub bool);

fn constant_time_eq(a: Option<&str>, b: Option<&str>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return false;
    };
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn cookie(secret: &str, max_age: i64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clear_cookie(tls: bool) -> HeaderValue {
    cookie("", 0, tls)
}

/// Failed logins per client address: after [`Throttle::FAILURES`] within
/// [`Throttle::WINDOW`], the address may not try again until the window has passed — with
/// the right password too, so that guessing gains nothing by continuing.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<Option<IpAddr>, (u32, Instant)>>,
}

impl Throttle {
    pub const FAILURES: u32 = 5;
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);
    /// Addresses remembered at once; the oldest are forgotten first beyond it.
    const ADDRESSES: usize = 10_000;

    /// Counts an attempt from `client` before its password is checked (so that attempts
    /// made at once cannot all pass the check), or the seconds to wait when it may not try.
    pub fn attempt(&self, client: Client) -> Result<(), u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::ADDRESSES && !map.contains_key(&client.0) {
            map.retain(|_, (_, first)| first.elapsed() < Self::WINDOW);
            if map.len() >= Self::ADDRESSES
                && let Some(oldest) = map.iter().min_by_key(|(_, (_, f))| *f).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        let entry = map.entry(client.0).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= Self::WINDOW {
            *entry = (0, Instant::now());
        }
        if entry.0 >= Self::FAILURES {
            return Err((Self::WINDOW - entry.1.elapsed()).as_secs().max(1));
        }
        entry.0 += 1;
        Ok(())
    }

    /// The attempt counted by [`attempt`](Self::attempt) was a right password: it does not
    /// count. (Earlier failures still do: a login of one's own buys no more guesses at
    /// another account.)
    pub fn succeeded(&self, client: Client) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = map.get_mut(&client.0) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }

    /// True when the failures of `client` have reached the limit.
    pub fn exhausted(&self, client: Client) -> bool {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&client.0)
            .is_some_and(|(n, first)| *n >= Self::FAILURES && first.elapsed() < Self::WINDOW)
    }
}

/// Password hashes computed at once (argon2 takes 19 MiB and tens of milliseconds each): a
/// burst of logins waits here instead of taking the memory.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Runs `work` (an argon2 hash or check) off the runtime's threads, two at a time.
pub(crate) async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Problem::internal(e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    name: String,
    password: String,
}

/// Logs in: a session cookie, and the CSRF token to send back with every change.
async fn login(
    State(api): State<Api>,
    axum::Extension(client): axum::Extension<Client>,
    axum::Extension(Secure(secure)): axum::Extension<Secure>,
    Json(login): Json<Login>,
) -> ApiResult<Response> {
    let db = api.database()?;
    let store = db.store();
    if let Err(wait) = api.throttle.attempt(client) {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "login-throttled",
            "Too many failed logins",
            format!(
                "{} failed logins from {client} in {} minutes: wait {wait} s",
                Throttle::FAILURES,
                Throttle::WINDOW.as_secs() / 60
            ),
        );
        p.retry_after = Some(wait);
        return Err(p);
    }
    // A name that is no account's is logged as typed, but bounded (it may be a password
    // typed in the wrong box: never more of it than a name holds).
    let named: String = login.name.chars().take(accounts::NAME_MAX).collect();
    let account = if accounts::check_name(&login.name).is_ok() {
        store
            .account(&login.name)
            .await
            .map_err(|e| Problem::store(&e))?
    } else {
        None
    };
    let password = login.password;
    let checked = account.clone();
    let valid = hashing(move || {
        accounts::verify_password(checked.as_ref().unwrap_or(accounts::decoy()), &password)
            && checked.is_some()
    })
    .await?;
    let Some(account) = account.filter(|_| valid) else {
        let event = Event {
            by: Actor::new("", client.to_string()),
            action: if api.throttle.exhausted(client) {
                "login-throttled"
            } else {
                "login-refused"
            },
            kind: "account".into(),
            key: named,
        };
        store.record(&event).await.map_err(|e| Problem::store(&e))?;
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "login-refused",
            "Wrong name or password",
            "no account has this name and password",
        ));
    };
    api.throttle.succeeded(client);
    let (secret, digest) =
        accounts::new_secret("").map_err(|e| Problem::internal(e.to_string()))?;
    let (csrf, _) = accounts::new_secret("").map_err(|e| Problem::internal(e.to_string()))?;
    let now = unix_seconds();
    let session = Credential {
        digest,
        account: account.name.clone(),
        kind: CredentialKind::Session,
        label: client.to_string(),
        csrf: Some(csrf.clone()),
        created: now,
        expires: Some(now + SESSION_SECS),
    };
    store
        .add_credential(
            &session,
            &Actor::new(account.name.clone(), client.to_string()),
        )
        .await
        .map_err(|e| Problem::store(&e))?;
    let body = json!({
        "name": account.name,
        "role": accounts::role_of(&account),
        "csrf": csrf,
        "expires": now + SESSION_SECS,
    });
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&secret, SESSION_SECS, secure));
    Ok(response)
}

/// Who is signed in, with the session's CSRF token.
async fn whoami(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
) -> ApiResult<axum::Json<Value>> {
    let db = api.database()?;
    let mut body = json!({ "name": principal.account, "role": principal.role });
    if let Some(digest) = &principal.session {
        let found = db
            .store()
            .credential(digest)
            .await
            .map_err(|e| Problem::store(&e))?;
        if let Some((session, _)) = found {
            body["csrf"] = json!(session.csrf);
            body["expires"] = json!(session.expires);
        }
    }
    Ok(axum::Json(body))
}

/// Logs out: the session is gone on every node.
async fn logout(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    axum::Extension(Secure(secure)): axum::Extension<Secure>,
) -> ApiResult<Response> {
    let db = api.database()?;
    let Some(digest) = &principal.session else {
        return Err(Problem::bad_request(
            "",
            "this request is made with an API token, not a session: remove a token with \
             DELETE /api/v1/tokens/{id}",
        ));
    };
    db.store()
        .remove_credential(digest, &principal.actor())
        .await
        .map_err(|e| Problem::store(&e))?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(secure));
    Ok(response)
}

pub(super) fn routes() -> Vec<Route> {
    let session = format!("{PREFIX}/session");
    vec![
        Route::new(Method::POST, &session, Access::Public, login)
            .doc(
                "auth",
                "login",
                "Log in: a session cookie and its CSRF token",
            )
            .body("application/json")
            .ok(201),
        Route::new(Method::GET, &session, Access::Read, whoami).doc(
            "auth",
            "whoami",
            "The account signed in, and a session's CSRF token",
        ),
        Route::new(Method::DELETE, &session, Access::Read, logout)
            .doc("auth", "logout", "Log out: the session ends on every node")
            .ok(204),
    ]
}
