//! The object routes: list (filter, sort, cursor paging), get, create, update (a JSON merge
//! patch at the version the client read, `If-Match`), delete, for every kind; the parameters
//! (one object: get and update); Extension Mobility login and logout.
//!
//! An object is shown as `{kind, name, version, fields}`, its secrets masked unless an admin
//! asks for them; `fields` is what the object is made of, and what create takes.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use phoneboot_model::{Kind, MASK, Object};
use phoneboot_store::{Order, Place, Stored};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::Principal;
use super::body::{Json, Query};
use super::problem::{ApiResult, Problem};
use super::{Api, PREFIX, Route, collection, segment};
use crate::accounts::{Access, Role};
use crate::db::{Database, What, WriteError, Written, key_field};

/// Most objects one page lists.
pub(crate) const PAGE_MAX: usize = 1000;
/// Objects a page lists unless asked for another number.
pub(crate) const PAGE_DEFAULT: usize = 100;

/// An object as the API shows it.
pub(super) fn shown(stored: &Stored, secrets: bool) -> Value {
    let mut object = stored.object.clone();
    if !secrets {
        object.mask_secrets(MASK);
    }
    json!({
        "kind": object.kind().as_str(),
        "name": object.key(),
        "version": stored.version,
        "fields": serde_json::to_value(&object).unwrap_or(Value::Null),
    })
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// What a change is made against (`If-Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precondition {
    /// `If-Match: "N"`: the version read (the ETag of the GET).
    Version(i64),
    /// `If-Match: *`: whatever is there now, said on purpose.
    Any,
}

fn if_match(headers: &HeaderMap) -> ApiResult<Option<Precondition>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(Some(Precondition::Any));
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(|v| Some(Precondition::Version(v)))
        .map_err(|_| {
            Problem::bad_request(
                "If-Match",
                "If-Match must be the object's ETag as read, as \"12\" (or * for any version)",
            )
        })
}

fn required_if_match(headers: &HeaderMap) -> ApiResult<Precondition> {
    if_match(headers)?.ok_or_else(|| {
        Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "version-required",
            "Say which version the change is made against",
            "send the ETag of the object as read in If-Match (If-Match: \"12\"), so that a \
             change made meanwhile by someone else is not overwritten",
        )
        .field("If-Match")
    })
}

