//! The admin API, in process (axum `oneshot`) over a real SQLite database: every route
//! refuses callers without an account (401) and roles below its own (403); the objects'
//! life (create, read, list, a merge patch at the version read, delete), and what each is
//! refused for, named (422 with the field, 404, 409 on a stale version and on delete-in-use,
//! 413, 415); sessions with their CSRF token, throttled logins, tokens, accounts, the audit
//! log, the import's two steps, the render preview, custom files and the OpenAPI document.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use phoneboot_model::*;
use phoneboot_server::accounts::{self, Access, Role};
use phoneboot_server::admin::{AdminState, app};
use phoneboot_server::api;
use phoneboot_server::config::DatabaseConfig;
use phoneboot_server::db::{Database, Slot};
use phoneboot_store::{Actor, Create, Location, Mode, Write};
use serde_json::{Value, json};
use tower::ServiceExt as _;

struct Fixture {
    router: Router,
    db: Database,
    /// A token per role.
    admin: String,
    operator: String,
    viewer: String,
    _dir: tempfile::TempDir,
}

const CLIENT: &str = "192.0.2.50:40000";

async fn fixture() -> Fixture {
    fixture_behind(Vec::new()).await
}

/// A fixture whose clients come through the trusted proxies `trusted` (the test's connection
/// is from 192.0.2.50).
async fn fixture_behind(trusted: Vec<std::net::IpAddr>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = DatabaseConfig {
        location: Location::Sqlite(dir.path().join("phoneboot.db")),
        ..DatabaseConfig::default()
    };
    let db = Database::open(&config, Create::IfMissing).await.unwrap();
    let base = vec![
        Write::Insert(Object::CallManager(CallManager::new("cm1", "192.0.2.11"))),
        Write::Insert(Object::CmGroup(CmGroup {
            name: "G1".into(),
            members: vec!["cm1".into()],
            tftp_default: true,
        })),
        Write::Insert(Object::DateTimeGroup(DateTimeGroup {
            name: "CMLocal".into(),
            date_template: "M/D/Y".into(),
            time_zone: "Greenwich Standard Time".into(),
            ntp: vec![],
        })),
        Write::Insert(Object::DevicePool(DevicePool::new(
            "Default", "G1", "CMLocal",
        ))),
    ];
    db.apply(base, Mode::Commit).await.unwrap();
    let store = db.store();
    let by = Actor::new("test", "setup");
    let mut tokens = Vec::new();
    for role in [Role::Admin, Role::Operator, Role::Viewer] {
        let name = format!("{role}1");
        let account = accounts::new_account(&name, role, "a long enough password").unwrap();
        store.save_account(&account, &by).await.unwrap();
        let (secret, _) = accounts::issue_token(store.as_ref(), &name, "tests", &by)
            .await
            .unwrap();
        tokens.push(secret);
    }
    let state = AdminState {
        counters: Arc::default(),
        database: Slot::new(Some(db.clone())),
        fetches: Arc::default(),
        built: None,
        stop: tokio_util::sync::CancellationToken::new(),
        tls: false,
        trusted_proxies: Arc::new(trusted),
    };
    let addr: SocketAddr = CLIENT.parse().unwrap();
    let router = app(state).layer(MockConnectInfo(addr));
    let [admin, operator, viewer] = <[String; 3]>::try_from(tokens).unwrap();
    Fixture {
        router,
        db,
        admin,
        operator,
        viewer,
        _dir: dir,
    }
}

/// A request's answer: status, headers, body as JSON (or as text in a string).
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    raw: Vec<u8>,
}

impl Answer {
    fn problem_field(&self) -> Option<&str> {
        self.body["field"].as_str()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let raw = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    let body = serde_json::from_slice(&raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{status}: {body}"
        );
    }
    Answer {
        status,
        headers,
        body,
        raw,
    }
}

fn request(method: Method, uri: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    match body {
        Some(b) => r
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => r.body(Body::empty()).unwrap(),
    }
}

/// A request made with the token `token`, the headers given, and `body`.
fn req(
    method: Method,
    uri: &str,
    token: &str,
    headers: &[(header::HeaderName, &str)],
    body: impl Into<Body>,
) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    for (name, value) in headers {
        r = r.header(name, *value);
    }
    r.body(body.into()).unwrap()
}

async fn call(f: &Fixture, method: Method, uri: &str, token: &str, body: Option<Value>) -> Answer {
    send(&f.router, request(method, uri, Some(token), body)).await
}

fn phone(mac: &str) -> Value {
    json!({
        "name": mac,
        "model": "8841",
        "pool": "Default",
        "description": "Reception",
        "lines": [{ "dn": "1001", "auth_name": "rec", "auth_password": "s3cret-pass" },
                  { "dn": "1002" }],
    })
}

/// A concrete URI for a route's path template.
fn concrete(path: &str) -> String {
    path.replace("{name}", "SEP001122334455")
        .replace("{id}", "0000000000000000")
        .replace("{path}", "Ringtones/x.raw")
}

