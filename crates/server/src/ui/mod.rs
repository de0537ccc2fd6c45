//! The web UI at `/ui/` on the admin listener, served from the binary: pages rendered by the
//! server (maud: every value escaped), and one small script (`app.js`) that sends every change
//! through the JSON API with the session's CSRF token — so the UI obeys exactly the rules of
//! the API and the CLI, and shows each refusal next to the field it names.
//!
//! Pages: the dashboard (live counters, recent changes), the devices (search, paging), a
//! device (fields, lines, the file the phone gets, whether it has taken it, Extension
//! Mobility), every other object kind and the parameters (as JSON), the import with its
//! preview, custom files, the audit log, and the accounts (admins).

// A page that cannot be shown is answered with a whole response (the login page, an error
// page), once per request: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use phoneboot_model::{Kind, MASK, Object};
use serde_json::Value;

use crate::accounts::Role;
use crate::api::auth::{Principal, authenticate_page};
use crate::api::objects::{ListQuery, page};
use crate::api::{Api, collection, segment as seg};

const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

/// The UI's routes (with the API's state: the same sessions and database).
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route(
            "/ui/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    SCRIPT,
                )
            }),
        )
        .route(
            "/ui/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }),
        )
        .route("/ui/login", get(login))
        .route("/ui/", get(dashboard))
        .route("/ui/devices", get(devices))
        .route("/ui/devices/new", get(new_device))
        .route("/ui/devices/{name}", get(device))
        .route("/ui/import", get(import))
        .route("/ui/files", get(files))
        .route("/ui/audit", get(audit))
        .route("/ui/accounts", get(accounts))
        .route("/ui/objects/{slug}", get(objects))
        .route("/ui/objects/{slug}/{name}", get(object))
        .layer(middleware::map_response(secure_headers))
        .layer(middleware::from_fn_with_state(
            api.clone(),
            authenticate_page,
        ))
        .with_state(api)
}

/// Pages are not framed by others, scripts come from here only.
async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A page for a signed-in account, or the way to the login page.
type Page = Result<Html<String>, Response>;

fn to_login(uri: &Uri) -> Response {
    let next = uri.path_and_query().map_or("/ui/", |p| p.as_str());
    let next: String = next.split('/').map(seg).collect::<Vec<_>>().join("/");
    Redirect::to(&format!("/ui/login?next={next}")).into_response()
}

/// The account a page is shown to; without one, the page is the login form, which comes
/// back to the page asked for.
struct SignedIn(Principal);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(principal) => Ok(Self(principal.clone())),
            None => Err(to_login(&parts.uri)),
        }
    }
}

fn problem_page(status: StatusCode, detail: &str) -> Response {
    (status, Html(html! { (DOCTYPE) html lang="en" { head { meta charset="utf-8"; title { "phoneboot" } link rel="stylesheet" href="/ui/style.css"; } body { main { h1 { (status) } p.error { (detail) } p { a href="/ui/" { "Back to the dashboard" } } } } } }.into_string())).into_response()
}

/// The database, or the page that says there is none.
fn database(api: &Api) -> Result<crate::db::Database, Response> {
    api.database().map_err(IntoResponse::into_response)
}

/// A page saying the database did not answer.
#[allow(clippy::needless_pass_by_value)] // used as `map_err(unavailable)`
fn unavailable(e: impl std::fmt::Display) -> Response {
    problem_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
}

/// The session's CSRF token, for the page's script.
async fn csrf(api: &Api, principal: &Principal) -> String {
    let (Some(digest), Some(db)) = (&principal.session, api.admin.database.get()) else {
        return String::new();
    };
    db.store()
        .credential(digest)
        .await
        .ok()
        .flatten()
        .and_then(|(c, _)| c.csrf)
        .unwrap_or_default()
}

const SECTIONS: [(&str, &str); 7] = [
    ("/ui/", "Dashboard"),
    ("/ui/devices", "Devices"),
    ("/ui/objects/pools", "Other objects"),
    ("/ui/import", "Import"),
    ("/ui/files", "Files"),
    ("/ui/audit", "Audit log"),
    ("/ui/accounts", "Accounts"),
];

