//! The routes beside the objects: the exact file a phone gets for a name, the build check,
//! the counters, which phones have taken their configuration, the audit log, the change feed
//! as Server-Sent Events, export and the two-step CSV/TOML import, and custom files.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use phoneboot_model::{Kind, MASK, Object};
use phoneboot_store::{AuditEntry, AuditQuery, Event, Mode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::body::{FILE_MAX, IMPORT_MAX, Query, Raw};
use super::problem::{ApiResult, Problem};
use super::{Api, PREFIX, Route};
use crate::accounts::{Access, Role};
use crate::db::exchange::{Format, ImportError};

/// The file a phone asking for `path` gets now from this node: built from the generation it
/// serves (not a file of the TFTP roots). Exact for an admin; for anyone else with the
/// secrets it holds (SIP passwords, the SSH password) masked.
async fn render(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    let snapshot = match &api.admin.built {
        Some(built) => built.current().snapshot.clone(),
        None => {
            let db = api.database()?;
            db.snapshot()
                .await
                .map_err(|e| Problem::internal(e.to_string()))?
                .0
        }
    };
    let name = path.clone();
    let exact = principal.role == Role::Admin;
    let rendered = tokio::task::spawn_blocking(move || {
        let built = phoneboot_render::resolve(&snapshot, &name)?;
        let snapshot = if exact {
            snapshot
        } else {
            masked(&snapshot, &built)
        };
        phoneboot_render::render(&snapshot, &built).transpose()
    })
    .await
    .map_err(|e| Problem::internal(e.to_string()))?;
    match rendered {
        None => Err(Problem::not_found(format!(
            "{path:?} is not a file the database builds (a file of the TFTP roots or a custom \
             file is served as it is stored)"
        ))),
        Some(Err(e)) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "build-failed",
            "The file cannot be built",
            format!("{path}: {e}"),
        )),
        Some(Ok(bytes)) => {
            let xml = path.to_ascii_lowercase().ends_with(".xml");
            let kind = if xml {
                "application/xml"
            } else {
                "text/plain; charset=utf-8"
            };
            Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
        }
    }
}

/// `snapshot` with the secrets `file` would carry masked: its device's, the user logged in
/// on it, and the parameters'.
pub(crate) fn masked(
    snapshot: &phoneboot_model::Snapshot,
    file: &phoneboot_render::Built,
) -> phoneboot_model::Snapshot {
    use phoneboot_render::Built;
    let mut s = snapshot.clone();
    let device = match file {
        Built::SepXml(mac) | Built::SepCnf(mac) | Built::SipCnf(mac) | Built::Profile(_, mac) => {
            s.device_by_mac(*mac).cloned()
        }
        Built::DeviceXml(name) | Built::TabletXml(name) => s.devices.get(name).cloned(),
        _ => None,
    };
    let hide = |mut object: Object, s: &mut phoneboot_model::Snapshot| {
        object.mask_secrets(MASK);
        s.put(object);
    };
    if let Some(device) = device {
        if let Some(user) = device
            .em_user
            .as_deref()
            .and_then(|u| s.users.get(u))
            .cloned()
        {
            hide(Object::User(user), &mut s);
        }
        hide(Object::Device(device), &mut s);
    }
    hide(Object::Params((*s.params).clone()), &mut s);
    s
}

/// Every object against every rule of this version (what `phoneboot db check` says).
async fn check(State(api): State<Api>) -> ApiResult<axum::Json<Value>> {
    let db = api.database()?;
    let problems = db
        .check()
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    Ok(axum::Json(
        json!({ "sound": problems.is_empty(), "problems": problems }),
    ))
}

async fn counters(State(api): State<Api>) -> axum::Json<Value> {
    let map: serde_json::Map<String, Value> = api
        .admin
        .counters
        .named()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), json!(value)))
        .collect();
    axum::Json(Value::Object(map))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchedQuery {
    state: Option<String>,
}