/// Refuses a change made against another version than `current`'s.
fn check_version(kind: Kind, current: &Stored, wanted: Option<Precondition>) -> ApiResult<()> {
    match wanted {
        Some(Precondition::Version(v)) if v != current.version => Err(Problem::stale(
            kind,
            current.object.key(),
            v,
            current.version,
        )),
        _ => Ok(()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Case-insensitive text found in the name or any field (MAC, DN, description, ...).
    pub(crate) q: Option<String>,
    /// `name` (default), `-name`, `version`, `-version`.
    pub(crate) sort: Option<String>,
    pub(crate) limit: Option<usize>,
    pub(crate) cursor: Option<String>,
    pub(crate) secrets: Option<bool>,
}

/// An item's place in its order, the cursor's content (names folded, as the store orders
/// them).
fn place(order: Order, stored: &Stored) -> Place {
    let name = stored.object.key().to_ascii_lowercase();
    match order {
        Order::Name | Order::NameDescending => Place { version: 0, name },
        Order::Version | Order::VersionDescending => Place {
            version: stored.version,
            name,
        },
    }
}

fn encode_cursor(place: &Place) -> String {
    let text = format!("{}:{}", place.version, place.name);
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(cursor: &str) -> Option<Place> {
    if !cursor.len().is_multiple_of(2) || cursor.len() > 1024 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let (version, name) = text.split_once(':')?;
    Some(Place {
        version: version.parse().ok()?,
        name: name.to_owned(),
    })
}

/// True when `needle` (lower-case) is in the name or in any text or number of the fields.
fn matches(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.to_ascii_lowercase().contains(needle),
        Value::Number(n) => n.to_string().contains(needle),
        Value::Array(items) => items.iter().any(|v| matches(v, needle)),
        Value::Object(map) => map.values().any(|v| matches(v, needle)),
        Value::Bool(_) | Value::Null => false,
    }
}

fn secrets_allowed(principal: &Principal, asked: Option<bool>) -> ApiResult<bool> {
    match asked {
        Some(true) if principal.role != Role::Admin => Err(Problem::forbidden(
            "only an admin may see secrets (SIP passwords)",
        )),
        asked => Ok(asked.unwrap_or(false)),
    }
}

async fn list(
    kind: Kind,
    api: Api,
    principal: Principal,
    query: ListQuery,
) -> ApiResult<axum::Json<Value>> {
    let db = api.database()?;
    let secrets = secrets_allowed(&principal, query.secrets)?;
    let (items, next) = page(&api, &db, kind, &query, secrets).await?;
    Ok(axum::Json(json!({ "items": items, "next": next })))
}

/// One page of `kind`'s objects as `query` asks (the API's list and the UI's tables).
///
/// Without a search, a keyset page of the store: a page deep in 100,000 devices costs what
/// the first does. A search of the devices in name order looks through the generation this
/// node serves (in memory) for the names, then reads that page from the store; any other
/// search reads the kind whole.
pub(crate) async fn page(
    api: &Api,
    db: &Database,
    kind: Kind,
    query: &ListQuery,
    secrets: bool,
) -> ApiResult<(Vec<Value>, Option<String>)> {
    let order = match query.sort.as_deref().unwrap_or("name") {
        "name" => Order::Name,
        "-name" => Order::NameDescending,
        "version" => Order::Version,
        "-version" => Order::VersionDescending,
        other => {
            return Err(Problem::bad_request(
                "sort",
                format!("sort: {other:?} is none of name, -name, version, -version"),
            ));
        }
    };
    let limit = query.limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(Problem::bad_request(
            "limit",
            format!("limit: {limit} is not within 1 to {PAGE_MAX}"),
        ));
    }
    let after = match &query.cursor {
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            Problem::bad_request(
                "cursor",
                "cursor: not one this API gave (use `next` as given)",
            )
        })?),
        None => None,
    };
    let needle = query
        .q
        .as_deref()
        .map(str::to_ascii_lowercase)
        .filter(|q| !q.is_empty());
    let descending = matches!(order, Order::NameDescending | Order::VersionDescending);
    let beyond = |p: &Place| {
        after
            .as_ref()
            .is_none_or(|a| if descending { p < a } else { p > a })
    };
    // Each way gives the page and, if there is more, where the next one starts.
    let (rows, next): (Vec<Stored>, Option<Place>) = match (&needle, kind, order, &api.admin.built)
    {
        (None, ..) => {
            let mut rows = db
                .store()
                .page(
                    kind,
                    order,
                    after.as_ref(),
                    u32::try_from(limit + 1).unwrap_or(u32::MAX),
                )
                .await
                .map_err(|e| Problem::store(&e))?;
            let more = rows.len() > limit;
            rows.truncate(limit);
            let next = more.then(|| rows.last().map(|s| place(order, s))).flatten();
            (rows, next)
        }
        (Some(needle), Kind::Device, Order::Name | Order::NameDescending, Some(built)) => {
            let generation = built.current();
            let at = |d: &phoneboot_model::Device| Place {
                version: 0,
                name: d.name.to_ascii_lowercase(),
            };
            let found = |d: &&phoneboot_model::Device| beyond(&at(d)) && device_matches(d, needle);
            let devices = generation.snapshot.devices.iter();
            let mut names: Vec<(Kind, String)> = if descending {
                devices
                    .rev()
                    .filter(found)
                    .take(limit + 1)
                    .map(|d| (kind, d.name.clone()))
                    .collect()
            } else {
                devices
                    .filter(found)
                    .take(limit + 1)
                    .map(|d| (kind, d.name.clone()))
                    .collect()
            };
            let more = names.len() > limit;
            names.truncate(limit);
            let next = more
                .then(|| {
                    names.last().map(|(_, n)| Place {
                        version: 0,
                        name: n.to_ascii_lowercase(),
                    })
                })
                .flatten();
            let mut stored = db
                .store()
                .get_many(&names)
                .await
                .map_err(|e| Problem::store(&e))?;
            let rank = |s: &Stored| {
                names
                    .iter()
                    .position(|(_, n)| n.eq_ignore_ascii_case(s.object.key()))
            };
            stored.sort_by_key(rank);
            (stored, next)
        }
        (Some(needle), ..) => {
            let mut all = db.list(kind).await.map_err(|e| match e {
                crate::db::DbError::Store(e) => Problem::store(&e),
                e => Problem::internal(e.to_string()),
            })?;
            all.sort_by_cached_key(|s| place(order, s));
            if descending {
                all.reverse();
            }
            let mut rows: Vec<Stored> = all
                .into_iter()
                .filter(|s| beyond(&place(order, s)) && object_matches(&s.object, needle))
                .take(limit + 1)
                .collect();
            let more = rows.len() > limit;
            rows.truncate(limit);
            let next = more.then(|| rows.last().map(|s| place(order, s))).flatten();
            (rows, next)
        }
    };
    let items = rows.iter().map(|s| shown(s, secrets)).collect();
    Ok((items, next.as_ref().map(encode_cursor)))
}