async fn layout(
    api: &Api,
    principal: &Principal,
    current: &str,
    title: &str,
    body: Markup,
) -> Html<String> {
    let csrf = csrf(api, principal).await;
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="csrf" content=(csrf);
                    title { (title) " — phoneboot" }
                    link rel="stylesheet" href="/ui/style.css";
                    script src="/ui/app.js" defer {}
                }
                body {
                    a.skip href="#main" { "Skip to the content" }
                    header {
                        strong { "phoneboot" }
                        nav aria-label="Sections" {
                            @for (href, name) in SECTIONS {
                                @if href != "/ui/accounts" || principal.role == Role::Admin {
                                    a href=(href) aria-current=[(href == current).then_some("page")] { (name) }
                                }
                            }
                        }
                        span.muted { (principal.account) " (" (principal.role) ")" }
                        button.secondary type="button" data-action="logout" { "Log out" }
                    }
                    main id="main" { h1 { (title) } (body) }
                }
            }
        }
        .into_string(),
    )
}

async fn login() -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "Log in — phoneboot" }
                    link rel="stylesheet" href="/ui/style.css";
                    script src="/ui/app.js" defer {}
                }
                body {
                    main id="main" {
                        h1 { "phoneboot: log in" }
                        form id="login" {
                            label for="name" { "Name" }
                            input id="name" name="name" autocomplete="username" required autofocus;
                            label for="password" { "Password" }
                            input id="password" name="password" type="password" autocomplete="current-password" required;
                            p.form-error.error role="alert" {}
                            button type="submit" { "Log in" }
                        }
                    }
                }
            }
        }
        .into_string(),
    )
}

async fn dashboard(State(api): State<Api>, SignedIn(principal): SignedIn) -> Page {
    let recent = match api.admin.database.get() {
        Some(db) => db
            .store()
            .audit(&phoneboot_store::AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let body = html! {
        section id="dashboard" aria-label="Live counters" {
            div.grid {
                div.card { div.n id="rate" { "…" } div { "requests per second" } }
                div.card { div.n id="processed" { "…" } div { "files served" } }
                div.card { div.n id="notfound" { "…" } div { "not found" } }
                div.card { div.n id="busy" { "…" } div { "busy answers" } }
                div.card { div.n id="progress" { "…" } div { "in progress" } }
                div.card { div.n id="build" { "…" } div { "build served" } }
            }
        }
        h2 { "Recent changes" }
        (audit_table(&recent))
        p { a href="/ui/audit" { "The whole audit log" } }
    };
    Ok(layout(&api, &principal, "/ui/", "Dashboard", body).await)
}

fn when(at: i64) -> String {
    httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(at).unwrap_or(0)),
    )
}