async fn fetched(
    State(api): State<Api>,
    Query(q): Query<FetchedQuery>,
) -> ApiResult<axum::Json<Value>> {
    match crate::admin::fetch_report(&api.admin, q.state.as_deref()).await {
        Ok(report) => Ok(axum::Json(json!({ "items": report }))),
        Err((StatusCode::BAD_REQUEST, detail)) => Err(Problem::bad_request("state", detail)),
        Err((_, detail)) => Err(Problem::not_found(detail)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    kind: Option<String>,
    name: Option<String>,
    who: Option<String>,
    cursor: Option<i64>,
    limit: Option<u32>,
    secrets: Option<bool>,
}

/// An entry as shown: an object's secrets masked unless an admin asks for them.
fn entry(e: &AuditEntry, secrets: bool) -> Value {
    let show = |body: Option<String>| -> Value {
        let Some(body) = body else { return Value::Null };
        let object = e
            .kind
            .parse::<Kind>()
            .ok()
            .and_then(|k| Object::from_json(k, &body).ok());
        match object {
            Some(mut object) => {
                if !secrets {
                    object.mask_secrets(MASK);
                }
                serde_json::to_value(&object).unwrap_or(Value::Null)
            }
            // Not an object this version reads (an account, a file, a row of an older
            // version): shown only to those who may see secrets, since it may hold some.
            None if secrets || matches!(e.kind.as_str(), "account" | "file") => {
                serde_json::from_str(&body).unwrap_or(Value::String(body))
            }
            None => Value::String("(not shown: written by another version)".into()),
        }
    };
    json!({
        "id": e.id,
        "at": e.at,
        "who": e.who,
        "from": e.origin,
        "action": e.action,
        "kind": e.kind,
        "name": e.key,
        "version": e.version,
        "before": show(e.before.clone()),
        "after": show(e.after.clone()),
    })
}

async fn audit(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Query(q): Query<AuditParams>,
) -> ApiResult<axum::Json<Value>> {
    let db = api.database()?;
    if q.secrets == Some(true) && principal.role != Role::Admin {
        return Err(Problem::forbidden(
            "only an admin may see secrets (SIP passwords)",
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=phoneboot_store::AUDIT_PAGE_MAX).contains(&limit) {
        return Err(Problem::bad_request(
            "limit",
            format!(
                "limit: {limit} is not within 1 to {}",
                phoneboot_store::AUDIT_PAGE_MAX
            ),
        ));
    }
    let query = AuditQuery {
        below: q.cursor,
        kind: q.kind,
        key: q.name,
        who: q.who,
        limit,
    };
    let entries = db
        .store()
        .audit(&query)
        .await
        .map_err(|e| Problem::store(&e))?;
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let secrets = q.secrets == Some(true);
    let items: Vec<Value> = entries.iter().map(|e| entry(e, secrets)).collect();
    Ok(axum::Json(json!({ "items": items, "next": next })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangesQuery {
    since: Option<i64>,
}

/// How often a change stream checks that its token or session still stands.
const CREDENTIAL_CHECK: Duration = Duration::from_secs(5);

/// Changes read per step of the stream.
const CHANGES_BATCH: u32 = 500;

/// The change feed as Server-Sent Events: one `change` event per step committed after
/// `since` (or the `Last-Event-ID` a reconnecting browser sends), by any writer on any node.
async fn changes(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    headers: HeaderMap,
    Query(q): Query<ChangesQuery>,
) -> ApiResult<Response> {
    let db = api.database()?;
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let store = db.store().clone();
    let since = match resumed.or(q.since) {
        Some(v) => v,
        None => store.head().await.map_err(|e| Problem::store(&e))?,
    };
    let wake = store.wake();
    // The stream checks its secret still stands every few seconds: a logout, a revoked token
    // or a removed account ends it.
    let state = (
        store,
        wake,
        since,
        std::collections::VecDeque::new(),
        (principal.credential, tokio::time::Instant::now()),
    );
    let stream = futures_util::stream::unfold(
        state,
        |(store, mut wake, mut at, mut queue, (credential, mut checked))| async move {
            loop {
                // Busy or idle, the secret is checked every few seconds.
                if checked.elapsed() >= CREDENTIAL_CHECK {
                    if matches!(store.credential(&credential).await, Ok(None)) {
                        return None;
                    }
                    checked = tokio::time::Instant::now();
                }
                if let Some(change) = queue.pop_front() {
                    let change: phoneboot_store::Change = change;
                    at = change.version;
                    let data = json!({
                        "version": change.version,
                        "kind": change.kind.as_str(),
                        "name": change.key,
                        "op": match change.op {
                            phoneboot_store::Op::Put => "put",
                            phoneboot_store::Op::Delete => "delete",
                        },
                        "at": change.at,
                    });
                    let event = SseEvent::default()
                        .event("change")
                        .id(change.version.to_string())
                        .data(data.to_string());
                    return Some((
                        Ok::<_, Infallible>(event),
                        (store, wake, at, queue, (credential, checked)),
                    ));
                }
                match store.changes_since(at, CHANGES_BATCH).await {
                    Ok(batch) if !batch.is_empty() => queue.extend(batch),
                    // Nothing new, or the database does not answer now: wait for a hint or the
                    // slow timer, then read again.
                    _ => {
                        let _ = tokio::time::timeout(CREDENTIAL_CHECK, wake.changed()).await;
                        if matches!(store.credential(&credential).await, Ok(None)) {
                            return None;
                        }
                        checked = tokio::time::Instant::now();
                    }
                }
            }
        },
    );
    // The stream ends when the server stops, so that shutdown does not wait for browsers.
    let stream =
        futures_util::StreamExt::take_until(stream, api.admin.stop.clone().cancelled_owned());
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: Option<String>,
    secrets: Option<bool>,
}

async fn export(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let db = api.database()?;
    let secrets = q.secrets.unwrap_or(false);
    if secrets && principal.role != Role::Admin {
        return Err(Problem::forbidden("only an admin may export the secrets"));
    }
    let (format, kind, file) = match q.format.as_deref().unwrap_or("toml") {
        "toml" => (Format::Document, "application/toml", "phoneboot.toml"),
        "csv" => (Format::Csv, "text/csv; charset=utf-8", "devices.csv"),
        other => {
            return Err(Problem::bad_request(
                "format",
                format!("format: {other:?} is neither toml (everything) nor csv (devices)"),
            ));
        }
    };
    let bytes = db
        .export(format, secrets)
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    let disposition = format!("attachment; filename=\"{file}\"");
    let mut response = ([(header::CONTENT_TYPE, kind)], bytes).into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// true (the default): check and report, write nothing.
    dry_run: Option<bool>,
    /// Replace objects that exist (else they are refused).
    replace: Option<bool>,
}

/// An import: as a dry run (the default), what every row would do; applied, all of it or
/// nothing. The dry run makes every check and step the real one does, then rolls back.
async fn import(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Query(q): Query<ImportQuery>,
    Raw(body): Raw<IMPORT_MAX>,
) -> ApiResult<axum::Json<Value>> {
    let db = api.database()?.by(principal.actor());
    let dry_run = q.dry_run.unwrap_or(true);
    let mode = if dry_run { Mode::DryRun } else { Mode::Commit };
    let result = db.import(&body, q.replace.unwrap_or(false), mode).await;
    match result {
        Ok(done) => Ok(axum::Json(json!({
            "dry_run": dry_run,
            "format": match done.format { Format::Csv => "csv", Format::Document => "toml" },
            "added": done.added,
            "replaced": done.replaced,
            "version": done.version,
            "rows": done.rows.iter().map(|r| json!({
                "line": r.line,
                "kind": r.kind.as_str(),
                "name": r.name,
                "change": r.change.as_str(),
            })).collect::<Vec<_>>(),
        }))),
        Err(ImportError { problems, more }) => {
            let first = problems
                .first()
                .map(|p| p.column.clone())
                .unwrap_or_default();
            Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "import-refused",
                "The import is refused; nothing was written",
                format!(
                    "{} problem(s): {}",
                    problems.len() + more,
                    problems
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            )
            .field(first)
            .with(
                "problems",
                problems
                    .iter()
                    .map(|p| json!({ "line": p.line, "column": p.column, "reason": p.reason }))
                    .collect::<Vec<_>>(),
            )
            .with("more", more))
        }
    }
}

/// The custom files stored in the database (served by every node).
async fn list_files(State(api): State<Api>) -> ApiResult<axum::Json<Value>> {
    let db = api.database()?;
    let (files, _) = db.store().files().await.map_err(|e| Problem::store(&e))?;
    let items: Vec<Value> = files
        .iter()
        .map(|f| json!({ "name": f.name, "size": f.size, "sha256": f.digest, "at": f.at }))
        .collect();
    Ok(axum::Json(json!({ "items": items })))
}

/// A custom file's name as the TFTP side takes it: relative, `/`-separated, no `..`.
fn file_name(path: &str) -> ApiResult<String> {
    let name = phoneboot_source::FileName::parse(path.as_bytes())
        .map_err(|e| Problem::invalid("name", format!("name: {path:?}: {e}")))?;
    if name.base().is_empty() {
        return Err(Problem::invalid(
            "name",
            "name: give the file's path, as Ringtones/Chime.raw",
        ));
    }
    Ok(name.display())
}

async fn put_file(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Path(path): Path<String>,
    Raw(body): Raw<FILE_MAX>,
) -> ApiResult<Response> {
    let db = api.database()?;
    let name = file_name(&path)?;
    let stored = db
        .store()
        .put_file(&name, &body, None)
        .await
        .map_err(|e| match e {
            phoneboot_store::StoreError::TooLarge { .. } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "The file is too large",
                e.to_string(),
            ),
            e => Problem::store(&e),
        })?;
    record(&api, &principal, "file", &stored.name).await?;
    let body = json!({ "name": stored.name, "size": stored.size, "sha256": stored.digest, "at": stored.at });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn remove_file(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Path(path): Path<String>,
) -> ApiResult<StatusCode> {
    let db = api.database()?;
    let name = file_name(&path)?;
    match db
        .store()
        .remove_file(&name)
        .await
        .map_err(|e| Problem::store(&e))?
    {
        Some(gone) => {
            record(&api, &principal, "file-delete", &gone.name).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(Problem::not_found(format!("no custom file {name:?}"))),
    }
}

/// Logs a change of a custom file.
async fn record(
    api: &Api,
    principal: &Principal,
    action: &'static str,
    name: &str,
) -> ApiResult<()> {
    let db = api.database()?;
    db.store()
        .record(&Event {
            by: principal.actor(),
            action,
            kind: "file".into(),
            key: name.to_owned(),
        })
        .await
        .map_err(|e| Problem::store(&e))
}

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            format!("{PREFIX}/render/{{path}}"),
            Access::Read,
            render,
        )
        .doc(
            "files",
            "render",
            "The file a phone asking for this name gets now (its secrets masked but for admins)",
        )
        .answers("application/xml"),
        Route::new(Method::GET, format!("{PREFIX}/check"), Access::Read, check).doc(
            "database",
            "check",
            "Every object against every rule; the problems found",
        ),
        Route::new(
            Method::GET,
            format!("{PREFIX}/counters"),
            Access::Read,
            counters,
        )
        .doc(
            "status",
            "counters",
            "This node's counters, by their CUCM names",
        ),
        Route::new(
            Method::GET,
            format!("{PREFIX}/fetched"),
            Access::Read,
            fetched,
        )
        .doc(
            "status",
            "fetched",
            "Has each phone taken its configuration: current, stale or never",
        )
        .query(&[("state", "current, stale or never")]),
        Route::new(Method::GET, format!("{PREFIX}/audit"), Access::Read, audit)
            .doc("database", "audit", "The audit log, newest first")
            .query(&[
                ("kind", "only this kind (device, account, file, ...)"),
                ("name", "only this object"),
                ("who", "only this account or command"),
                ("cursor", "the `next` of the page before"),
                ("limit", "1 to 1000 (default 100)"),
                ("secrets", "true: show the secrets (admins only)"),
            ]),
        Route::new(
            Method::GET,
            format!("{PREFIX}/changes"),
            Access::Read,
            changes,
        )
        .doc(
            "database",
            "changes",
            "The change feed, as Server-Sent Events",
        )
        .query(&[("since", "the version to follow from (default: now)")])
        .answers("text/event-stream"),
        Route::new(
            Method::GET,
            format!("{PREFIX}/export"),
            Access::Read,
            export,
        )
        .doc(
            "database",
            "export",
            "The database (TOML) or its devices (CSV)",
        )
        .query(&[
            ("format", "toml (default) or csv"),
            ("secrets", "true: with the secrets (admins only)"),
        ])
        .answers("application/toml"),
        Route::new(
            Method::POST,
            format!("{PREFIX}/import"),
            Access::Admin,
            import,
        )
        .doc(
            "database",
            "import",
            "Import CSV or TOML: a dry run (default) says what each row would do; \
                 dry_run=false applies all of it or nothing",
        )
        .query(&[
            ("dry_run", "true (default) or false"),
            ("replace", "true: replace objects that exist"),
        ])
        .body("text/csv"),
        Route::new(
            Method::GET,
            format!("{PREFIX}/files"),
            Access::Read,
            list_files,
        )
        .doc("files", "listFiles", "The custom files every node serves"),
        Route::new(
            Method::PUT,
            format!("{PREFIX}/files/{{path}}"),
            Access::Operate,
            put_file,
        )
        .doc(
            "files",
            "putFile",
            "Store a custom file (ring tone, background, locale)",
        )
        .body("application/octet-stream")
        .ok(201),
        Route::new(
            Method::DELETE,
            format!("{PREFIX}/files/{{path}}"),
            Access::Operate,
            remove_file,
        )
        .doc("files", "removeFile", "Remove a custom file")
        .ok(204),
    ]
}