#[tokio::test]
async fn every_route_refuses_a_caller_without_an_account_and_roles_below_its_own() {
    let f = fixture().await;
    let routes = api::routes();
    assert!(routes.len() > 50, "{} routes", routes.len());
    for route in &routes {
        let uri = concrete(&route.path);
        let body = route.body.map(|_| json!({}));
        // The change feed streams until the client goes: its refusals are whole answers,
        // its success is a stream (tested on its own).
        let streams = route.answers == "text/event-stream";
        let anonymous = send(
            &f.router,
            request(route.method.clone(), &uri, None, body.clone()),
        )
        .await;
        if route.access == Access::Public {
            assert_ne!(anonymous.status, StatusCode::UNAUTHORIZED, "{route:?}");
            continue;
        }
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{route:?}");
        assert_eq!(anonymous.headers[header::WWW_AUTHENTICATE], "Bearer");
        let forged = send(
            &f.router,
            request(route.method.clone(), &uri, Some("pbt_0123"), body.clone()),
        )
        .await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{route:?}");
        for (role, token) in [
            (Role::Viewer, &f.viewer),
            (Role::Operator, &f.operator),
            (Role::Admin, &f.admin),
        ] {
            if streams && role.may(route.access) {
                continue;
            }
            let answer = send(
                &f.router,
                request(route.method.clone(), &uri, Some(token), body.clone()),
            )
            .await;
            if role.may(route.access) {
                // Let through by the role table: whatever the route then says, it is not the
                // role layer's refusal (which names the role needed).
                assert!(
                    answer.body.get("needed").is_none(),
                    "{role} {route:?}: {}",
                    answer.body
                );
            } else {
                assert_eq!(answer.status, StatusCode::FORBIDDEN, "{role} {route:?}");
                assert_eq!(
                    answer.body["needed"],
                    Role::least_for(route.access).as_str(),
                    "{route:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_device_is_created_read_listed_patched_at_its_version_and_deleted() {
    let f = fixture().await;
    let created = call(
        &f,
        Method::POST,
        "/api/v1/devices",
        &f.operator,
        Some(phone("00:11:22:33:44:55")),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["name"], "SEP001122334455");
    assert_eq!(
        created.headers[header::LOCATION],
        "/api/v1/devices/SEP001122334455"
    );
    let fields = &created.body["fields"];
    assert_eq!(fields["protocol"], "SIP", "the model's first protocol");
    assert_eq!(fields["lines"][0]["auth_password"], MASK, "secrets masked");
    let etag = created.headers[header::ETAG].to_str().unwrap().to_owned();

    let got = call(
        &f,
        Method::GET,
        "/api/v1/devices/001122334455",
        &f.viewer,
        None,
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.headers[header::ETAG], etag.as_str());
    let secrets = call(
        &f,
        Method::GET,
        "/api/v1/devices/SEP001122334455?secrets=true",
        &f.viewer,
        None,
    )
    .await;
    assert_eq!(secrets.status, StatusCode::FORBIDDEN);
    let secrets = call(
        &f,
        Method::GET,
        "/api/v1/devices/SEP001122334455?secrets=true",
        &f.admin,
        None,
    )
    .await;
    assert_eq!(
        secrets.body["fields"]["lines"][0]["auth_password"],
        "s3cret-pass"
    );

    // A patch at the version read; the masked secret sent back stays the secret.
    let mut patch = got.body["fields"].clone();
    patch["description"] = json!("Front desk");
    let patched = send(
        &f.router,
        req(
            Method::PATCH,
            "/api/v1/devices/SEP001122334455",
            &f.operator,
            &[
                (header::CONTENT_TYPE, "application/merge-patch+json"),
                (header::IF_MATCH, &etag),
            ],
            Body::from(patch.to_string()),
        ),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["fields"]["description"], "Front desk");
    let stored = f.db.get(Kind::Device, "SEP001122334455").await.unwrap();
    let Object::Device(d) = stored.object else {
        unreachable!()
    };
    assert_eq!(d.lines[0].auth_password, "s3cret-pass");

    // The same patch again, at the old version: 409 with both versions.
    let stale = send(
        &f.router,
        req(
            Method::PATCH,
            "/api/v1/devices/SEP001122334455",
            &f.operator,
            &[
                (header::CONTENT_TYPE, "application/json"),
                (header::IF_MATCH, &etag),
            ],
            Body::from(r#"{"description":"late"}"#),
        ),
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.body["type"], "/problems/stale-version");
    assert_eq!(
        stale.body["expected_version"].to_string(),
        etag.trim_matches('"')
    );
    assert_eq!(stale.body["current_version"], stored.version);
    // Without a version: 428, naming the header.
    let blind = call(
        &f,
        Method::PATCH,
        "/api/v1/devices/SEP001122334455",
        &f.operator,
        Some(json!({"description": "x"})),
    )
    .await;
    assert_eq!(
        (blind.status, blind.problem_field()),
        (StatusCode::PRECONDITION_REQUIRED, Some("If-Match"))
    );

    // Listed, found by MAC, DN and description, paged.
    for q in ["0011223344", "1002", "front", "sep0011"] {
        let found = call(
            &f,
            Method::GET,
            &format!("/api/v1/devices?q={q}"),
            &f.viewer,
            None,
        )
        .await;
        assert_eq!(found.body["items"].as_array().unwrap().len(), 1, "{q}");
    }
    let none = call(&f, Method::GET, "/api/v1/devices?q=nobody", &f.viewer, None).await;
    assert!(none.body["items"].as_array().unwrap().is_empty());

    let gone = call(
        &f,
        Method::DELETE,
        "/api/v1/devices/SEP001122334455",
        &f.operator,
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let missing = call(
        &f,
        Method::GET,
        "/api/v1/devices/SEP001122334455",
        &f.viewer,
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["name"], "SEP001122334455");
}

#[tokio::test]
async fn bad_values_are_refused_with_the_field_named_and_nothing_written() {
    let f = fixture().await;
    let cases = [
        (
            json!({ "name": "00:11:22:33:44", "model": "8841", "pool": "Default" }),
            "mac",
        ),
        (
            json!({ "name": "001122334466", "model": "9999", "pool": "Default" }),
            "model",
        ),
        (
            json!({ "name": "001122334466", "model": "8841", "pool": "Nowhere" }),
            "pool",
        ),
        (
            json!({ "name": "001122334466", "model": "8841", "pool": "Default", "lines": [{ "dn": "12<3" }] }),
            "lines[0].dn",
        ),
        (json!({ "model": "8841", "pool": "Default" }), "name"),
    ];
    for (body, field) in cases {
        let answer = call(
            &f,
            Method::POST,
            "/api/v1/devices",
            &f.admin,
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            answer.body
        );
        assert_eq!(
            answer.problem_field(),
            Some(field),
            "{body}: {}",
            answer.body
        );
    }
    // A body that is not the type it should be: 400 with the path of the value.
    let wrong = call(
        &f,
        Method::POST,
        "/api/v1/session",
        &f.admin,
        Some(json!({ "name": 5, "password": "x" })),
    )
    .await;
    assert_eq!(
        (wrong.status, wrong.problem_field()),
        (StatusCode::BAD_REQUEST, Some("name"))
    );
    let unknown = call(
        &f,
        Method::POST,
        "/api/v1/tokens",
        &f.admin,
        Some(json!({ "label": "x", "colour": 1 })),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    // Not JSON: 415. Too large: 413 before it is read.
    let text = send(
        &f.router,
        req(
            Method::POST,
            "/api/v1/devices",
            &f.admin,
            &[(header::CONTENT_TYPE, "text/plain")],
            Body::from("name=x"),
        ),
    )
    .await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut huge = phone("001122334477");
    huge["description"] = json!("x".repeat(2 << 20));
    let big = call(&f, Method::POST, "/api/v1/devices", &f.admin, Some(huge)).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(big.body["limit"], 1 << 20);
    let listed = call(&f, Method::GET, "/api/v1/devices", &f.admin, None).await;
    assert!(
        listed.body["items"].as_array().unwrap().is_empty(),
        "nothing half-written"
    );
    // Query parameters out of range, named.
    for (uri, field) in [
        ("/api/v1/devices?limit=0", "limit"),
        ("/api/v1/devices?sort=colour", "sort"),
        ("/api/v1/devices?cursor=zz", "cursor"),
        ("/api/v1/audit?limit=5000", "limit"),
        ("/api/v1/export?format=xls", "format"),
    ] {
        let answer = call(&f, Method::GET, uri, &f.admin, None).await;
        assert_eq!(
            (answer.status, answer.problem_field()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn an_object_in_use_is_not_deleted_and_the_answer_names_its_users() {
    let f = fixture().await;
    call(
        &f,
        Method::POST,
        "/api/v1/devices",
        &f.admin,
        Some(phone("001122334455")),
    )
    .await;
    let refused = call(&f, Method::DELETE, "/api/v1/pools/Default", &f.admin, None).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.body["type"], "/problems/in-use");
    assert_eq!(
        refused.body["used_by"][0],
        json!({ "kind": "device", "name": "SEP001122334455" })
    );
    let exists = call(
        &f,
        Method::POST,
        "/api/v1/devices",
        &f.admin,
        Some(phone("001122334455")),
    )
    .await;
    assert_eq!(exists.status, StatusCode::CONFLICT);
    let stale = send(
        &f.router,
        req(
            Method::DELETE,
            "/api/v1/devices/SEP001122334455",
            &f.admin,
            &[(header::IF_MATCH, "\"1\"")],
            Body::empty(),
        ),
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.body["type"], "/problems/stale-version");
}

/// Logs in; the session cookie and CSRF token.
async fn login(f: &Fixture, name: &str, password: &str) -> Answer {
    send(
        &f.router,
        request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(json!({ "name": name, "password": password })),
        ),
    )
    .await
}

/// The session cookie (`name=value`) a login answer sets.
fn session_cookie(answer: &Answer) -> String {
    let set_cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// `GET /api/v1/session` with the session cookie `cookie`.
async fn who_am_i(f: &Fixture, cookie: &str) -> Answer {
    send(
        &f.router,
        session_request(Method::GET, "/api/v1/session", cookie, None, None),
    )
    .await
}

fn session_request(
    method: Method,
    uri: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, cookie);
    if let Some(c) = csrf {
        r = r.header("x-csrf-token", c);
    }
    match body {
        Some(b) => r
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => r.body(Body::empty()).unwrap(),
    }
}

#[tokio::test]
async fn a_browser_session_needs_its_csrf_token_for_every_change_and_ends_at_logout() {
    let f = fixture().await;
    let answer = login(&f, "operator1", "a long enough password").await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let set_cookie = answer.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "no TLS here: {set_cookie}");
    let cookie = session_cookie(&answer);
    let csrf = answer.body["csrf"].as_str().unwrap().to_owned();
    assert_eq!(answer.body["role"], "operator");

    // Reading needs no token; changing does, and a wrong one is refused.
    let me = who_am_i(&f, &cookie).await;
    assert_eq!(
        (me.status, me.body["csrf"].as_str()),
        (StatusCode::OK, Some(csrf.as_str()))
    );
    for token in [None, Some("0".repeat(64).as_str())] {
        let refused = send(
            &f.router,
            session_request(
                Method::POST,
                "/api/v1/devices",
                &cookie,
                token,
                Some(phone("001122334455")),
            ),
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{token:?}");
        assert_eq!(refused.body["reason"], "csrf");
    }
    let made = send(
        &f.router,
        session_request(
            Method::POST,
            "/api/v1/devices",
            &cookie,
            Some(&csrf),
            Some(phone("001122334455")),
        ),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);

    let out = send(
        &f.router,
        session_request(
            Method::DELETE,
            "/api/v1/session",
            &cookie,
            Some(&csrf),
            None,
        ),
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = who_am_i(&f, &cookie).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // The audit log has the login, the write made through the session and the logout.
    let log = call(
        &f,
        Method::GET,
        "/api/v1/audit?who=operator1",
        &f.viewer,
        None,
    )
    .await;
    let actions: Vec<&str> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["logout", "put", "login"]);
    let put = &log.body["items"][1];
    assert_eq!(
        (put["from"].as_str(), put["name"].as_str()),
        (Some("192.0.2.50"), Some("SEP001122334455"))
    );
    assert_eq!(
        put["after"]["lines"][0]["auth_password"], MASK,
        "secrets masked in the log"
    );
    assert!(put["before"].is_null());
}

#[tokio::test]
async fn failed_logins_from_one_address_are_throttled_even_with_the_right_password_after() {
    let f = fixture().await;
    let unknown = login(&f, "nobody", "a long enough password").await;
    let wrong = login(&f, "admin1", "wrong password!").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.body["detail"], unknown.body["detail"],
        "which names exist is not told"
    );
    for _ in 2..api::Throttle::FAILURES {
        assert_eq!(
            login(&f, "admin1", "wrong password!").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = login(&f, "admin1", "a long enough password").await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.body
    );
    let wait: u64 = throttled.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= api::Throttle::WINDOW.as_secs());
    // Tokens still work: the throttle is for guessing passwords.
    assert_eq!(
        call(&f, Method::GET, "/api/v1/session", &f.admin, None)
            .await
            .status,
        StatusCode::OK
    );
    let log = call(
        &f,
        Method::GET,
        "/api/v1/audit?kind=account",
        &f.admin,
        None,
    )
    .await;
    let refused = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("login-"))
        .count();
    assert_eq!(refused, api::Throttle::FAILURES as usize);
}

#[tokio::test]
async fn tokens_are_shown_once_listed_without_their_secret_and_revoked() {
    let f = fixture().await;
    let made = call(
        &f,
        Method::POST,
        "/api/v1/tokens",
        &f.viewer,
        Some(json!({ "label": "grafana" })),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let secret = made.body["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pbt_"));
    let listed = call(&f, Method::GET, "/api/v1/tokens", &secret, None).await;
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the fixture's and this one");
    assert!(
        !listed
            .raw
            .windows(secret.len() - 4)
            .any(|w| w == &secret.as_bytes()[4..])
    );
    let others = call(
        &f,
        Method::GET,
        "/api/v1/tokens?account=admin1",
        &f.viewer,
        None,
    )
    .await;
    assert_eq!(others.status, StatusCode::FORBIDDEN);
    let id = made.body["id"].as_str().unwrap();
    let revoked = call(
        &f,
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        &f.viewer,
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&f, Method::GET, "/api/v1/session", &secret, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let bad = call(
        &f,
        Method::POST,
        "/api/v1/tokens",
        &f.viewer,
        Some(json!({ "label": "" })),
    )
    .await;
    assert_eq!(bad.problem_field(), Some("label"));
}

#[tokio::test]
async fn accounts_are_managed_by_admins_and_the_last_admin_stays() {
    let f = fixture().await;
    let made = call(
        &f,
        Method::POST,
        "/api/v1/accounts",
        &f.admin,
        Some(json!({ "name": "carol", "role": "viewer", "password": "another long password" })),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert!(
        !made.raw.windows(6).any(|w| w == b"argon2"),
        "no hash shown"
    );
    for (body, field) in [
        (
            json!({ "name": "dave", "role": "owner", "password": "another long password" }),
            "role",
        ),
        (
            json!({ "name": "da ve", "role": "viewer", "password": "another long password" }),
            "name",
        ),
        (
            json!({ "name": "dave", "role": "viewer", "password": "short" }),
            "password",
        ),
    ] {
        let refused = call(&f, Method::POST, "/api/v1/accounts", &f.admin, Some(body)).await;
        assert_eq!(
            (refused.status, refused.problem_field()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field))
        );
    }
    let again = call(
        &f,
        Method::POST,
        "/api/v1/accounts",
        &f.admin,
        Some(json!({ "name": "CAROL", "role": "viewer", "password": "another long password" })),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let promoted = call(
        &f,
        Method::PATCH,
        "/api/v1/accounts/carol",
        &f.admin,
        Some(json!({ "role": "operator", "password": "a new long password" })),
    )
    .await;
    assert_eq!(promoted.body["role"], "operator");
    assert_eq!(
        login(&f, "carol", "a new long password").await.status,
        StatusCode::CREATED
    );
    let demote = call(
        &f,
        Method::PATCH,
        "/api/v1/accounts/admin1",
        &f.admin,
        Some(json!({ "role": "viewer" })),
    )
    .await;
    assert_eq!(
        (demote.status, demote.body["type"].as_str()),
        (StatusCode::CONFLICT, Some("/problems/last-admin"))
    );
    let remove = call(
        &f,
        Method::DELETE,
        "/api/v1/accounts/admin1",
        &f.admin,
        None,
    )
    .await;
    assert_eq!(remove.status, StatusCode::CONFLICT);
    assert_eq!(
        call(&f, Method::DELETE, "/api/v1/accounts/carol", &f.admin, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&f, Method::GET, "/api/v1/accounts/carol", &f.admin, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_import_is_previewed_row_by_row_then_applied_whole_or_refused_whole() {
    let f = fixture().await;
    call(
        &f,
        Method::POST,
        "/api/v1/devices",
        &f.admin,
        Some(phone("001122334455")),
    )
    .await;
    let csv = "mac,model,pool,description,line1_dn\n\
               001122334455,8841,Default,Reception,1001\n\
               0011223344AA,8841,Default,Lobby,2001\n";
    let post = |uri: &str, body: &str| {
        req(
            Method::POST,
            uri,
            &f.admin,
            &[(header::CONTENT_TYPE, "text/csv")],
            Body::from(body.to_owned()),
        )
    };
    let preview = send(&f.router, post("/api/v1/import?replace=true", csv)).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!(preview.body["dry_run"], true);
    let rows: Vec<(u64, &str)> = preview.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["change"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [(2, "replaced"), (3, "added")]);
    let listed = call(&f, Method::GET, "/api/v1/devices", &f.admin, None).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "a dry run writes nothing"
    );

    let applied = send(
        &f.router,
        post("/api/v1/import?replace=true&dry_run=false", csv),
    )
    .await;
    assert_eq!(
        (applied.status, applied.body["added"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    assert_eq!(
        applied.body["version"].as_i64().unwrap(),
        preview.body["version"].as_i64().unwrap(),
        "the dry run said the version the real run reached"
    );
    let listed = call(&f, Method::GET, "/api/v1/devices", &f.admin, None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);

    let broken = "mac,model,pool\n001122334499,8841,Default\n00112233,8841,Default\n";
    let refused = send(&f.router, post("/api/v1/import?dry_run=false", broken)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["problems"][0]["line"], 3);
    assert_eq!(refused.problem_field(), Some("mac"));
    let listed = call(&f, Method::GET, "/api/v1/devices", &f.admin, None).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        2,
        "all or nothing"
    );
    let operator = send(&f.router, {
        let mut r = post("/api/v1/import", csv);
        r.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {}", f.operator).parse().unwrap(),
        );
        r
    })
    .await;
    assert_eq!(operator.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn lists_page_by_cursor_in_either_order_without_loss_or_repeat() {
    let f = fixture().await;
    // Written in reverse name order, in mixed case: version order is not name order.
    let created: Vec<String> = (0..25)
        .rev()
        .map(|i| format!("0011223344{i:02x}"))
        .collect();
    for mac in &created {
        let answer = call(
            &f,
            Method::POST,
            "/api/v1/devices",
            &f.operator,
            Some(phone(mac)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED);
    }
    let mut by_name: Vec<String> = created.iter().map(|m| m.to_ascii_uppercase()).collect();
    by_name.sort();
    let by_version: Vec<String> = created.iter().map(|m| m.to_ascii_uppercase()).collect();
    let reversed = |v: &[String]| v.iter().rev().cloned().collect::<Vec<_>>();
    for (sort, expected) in [
        ("name", by_name.clone()),
        ("-name", reversed(&by_name)),
        ("version", by_version.clone()),
        ("-version", reversed(&by_version)),
    ] {
        for q in ["", "&q=0011"] {
            let mut seen = Vec::new();
            let mut uri = format!("/api/v1/devices?limit=7&sort={sort}{q}");
            loop {
                let page = call(&f, Method::GET, &uri, &f.viewer, None).await;
                for item in page.body["items"].as_array().unwrap() {
                    seen.push(item["fields"]["mac"].as_str().unwrap().to_owned());
                }
                match page.body["next"].as_str() {
                    Some(next) => {
                        uri = format!("/api/v1/devices?limit=7&sort={sort}{q}&cursor={next}");
                    }
                    None => break,
                }
            }
            assert_eq!(seen, expected, "{sort}{q}");
        }
    }
}

#[tokio::test]
async fn a_new_password_ends_the_sessions_and_one_login_buys_no_more_guesses() {
    let f = fixture().await;
    let session = login(&f, "viewer1", "a long enough password").await;
    let cookie = session_cookie(&session);
    let me = who_am_i(&f, &cookie).await;
    assert_eq!(me.status, StatusCode::OK);
    let changed = call(
        &f,
        Method::PATCH,
        "/api/v1/accounts/viewer1",
        &f.admin,
        Some(json!({ "password": "a brand new password" })),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK);
    let after = who_am_i(&f, &cookie).await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "the old session is over"
    );
    let token = call(&f, Method::GET, "/api/v1/session", &f.viewer, None).await;
    assert_eq!(
        token.status,
        StatusCode::UNAUTHORIZED,
        "tokens made with the old password are revoked too"
    );
    // Four wrong guesses at the admin, a right login of one's own, then the fifth guess
    // still reaches the limit: the next attempt is throttled.
    for _ in 0..4 {
        assert_eq!(
            login(&f, "admin1", "guess guess guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&f, "viewer1", "a brand new password").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        login(&f, "admin1", "guess guess guess").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&f, "admin1", "a long enough password").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A name too long to be one is logged cut to a name's length, made by no one.
    let long = "p".repeat(5000);
    let f2 = fixture().await;
    assert_eq!(
        login(&f2, &long, "whatever it is").await.status,
        StatusCode::UNAUTHORIZED
    );
    let log = call(
        &f2,
        Method::GET,
        "/api/v1/audit?kind=account&limit=1",
        &f2.admin,
        None,
    )
    .await;
    let entry = &log.body["items"][0];
    assert_eq!(entry["action"], "login-refused");
    assert_eq!(entry["name"].as_str().unwrap().len(), accounts::NAME_MAX);
    assert_eq!(entry["who"], "");
}

#[tokio::test]
async fn preconditions_methods_and_query_values_are_answered_as_problems() {
    let f = fixture().await;
    let created = call(
        &f,
        Method::POST,
        "/api/v1/devices",
        &f.operator,
        Some(phone("001122334455")),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let patch = |uri: &str, if_match: Option<&str>| {
        let mut r = Request::builder()
            .method(Method::PATCH)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", f.operator))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(m) = if_match {
            r = r.header(header::IF_MATCH, m);
        }
        r.body(Body::from(r#"{"description":"any"}"#)).unwrap()
    };
    let any = send(
        &f.router,
        patch("/api/v1/devices/SEP001122334455", Some("*")),
    )
    .await;
    assert_eq!(
        any.status,
        StatusCode::OK,
        "If-Match: * is a change on purpose: {}",
        any.body
    );
    let missing = send(&f.router, patch("/api/v1/devices/SEP0011223344FF", None)).await;
    assert_eq!(
        missing.status,
        StatusCode::NOT_FOUND,
        "a missing object is 404, asked for a version or not"
    );
    let junk = send(
        &f.router,
        patch("/api/v1/devices/SEP001122334455", Some("yesterday")),
    )
    .await;
    assert_eq!(
        (junk.status, junk.problem_field()),
        (StatusCode::BAD_REQUEST, Some("If-Match"))
    );
    for (uri, field) in [
        ("/api/v1/devices?limit=abc", "limit"),
        ("/api/v1/devices?colour=red", "colour"),
        ("/api/v1/devices/SEP001122334455?secrets=maybe", "secrets"),
    ] {
        let answer = call(&f, Method::GET, uri, &f.viewer, None).await;
        assert_eq!(
            (answer.status, answer.problem_field()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{uri}: {}",
            answer.body
        );
    }
    let wrong = call(&f, Method::PUT, "/api/v1/devices", &f.admin, None).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    // The render preview: exact for an admin, the SIP password masked for anyone else.
    let exact = call(
        &f,
        Method::GET,
        "/api/v1/render/SEP001122334455.cnf.xml",
        &f.admin,
        None,
    )
    .await;
    let masked = call(
        &f,
        Method::GET,
        "/api/v1/render/SEP001122334455.cnf.xml",
        &f.viewer,
        None,
    )
    .await;
    let (exact, masked) = (
        String::from_utf8(exact.raw).unwrap(),
        String::from_utf8(masked.raw).unwrap(),
    );
    assert!(exact.contains("s3cret-pass"), "{exact}");
    assert!(
        !masked.contains("s3cret-pass") && masked.contains(MASK) && masked.contains("1002"),
        "{masked}"
    );
}

#[tokio::test]
async fn extension_mobility_render_preview_custom_files_and_counters() {
    let f = fixture().await;
    call(
        &f,
        Method::POST,
        "/api/v1/devices",
        &f.operator,
        Some(phone("001122334455")),
    )
    .await;
    let preview = call(
        &f,
        Method::GET,
        "/api/v1/render/SEP001122334455.cnf.xml",
        &f.operator,
        None,
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(preview.headers[header::CONTENT_TYPE], "application/xml");
    let xml = String::from_utf8(preview.raw.clone()).unwrap();
    assert!(xml.contains("1001") && xml.contains("1002"), "{xml}");
    let nothing = call(
        &f,
        Method::GET,
        "/api/v1/render/SEP0011223344FF.cnf.xml",
        &f.operator,
        None,
    )
    .await;
    assert_eq!(nothing.status, StatusCode::NOT_FOUND);

    let login = call(
        &f,
        Method::POST,
        "/api/v1/devices/SEP001122334455/login",
        &f.operator,
        Some(json!({ "user": "nobody" })),
    )
    .await;
    assert_eq!(
        login.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        login.body
    );
    assert_eq!(login.problem_field(), Some("em_user"));
    let logout = call(
        &f,
        Method::POST,
        "/api/v1/devices/SEP001122334455/logout",
        &f.operator,
        None,
    )
    .await;
    assert_eq!(logout.status, StatusCode::OK);

    let upload = send(
        &f.router,
        req(
            Method::PUT,
            "/api/v1/files/Ringtones/Chime.raw",
            &f.operator,
            &[],
            Body::from(vec![7u8; 4000]),
        ),
    )
    .await;
    assert_eq!(
        (upload.status, upload.body["size"].as_u64()),
        (StatusCode::CREATED, Some(4000))
    );
    let files = call(&f, Method::GET, "/api/v1/files", &f.viewer, None).await;
    assert_eq!(files.body["items"][0]["name"], "Ringtones/Chime.raw");
    let hostile = call(
        &f,
        Method::PUT,
        "/api/v1/files/..%2Fetc%2Fpasswd",
        &f.operator,
        None,
    )
    .await;
    assert_eq!(
        (hostile.status, hostile.problem_field()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("name"))
    );
    assert_eq!(
        call(
            &f,
            Method::DELETE,
            "/api/v1/files/Ringtones/Chime.raw",
            &f.operator,
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(
            &f,
            Method::DELETE,
            "/api/v1/files/Ringtones/Chime.raw",
            &f.operator,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    let counters = call(&f, Method::GET, "/api/v1/counters", &f.viewer, None).await;
    assert_eq!(counters.body["RequestsProcessed"], 0);
    let check = call(&f, Method::GET, "/api/v1/check", &f.viewer, None).await;
    assert_eq!(check.body["sound"], true, "{}", check.body);
    let export = call(
        &f,
        Method::GET,
        "/api/v1/export?format=csv",
        &f.viewer,
        None,
    )
    .await;
    let csv = String::from_utf8(export.raw).unwrap();
    assert!(
        csv.contains("001122334455") && !csv.contains("s3cret-pass"),
        "{csv}"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_reads_as_openapi_3_1() {
    let f = fixture().await;
    let answer = send(
        &f.router,
        request(Method::GET, "/api/v1/openapi.json", None, None),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let text = String::from_utf8(answer.raw).unwrap();
    let spec = oas3::from_json(&text).expect("an OpenAPI 3.1 document");
    spec.validate_version().expect("version 3.1");
    let mut operations = std::collections::HashSet::new();
    for route in api::routes() {
        let item = spec
            .paths
            .as_ref()
            .unwrap()
            .get(&route.path)
            .unwrap_or_else(|| panic!("{route:?} missing"));
        let op = item
            .methods()
            .into_iter()
            .find(|(m, _)| *m == route.method)
            .unwrap_or_else(|| panic!("{route:?} has no operation"))
            .1;
        let id = op.operation_id.clone().unwrap();
        assert!(operations.insert(id.clone()), "operationId {id} twice");
        for param in &op.parameters {
            param.resolve(&spec).expect("a parameter that resolves");
        }
        for response in op.responses.as_ref().unwrap().values() {
            response.resolve(&spec).expect("a response that resolves");
        }
        let documented_role = answer.body["paths"][&route.path]
            [route.method.as_str().to_ascii_lowercase()]["x-phoneboot-role"]
            .as_str();
        if route.access != Access::Public {
            assert_eq!(
                documented_role,
                Some(Role::least_for(route.access).as_str()),
                "{route:?}"
            );
        }
        let placeholders = route.path.matches('{').count();
        let declared = op
            .parameters
            .iter()
            .filter(|p| p.resolve(&spec).unwrap().location == oas3::spec::ParameterIn::Path)
            .count();
        assert_eq!(placeholders, declared, "{route:?}");
    }
    // And nothing is served that the table does not hold: an unknown route is a problem.
    let unknown = call(&f, Method::GET, "/api/v1/nothing-here", &f.admin, None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_change_feed_streams_each_committed_step_as_an_event() {
    use futures_util::StreamExt as _;
    let f = fixture().await;
    let head = f.db.store().head().await.unwrap();
    let response = f
        .router
        .clone()
        .oneshot(request(
            Method::GET,
            &format!("/api/v1/changes?since={head}"),
            Some(&f.viewer),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut stream = response.into_body().into_data_stream();
    // A write by another writer (here the domain layer directly, as the CLI does).
    let draft =
        f.db.draft(Kind::Device, "001122334455", phone("001122334455"))
            .unwrap();
    let written = f.db.add(draft).await.unwrap();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("an event within 20 s")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: change\n"), "{text}");
    assert!(
        text.contains(&format!("id: {}\n", written.version)),
        "{text}"
    );
    assert!(
        text.contains("\"name\":\"SEP001122334455\"") && text.contains("\"op\":\"put\""),
        "{text}"
    );
    // The token revoked: the stream ends (it checks whenever it waits).
    let digest = accounts::digest(&f.viewer);
    assert!(
        f.db.store()
            .remove_credential(&digest, &Actor::new("test", "test"))
            .await
            .unwrap()
    );
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(None) => break,
            Ok(Some(_)) => continue,
            Err(_) => panic!("the stream went on after its token was revoked"),
        }
    }
}

#[tokio::test]
async fn every_kind_is_created_read_listed_patched_and_deleted_by_an_admin() {
    let f = fixture().await;
    let samples = [
        (
            "callmanagers",
            json!({ "name": "cm2", "host": "192.0.2.12" }),
            json!({ "host": "192.0.2.13" }),
        ),
        (
            "groups",
            json!({ "name": "G2", "members": ["cm1"], "tftp_default": false }),
            json!({ "members": ["cm1"] }),
        ),
        (
            "datetime-groups",
            json!({ "name": "Local2", "date_template": "M/D/Y", "time_zone": "Greenwich Standard Time", "ntp": [] }),
            json!({ "date_template": "D/M/Y" }),
        ),
        (
            "pools",
            json!({ "name": "P2", "cm_group": "G1", "date_time": "CMLocal" }),
            json!({ "date_time": "CMLocal" }),
        ),
        (
            "dialplans",
            json!({ "name": "DP2", "rules": [] }),
            json!({ "rules": [] }),
        ),
        (
            "softkey-templates",
            json!({ "name": "SK2", "sets": [] }),
            json!({ "sets": [] }),
        ),
        (
            "feature-policies",
            json!({ "name": "FP2", "features": {} }),
            json!({ "features": {} }),
        ),
        (
            "users",
            json!({ "id": "carol", "name": "Carol" }),
            json!({ "name": "Carol B." }),
        ),
    ];
    for (slug, body, patch) in samples {
        let made = call(
            &f,
            Method::POST,
            &format!("/api/v1/{slug}"),
            &f.admin,
            Some(body.clone()),
        )
        .await;
        assert_eq!(made.status, StatusCode::CREATED, "{slug}: {}", made.body);
        let name = made.body["name"].as_str().unwrap().to_owned();
        let item = format!("/api/v1/{slug}/{name}");
        assert_eq!(made.headers[header::LOCATION], item.as_str());
        let got = call(&f, Method::GET, &item, &f.viewer, None).await;
        assert_eq!(got.status, StatusCode::OK, "{slug}");
        let listed = call(
            &f,
            Method::GET,
            &format!("/api/v1/{slug}?q={name}"),
            &f.viewer,
            None,
        )
        .await;
        assert!(
            listed.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["name"] == name.as_str()),
            "{slug}"
        );
        let etag = got.headers[header::ETAG].to_str().unwrap().to_owned();
        let patched = send(
            &f.router,
            req(
                Method::PATCH,
                &item,
                &f.admin,
                &[
                    (header::CONTENT_TYPE, "application/merge-patch+json"),
                    (header::IF_MATCH, &etag),
                ],
                Body::from(patch.to_string()),
            ),
        )
        .await;
        assert_eq!(patched.status, StatusCode::OK, "{slug}: {}", patched.body);
        let wrong = call(
            &f,
            Method::POST,
            &format!("/api/v1/{slug}"),
            &f.admin,
            Some(body),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::CONFLICT, "{slug}: added twice");
        let gone = call(&f, Method::DELETE, &item, &f.admin, None).await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT, "{slug}: {}", gone.body);
        assert_eq!(
            call(&f, Method::GET, &item, &f.viewer, None).await.status,
            StatusCode::NOT_FOUND
        );
    }
    // The parameters: one object, read and changed at its version.
    let params = call(&f, Method::GET, "/api/v1/params", &f.viewer, None).await;
    assert_eq!(params.status, StatusCode::OK);
    let etag = params.headers[header::ETAG].to_str().unwrap().to_owned();
    let changed = send(
        &f.router,
        req(
            Method::PATCH,
            "/api/v1/params",
            &f.admin,
            &[
                (header::CONTENT_TYPE, "application/json"),
                (header::IF_MATCH, &etag),
            ],
            Body::from(r#"{"em_multiple_login":"allowed"}"#),
        ),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["fields"]["em_multiple_login"], "allowed");
    let operator = call(
        &f,
        Method::PATCH,
        "/api/v1/params",
        &f.operator,
        Some(json!({})),
    )
    .await;
    assert_eq!(operator.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_throttled_and_logged_and_cookies_are_secure()
 {
    let f = fixture_behind(vec!["192.0.2.50".parse().unwrap()]).await;
    let through = |from: &str, name: &str, password: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json")
            // What the client wrote itself (left) is not believed; the proxy's entry is.
            .header("x-forwarded-for", format!("203.0.113.66, {from}"))
            .header("x-forwarded-proto", "https")
            .body(Body::from(
                json!({ "name": name, "password": password }).to_string(),
            ))
            .unwrap()
    };
    let ok = send(
        &f.router,
        through("198.51.100.7", "admin1", "a long enough password"),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    assert!(
        ok.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    for _ in 0..api::Throttle::FAILURES {
        send(
            &f.router,
            through("198.51.100.8", "admin1", "guess guess guess"),
        )
        .await;
    }
    let blocked = send(
        &f.router,
        through("198.51.100.8", "admin1", "a long enough password"),
    )
    .await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    let other = send(
        &f.router,
        through("198.51.100.7", "admin1", "a long enough password"),
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::CREATED,
        "one client's guesses lock out no one else"
    );
    let log = call(
        &f,
        Method::GET,
        "/api/v1/audit?kind=account&limit=1",
        &f.admin,
        None,
    )
    .await;
    assert_eq!(log.body["items"][0]["from"], "198.51.100.7");

    // Not from a trusted proxy: the header is the client's own words, ignored.
    let g = fixture().await;
    let direct = send(
        &g.router,
        through("198.51.100.7", "admin1", "a long enough password"),
    )
    .await;
    assert!(
        !direct.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
    let log = call(
        &g,
        Method::GET,
        "/api/v1/audit?kind=account&limit=1",
        &g.admin,
        None,
    )
    .await;
    assert_eq!(log.body["items"][0]["from"], "192.0.2.50");
}

#[tokio::test]
async fn every_page_sends_a_caller_without_a_session_to_the_login_and_back() {
    let f = fixture().await;
    for page in [
        "/ui/",
        "/ui/devices?q=4401",
        "/ui/devices/new",
        "/ui/devices/SEP001122334401",
        "/ui/import",
        "/ui/files",
        "/ui/audit",
        "/ui/accounts",
        "/ui/objects/pools",
        "/ui/objects/params",
        "/ui/objects/pools/Default",
    ] {
        let answer = send(&f.router, request(Method::GET, page, None, None)).await;
        assert!(answer.status.is_redirection(), "{page}: {}", answer.status);
        let to = answer.headers[header::LOCATION].to_str().unwrap();
        let path = page.split('?').next().unwrap();
        assert!(
            to.starts_with("/ui/login?next=") && to.contains(path),
            "{page}: {to}"
        );
    }
    // The login page itself needs no session.
    let login = send(&f.router, request(Method::GET, "/ui/login", None, None)).await;
    assert_eq!(login.status, StatusCode::OK);
}