/// The one search rule: a device by [`device_matches`], anything else by its name or any
/// text of its fields but the secrets.
fn object_matches(object: &Object, needle: &str) -> bool {
    if let Object::Device(d) = object {
        return device_matches(d, needle);
    }
    let mut masked = object.clone();
    masked.mask_secrets("");
    object.key().to_ascii_lowercase().contains(needle)
        || serde_json::to_value(&masked).is_ok_and(|v| matches(&v, needle))
}

/// A device's searchable text: its name, MAC, model, pool, description, owner, and its lines'
/// and speed dials' numbers and names (never a secret).
fn device_matches(d: &phoneboot_model::Device, needle: &str) -> bool {
    let has = |s: &str| s.to_ascii_lowercase().contains(needle);
    has(&d.name)
        || has(&d.mac.to_string())
        || has(&d.model)
        || has(&d.pool)
        || has(&d.description)
        || d.owner.as_deref().is_some_and(has)
        || d.lines
            .iter()
            .any(|l| has(&l.dn) || has(&l.label) || has(&l.display_name) || has(&l.auth_name))
        || d.speed_dials
            .iter()
            .any(|s| has(&s.number) || has(&s.label))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GetQuery {
    secrets: Option<bool>,
}

fn object_response(status: StatusCode, stored: &Stored, secrets: bool) -> Response {
    let mut response = (status, axum::Json(shown(stored, secrets))).into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(stored.version));
    if let Ok(location) =
        HeaderValue::from_str(&location(stored.object.kind(), stored.object.key()))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn location(kind: Kind, key: &str) -> String {
    if kind == Kind::Params {
        format!("{PREFIX}/params")
    } else {
        format!("{PREFIX}/{}/{}", collection(kind), segment(key))
    }
}

async fn get(
    kind: Kind,
    api: Api,
    principal: Principal,
    name: String,
    query: GetQuery,
) -> ApiResult<Response> {
    let db = api.database()?;
    let secrets = secrets_allowed(&principal, query.secrets)?;
    let stored = db.get(kind, &name).await?;
    Ok(object_response(StatusCode::OK, &stored, secrets))
}

/// Reads an object again after a write, to answer with it as stored.
async fn written(db: &Database, written: &Written) -> ApiResult<Stored> {
    Ok(db.get(written.kind, &written.key).await?)
}

async fn create(kind: Kind, api: Api, principal: Principal, body: Value) -> ApiResult<Response> {
    let db = api.database()?.by(principal.actor());
    let Value::Object(mut fields) = body else {
        return Err(Problem::bad_request(
            "",
            "the body must be a JSON object of the fields",
        ));
    };
    let field = key_field(kind);
    let name = match fields.remove(field) {
        Some(Value::String(name)) if !name.trim().is_empty() => name,
        _ => {
            return Err(Problem::invalid(
                field,
                format!(
                    "{field}: is required{}",
                    if kind == Kind::Device {
                        " (a phone's MAC, or a name for a soft client)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    };
    let object = db.draft(kind, &name, Value::Object(fields))?;
    let done = db.add(object).await?;
    let stored = written(&db, &done).await?;
    Ok(object_response(StatusCode::CREATED, &stored, false))
}

/// RFC 7396: `patch` merged into `target` (null removes a member).
fn merge_patch(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(patch) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(map) = target {
                for (key, value) in patch {
                    if value.is_null() {
                        map.remove(&key);
                    } else {
                        merge_patch(map.entry(key).or_insert(Value::Null), value);
                    }
                }
            }
        }
        other => *target = other,
    }
}

async fn update(
    kind: Kind,
    api: Api,
    principal: Principal,
    name: String,
    headers: HeaderMap,
    patch: Value,
) -> ApiResult<Response> {
    let db = api.database()?.by(principal.actor());
    let current = db.get(kind, &name).await?;
    check_version(kind, &current, Some(required_if_match(&headers)?))?;
    if !patch.is_object() {
        return Err(Problem::bad_request(
            "",
            "the body must be a JSON merge patch (an object)",
        ));
    }
    let mut value =
        serde_json::to_value(&current.object).map_err(|e| Problem::internal(e.to_string()))?;
    merge_patch(&mut value, patch);
    let mut changed = Object::from_value(kind, value)
        .map_err(|e| Problem::from(WriteError::invalid(kind, current.object.key(), e)))?;
    // A secret sent back as it was shown (masked) is the secret it was.
    changed.unmask_secrets(&current.object, MASK);
    let done = db.update(&current, changed).await?;
    let stored = written(&db, &done).await?;
    let status = if matches!(done.what, What::Replaced { .. }) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(object_response(status, &stored, false))
}

async fn remove(
    kind: Kind,
    api: Api,
    principal: Principal,
    name: String,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let db = api.database()?.by(principal.actor());
    let expected = if_match(&headers)?;
    let current = db.get(kind, &name).await?;
    check_version(kind, &current, expected)?;
    db.remove(kind, current.object.key(), Some(current.version))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    user: String,
}

async fn em_login(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Path(name): Path<String>,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    let db = api.database()?.by(principal.actor());
    let done = db.login(&name, &body.user).await?;
    let stored = written(&db, &done).await?;
    Ok(object_response(StatusCode::OK, &stored, false))
}

async fn em_logout(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let db = api.database()?.by(principal.actor());
    let done = db.logout(&name).await?;
    let stored = written(&db, &done).await?;
    Ok(object_response(StatusCode::OK, &stored, false))
}

/// The routes of one kind's collection.
fn kind_routes(kind: Kind) -> Vec<Route> {
    let slug = collection(kind);
    let items = format!("{PREFIX}/{slug}");
    let item = format!("{PREFIX}/{slug}/{{name}}");
    let noun = kind.as_str();
    let id = |verb: &str| format!("{verb}_{}", slug.replace('-', "_"));
    if kind == Kind::Params {
        return vec![
            Route::new(
                Method::GET,
                &items,
                Access::Read,
                |State(api): State<Api>,
                 axum::Extension(p): axum::Extension<Principal>,
                 Query(q): Query<GetQuery>| {
                    get(Kind::Params, api, p, String::new(), q)
                },
            )
            .doc(
                "objects",
                "get_params",
                "The enterprise parameters (their defaults until set)",
            )
            .query(&[("secrets", "true: show the secrets (admins only)")]),
            Route::new(
                Method::PATCH,
                &items,
                Access::Write(Kind::Params),
                |State(api): State<Api>,
                 axum::Extension(p): axum::Extension<Principal>,
                 headers: HeaderMap,
                 Json(patch): Json<Value>| {
                    update(Kind::Params, api, p, String::new(), headers, patch)
                },
            )
            .doc(
                "objects",
                "update_params",
                "Change parameters: a JSON merge patch, at the version read (If-Match)",
            )
            .body("application/merge-patch+json"),
        ];
    }
    vec![
        Route::new(
            Method::GET,
            &items,
            Access::Read,
            move |State(api): State<Api>,
                  axum::Extension(p): axum::Extension<Principal>,
                  Query(q): Query<ListQuery>| list(kind, api, p, q),
        )
        .doc(
            "objects",
            id("list"),
            format!("List {noun} objects: filter, sort, cursor paging"),
        )
        .query(&[
            (
                "q",
                "text in the name or any field (MAC, DN, description), any case",
            ),
            ("sort", "name (default), -name, version, -version"),
            ("limit", "1 to 1000 (default 100)"),
            ("cursor", "the `next` of the page before"),
            ("secrets", "true: show the secrets (admins only)"),
        ]),
        Route::new(
            Method::POST,
            &items,
            Access::Write(kind),
            move |State(api): State<Api>,
                  axum::Extension(p): axum::Extension<Principal>,
                  Json(body): Json<Value>| create(kind, api, p, body),
        )
        .doc(
            "objects",
            id("create"),
            format!("Add a {noun}: its fields, with its name"),
        )
        .body("application/json")
        .ok(201),
        Route::new(
            Method::GET,
            &item,
            Access::Read,
            move |State(api): State<Api>,
                  axum::Extension(p): axum::Extension<Principal>,
                  Path(name): Path<String>,
                  Query(q): Query<GetQuery>| get(kind, api, p, name, q),
        )
        .doc(
            "objects",
            id("get"),
            format!("One {noun}, with its version as ETag"),
        )
        .query(&[("secrets", "true: show the secrets (admins only)")]),
        Route::new(
            Method::PATCH,
            &item,
            Access::Write(kind),
            move |State(api): State<Api>,
                  axum::Extension(p): axum::Extension<Principal>,
                  Path(name): Path<String>,
                  headers: HeaderMap,
                  Json(patch): Json<Value>| update(kind, api, p, name, headers, patch),
        )
        .doc(
            "objects",
            id("update"),
            format!("Change a {noun}: a JSON merge patch, at the version read (If-Match)"),
        )
        .body("application/merge-patch+json"),
        Route::new(
            Method::DELETE,
            &item,
            Access::Write(kind),
            move |State(api): State<Api>,
                  axum::Extension(p): axum::Extension<Principal>,
                  Path(name): Path<String>,
                  headers: HeaderMap| remove(kind, api, p, name, headers),
        )
        .doc(
            "objects",
            id("delete"),
            format!("Remove a {noun} nothing uses (If-Match optional)"),
        )
        .ok(204),
    ]
}

pub(super) fn routes() -> Vec<Route> {
    let mut routes: Vec<Route> = Kind::ALL.into_iter().flat_map(kind_routes).collect();
    routes.push(
        Route::new(
            Method::POST,
            format!("{PREFIX}/devices/{{name}}/login"),
            Access::Operate,
            em_login,
        )
        .doc(
            "mobility",
            "emLogin",
            "Extension Mobility: log a user in on the device",
        )
        .body("application/json"),
    );
    routes.push(
        Route::new(
            Method::POST,
            format!("{PREFIX}/devices/{{name}}/logout"),
            Access::Operate,
            em_logout,
        )
        .doc(
            "mobility",
            "emLogout",
            "Extension Mobility: log out whoever is on the device",
        ),
    );
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_patch_replaces_adds_and_removes_members() {
        let mut target = json!({ "a": 1, "b": { "c": 2, "d": 3 }, "e": [1, 2] });
        merge_patch(
            &mut target,
            json!({ "a": 5, "b": { "c": null, "f": 4 }, "e": [9] }),
        );
        assert_eq!(target, json!({ "a": 5, "b": { "d": 3, "f": 4 }, "e": [9] }));
    }

    #[test]
    fn cursors_read_back_and_foreign_ones_do_not() {
        let place = Place {
            version: 42,
            name: "sep001122334455".to_owned(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&place)), Some(place));
        for bad in ["zz", "abc", "00", &"61".repeat(600)] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