fn audit_table(entries: &[phoneboot_store::AuditEntry]) -> Markup {
    html! {
        div.scroll {
            table {
                thead { tr { th { "When" } th { "Who" } th.wide { "From" } th { "What" } th { "Object" } } }
                tbody {
                    @for e in entries {
                        tr {
                            td { (when(e.at)) }
                            td { (if e.who.is_empty() { "?" } else { &e.who }) }
                            td.wide { (e.origin) }
                            td { (e.action) }
                            td {
                                @if e.kind == "device" && e.action == "put" {
                                    a href={ "/ui/devices/" (seg(&e.key)) } { (e.kind) " " (e.key) }
                                } @else { (e.kind) " " (e.key) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct Search {
    q: Option<String>,
    cursor: Option<String>,
}

async fn devices(
    State(api): State<Api>,
    SignedIn(principal): SignedIn,
    Query(search): Query<Search>,
) -> Page {
    let db = database(&api)?;
    let query = ListQuery {
        q: search.q.clone().filter(|q| !q.is_empty()),
        cursor: search.cursor.clone(),
        limit: Some(50),
        ..ListQuery::default()
    };
    let (items, next) = page(&api, &db, Kind::Device, &query, false)
        .await
        .map_err(|p| p.into_response())?;
    let q = search.q.unwrap_or_default();
    let body = html! {
        form method="get" action="/ui/devices" role="search" {
            label for="q" { "Search by MAC, name, directory number or description" }
            input id="q" name="q" type="search" value=(q);
            " " button type="submit" { "Search" }
            @if principal.role.may(crate::accounts::Access::Write(Kind::Device)) {
                " " a href="/ui/devices/new" { "Add a device" }
            }
        }
        div.scroll {
            table {
                thead { tr { th { "Name" } th { "Model" } th.wide { "Description" } th { "Lines" } th.wide { "Pool" } } }
                tbody {
                    @for item in &items {
                        @let f = &item["fields"];
                        tr {
                            td { a href={ "/ui/devices/" (seg(item["name"].as_str().unwrap_or_default())) } { (item["name"].as_str().unwrap_or_default()) } }
                            td { (f["model"].as_str().unwrap_or_default()) " " (f["protocol"].as_str().unwrap_or_default()) }
                            td.wide { (f["description"].as_str().unwrap_or_default()) }
                            td { (f["lines"].as_array().map(|l| l.iter().filter_map(|l| l["dn"].as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                            td.wide { (f["pool"].as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        @if items.is_empty() { p.muted { "No device matches." } }
        @if let Some(next) = next {
            p { a rel="next" href={ "/ui/devices?q=" (seg(&q)) "&cursor=" (seg(&next)) } { "Next page" } }
        }
    };
    Ok(layout(&api, &principal, "/ui/devices", "Devices", body).await)
}

/// A table of a device form's list (`lines`, `speed_dials`): one row of inputs per item,
/// named `list.N.field` as the script turns them into JSON, and a template row for "Add".
fn rows_table(
    list: &str,
    legend: &str,
    columns: &[(&str, &str, &str)],
    items: &[Value],
    add: &str,
) -> Markup {
    let row = |i: &str, item: &Value| {
        html! {
            tr {
                @for (field, kind, label) in columns {
                    @let name = format!("{list}.{i}.{field}");
                    td { input name=(name) id=(name) type=(kind) value=(item[*field].as_str().unwrap_or_default()) aria-label=(label) data-optional; }
                }
                td { button.secondary type="button" data-action="remove-line" { "Remove" } }
            }
        }
    };
    html! {
        fieldset data-list-name=(list) {
            legend { (legend) }
            div.scroll {
                table id=(list) {
                    thead { tr { @for (_, _, label) in columns { th { (label) } } th {} } }
                    tbody { @for (i, item) in items.iter().enumerate() { (row(&i.to_string(), item)) } }
                }
            }
            template id={ (list) "-template" } { (row("$", &Value::Null)) }
            button.secondary type="button" data-action="add-line" data-list=(list) { (add) }
        }
    }
}

/// The lines and speed dials of a device form.
fn lines_table(fields: &Value) -> Markup {
    let list = |name: &str| fields[name].as_array().cloned().unwrap_or_default();
    html! {
        (rows_table("lines", "Lines", &[
            ("dn", "text", "DN"),
            ("label", "text", "Label"),
            ("display_name", "text", "Display name"),
            ("auth_name", "text", "SIP user"),
            ("auth_password", "password", "SIP password"),
            ("voicemail", "text", "Voicemail"),
        ], &list("lines"), "Add a line"))
        (rows_table("speed_dials", "Speed dials", &[
            ("number", "text", "Number"),
            ("label", "text", "Label"),
        ], &list("speed_dials"), "Add a speed dial"))
    }
}

/// The device fields every form has.
fn device_fields(fields: &Value, pools: &[String], models: &[String]) -> Markup {
    let text = |f: &str| fields[f].as_str().unwrap_or_default().to_owned();
    html! {
        label for="model" { "Model" }
        select id="model" name="model" {
            @for m in models { option value=(m) selected[*m == text("model")] { (m) } }
        }
        label for="protocol" { "Protocol" }
        select id="protocol" name="protocol" data-optional {
            option value="" { "the model's default" }
            @for p in ["SCCP", "SIP"] { option value=(p) selected[p == text("protocol")] { (p) } }
        }
        label for="pool" { "Device pool" }
        select id="pool" name="pool" {
            @for p in pools { option value=(p) selected[*p == text("pool")] { (p) } }
        }
        label for="description" { "Description" }
        input id="description" name="description" value=(text("description"));
    }
}

async fn choices(api: &Api) -> Result<(Vec<String>, Vec<String>), Response> {
    let db = database(api)?;
    let pools = db
        .list(Kind::DevicePool)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|s| s.object.key().to_owned())
        .collect();
    let models = db.catalogue().iter().map(|m| m.name.clone()).collect();
    Ok((pools, models))
}

async fn new_device(State(api): State<Api>, SignedIn(principal): SignedIn) -> Page {
    let (pools, models) = choices(&api).await?;
    let body = html! {
        form data-api="/api/v1/devices" data-method="POST" data-next="location" {
            label for="name" { "MAC address (or a soft client's name)" }
            input id="name" name="name" data-field="mac name" required autofocus placeholder="00:11:22:33:44:55";
            (device_fields(&Value::Null, &pools, &models))
            (lines_table(&Value::Null))
            p.form-error.error role="alert" {}
            button type="submit" { "Save" }
        }
    };
    Ok(layout(&api, &principal, "/ui/devices", "Add a device", body).await)
}

async fn device(
    State(api): State<Api>,
    SignedIn(principal): SignedIn,
    Path(name): Path<String>,
) -> Page {
    let db = database(&api)?;
    let stored = db
        .get(Kind::Device, &name)
        .await
        .map_err(|e| problem_page(StatusCode::NOT_FOUND, &e.to_string()))?;
    let Object::Device(d) = stored.object.clone() else {
        return Err(problem_page(StatusCode::NOT_FOUND, "not a device"));
    };
    let mut masked = stored.object.clone();
    masked.mask_secrets(MASK);
    let fields = serde_json::to_value(&masked).unwrap_or(Value::Null);
    let (pools, models) = choices(&api).await?;
    let key = d.name.clone();
    // The file the phone gets now, as the TFTP side serves it: exact for an admin, its
    // secrets masked for anyone else.
    let snapshot = match &api.admin.built {
        Some(built) => Some(built.current().snapshot.clone()),
        None => db.snapshot().await.ok().map(|(s, _)| s),
    };
    let exact = principal.role == Role::Admin;
    let preview = snapshot.and_then(|s| {
        let file = phoneboot_render::device_files(&s, &d).into_iter().next()?;
        let name = file.to_string();
        let s = if exact {
            s
        } else {
            crate::api::tools::masked(&s, &file)
        };
        let bytes = phoneboot_render::render(&s, &file).ok().flatten()?;
        Some((name, String::from_utf8_lossy(&bytes).into_owned()))
    });
    // Where this phone stands against the generation this node serves (the device as served:
    // a change not yet taken in by this node is not yet what a phone can fetch).
    let fetched = api.admin.built.as_ref().and_then(|built| {
        let generation = built.current();
        let served = generation.snapshot.devices.get(&key)?;
        Some(api.admin.fetches.of(&generation.snapshot, served))
    });
    let users: Vec<String> = db
        .list(Kind::User)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.object.key().to_owned())
        .collect();
    let etag = format!("\"{}\"", stored.version);
    let body = html! {
        p.muted { "MAC " (d.mac) " · version " (stored.version) }
        section aria-label="Has the phone taken the change" {
            @match &fetched {
                Some(f) => {
                    @let state = serde_json::to_value(f.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                    p { "Configuration: " span id="fetch-state" class={ "state-" (state) } { (state) }
                        @if let Some(last) = &f.last { " — last fetched " (last.file) " from " (last.client) " over " (last.transport) } }
                }
                None => p.muted { "Whether the phone has its configuration is known on a node that serves it." },
            }
        }
        form data-api={ "/api/v1/devices/" (seg(&key)) } data-method="PATCH" data-etag=(etag) {
            (device_fields(&fields, &pools, &models))
            (lines_table(&fields))
            p.form-error.error role="alert" {}
            button type="submit" { "Save" }
            " "
            button.secondary type="button" data-action="call" data-method="DELETE" data-url={ "/api/v1/devices/" (seg(&key)) } data-etag=(etag) data-next="/ui/devices" { "Remove" }
        }
        h2 { "Extension Mobility" }
        form {
            @match &d.em_user {
                Some(user) => {
                    p { "Logged in: " strong { (user) } }
                    button type="button" data-action="call" data-url={ "/api/v1/devices/" (seg(&key)) "/logout" } { "Log out" }
                }
                None => {
                    label for="em-user" { "Log a user in" }
                    select id="em-user" name="em_user" {
                        @for u in &users { option value=(u) { (u) } }
                    }
                    " "
                    button type="button" data-action="call" data-url={ "/api/v1/devices/" (seg(&key)) "/login" } data-body-from="#em-user" data-body-field="user" id="em-login" { "Log in" }
                    p.form-error.error role="alert" {}
                }
            }
        }
        @if let Some((name, text)) = preview {
            h2 { "The file the phone gets: " code { (name) } }
            pre id="preview" { (text) }
        }
    };
    Ok(layout(&api, &principal, "/ui/devices", &key, body).await)
}

async fn import(State(api): State<Api>, SignedIn(principal): SignedIn) -> Page {
    let body = html! {
        @if principal.role != Role::Admin { p.error { "Importing needs the admin role." } }
        form id="import" {
            label for="file" { "A CSV of devices (the export's format) or a TOML export" }
            input id="file" type="file" accept=".csv,.toml,text/csv";
            label for="csv" { "or paste it" }
            textarea id="csv" name="csv" rows="10" {}
            label { input type="checkbox" name="replace"; " Replace devices that exist" }
            p.form-error.error role="alert" {}
            button type="submit" { "Preview" }
            " "
            button.secondary type="button" id="apply" disabled { "Apply" }
        }
        div id="import-result" aria-live="polite" {}
    };
    Ok(layout(&api, &principal, "/ui/import", "Import", body).await)
}

async fn files(State(api): State<Api>, SignedIn(principal): SignedIn) -> Page {
    let db = database(&api)?;
    let (stored, _) = db.store().files().await.map_err(unavailable)?;
    let body = html! {
        form id="upload" {
            label for="upload-file" { "File" }
            input id="upload-file" type="file" required;
            label for="upload-name" { "Store as (a path, as Ringtones/Chime.raw; default: the file's name)" }
            input id="upload-name" name="name";
            p { progress value="0" max="1" aria-label="Upload progress" {} }
            p.form-error.error role="alert" {}
            button type="submit" { "Upload" }
        }
        div.scroll {
            table {
                thead { tr { th { "Name" } th { "Size" } th.wide { "Stored" } th {} } }
                tbody {
                    @for f in &stored {
                        tr {
                            td { (f.name) } td { (f.size) } td.wide { (when(f.at)) }
                            td { button.secondary type="button" data-action="call" data-method="DELETE" data-url={ "/api/v1/files/" (f.name.split('/').map(seg).collect::<Vec<_>>().join("/")) } { "Remove" } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(&api, &principal, "/ui/files", "Custom files", body).await)
}

async fn audit(State(api): State<Api>, SignedIn(principal): SignedIn) -> Page {
    let db = database(&api)?;
    let entries = db
        .store()
        .audit(&phoneboot_store::AuditQuery {
            limit: 200,
            ..Default::default()
        })
        .await
        .map_err(unavailable)?;
    let body = html! { (audit_table(&entries)) p.muted { "The 200 newest entries; GET /api/v1/audit pages through all of them, with before and after." } };
    Ok(layout(&api, &principal, "/ui/audit", "Audit log", body).await)
}

async fn accounts(State(api): State<Api>, SignedIn(principal): SignedIn) -> Page {
    if principal.role != Role::Admin {
        return Err(problem_page(
            StatusCode::FORBIDDEN,
            "accounts are managed by admins",
        ));
    }
    let db = database(&api)?;
    let all = db.store().accounts().await.map_err(unavailable)?;
    let body = html! {
        div.scroll {
            table {
                thead { tr { th { "Name" } th { "Role" } th {} } }
                tbody {
                    @for a in &all {
                        tr { td { (a.name) } td { (crate::accounts::role_of(a)) }
                             td { button.secondary type="button" data-action="call" data-method="DELETE" data-url={ "/api/v1/accounts/" (seg(&a.name)) } { "Remove" } } }
                    }
                }
            }
        }
        h2 { "Add an account" }
        form data-api="/api/v1/accounts" data-method="POST" {
            label for="a-name" { "Name" } input id="a-name" name="name" required;
            label for="a-role" { "Role" }
            select id="a-role" name="role" { @for r in Role::ALL { option value=(r.as_str()) { (r) } } }
            label for="a-password" { "Password (at least " (crate::accounts::PASSWORD_MIN) " characters)" }
            input id="a-password" name="password" type="password" autocomplete="new-password" required;
            p.form-error.error role="alert" {}
            button type="submit" { "Add" }
        }
    };
    Ok(layout(&api, &principal, "/ui/accounts", "Accounts", body).await)
}

fn kind_of(slug: &str) -> Option<Kind> {
    Kind::ALL
        .into_iter()
        .find(|k| collection(*k) == slug && *k != Kind::Device)
}

async fn objects(
    State(api): State<Api>,
    SignedIn(principal): SignedIn,
    Path(slug): Path<String>,
) -> Page {
    let kind = kind_of(&slug)
        .ok_or_else(|| problem_page(StatusCode::NOT_FOUND, "no such kind of object"))?;
    if kind == Kind::Params {
        return object(State(api), SignedIn(principal), Path((slug, String::new()))).await;
    }
    let db = database(&api)?;
    let query = ListQuery {
        limit: Some(1000),
        ..ListQuery::default()
    };
    let (items, _) = page(&api, &db, kind, &query, false)
        .await
        .map_err(|p| p.into_response())?;
    let body = html! {
        nav aria-label="Kinds" {
            @for k in Kind::ALL.into_iter().filter(|k| *k != Kind::Device) {
                a href={ "/ui/objects/" (collection(k)) } aria-current=[(k == kind).then_some("page")] { (collection(k)) }
            }
        }
        ul { @for item in &items { li { a href={ "/ui/objects/" (slug) "/" (seg(item["name"].as_str().unwrap_or_default())) } { (item["name"].as_str().unwrap_or_default()) } } } }
        @if items.is_empty() { p.muted { "None yet." } }
        h2 { "Add one" }
        form data-api={ "/api/v1/" (slug) } data-method="POST" data-json data-next={ "/ui/objects/" (slug) } {
            label for="new-json" { "Its fields, as JSON, with its " (crate::db::key_field(kind)) }
            textarea id="new-json" rows="8" { "{\n  \"" (crate::db::key_field(kind)) "\": \"\"\n}" }
            p.form-error.error role="alert" {}
            button type="submit" { "Add" }
        }
    };
    Ok(layout(
        &api,
        &principal,
        "/ui/objects/pools",
        &format!("Objects: {slug}"),
        body,
    )
    .await)
}

async fn object(
    State(api): State<Api>,
    SignedIn(principal): SignedIn,
    Path((slug, name)): Path<(String, String)>,
) -> Page {
    let kind = kind_of(&slug)
        .ok_or_else(|| problem_page(StatusCode::NOT_FOUND, "no such kind of object"))?;
    let db = database(&api)?;
    let stored = db
        .get(kind, &name)
        .await
        .map_err(|e| problem_page(StatusCode::NOT_FOUND, &e.to_string()))?;
    let mut masked = stored.object.clone();
    masked.mask_secrets(MASK);
    let json = serde_json::to_string_pretty(&masked).unwrap_or_default();
    let url = if kind == Kind::Params {
        "/api/v1/params".to_owned()
    } else {
        format!("/api/v1/{slug}/{}", seg(stored.object.key()))
    };
    let title = if kind == Kind::Params {
        "Parameters".to_owned()
    } else {
        format!("{kind} {}", stored.object.key())
    };
    let body = html! {
        p.muted { "version " (stored.version) }
        form data-api=(url) data-method="PATCH" data-json data-etag={ "\"" (stored.version) "\"" } {
            label for="json" { "Fields (JSON; a secret shown as " (MASK) " stays as it is)" }
            textarea id="json" rows="20" { (json) }
            p.form-error.error role="alert" {}
            button type="submit" { "Save" }
            @if kind != Kind::Params {
                " "
                button.secondary type="button" data-action="call" data-method="DELETE" data-url=(url) data-next={ "/ui/objects/" (slug) } { "Remove" }
            }
        }
    };
    Ok(layout(&api, &principal, "/ui/objects/pools", &title, body).await)
}
