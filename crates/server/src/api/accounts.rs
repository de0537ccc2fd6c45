//! The administrator accounts (admins only) and the API tokens of an account (one's own; an
//! admin's of anyone), on the rules of `crate::accounts`.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use phoneboot_store::{Account, Actor, Credential, CredentialKind, unix_seconds};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Principal, hashing};
use super::body::{Json, Query};
use super::problem::{ApiResult, Problem};
use super::{Api, PREFIX, Route};
use crate::accounts::{self, Access, Role};

/// An account as the API shows it: never its hash.
fn shown(account: &Account) -> Value {
    json!({
        "name": account.name,
        "role": accounts::role_of(account),
        "created": account.created,
        "changed": account.changed,
    })
}

async fn list_accounts(State(api): State<Api>) -> ApiResult<axum::Json<Value>> {
    let db = api.database()?;
    let all = db
        .store()
        .accounts()
        .await
        .map_err(|e| Problem::store(&e))?;
    Ok(axum::Json(
        json!({ "items": all.iter().map(shown).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    name: String,
    role: String,
    password: String,
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(field_problem)`
fn field_problem(e: phoneboot_model::FieldError) -> Problem {
    Problem::invalid(&e.field, format!("{}: {}", e.field, e.reason))
}

async fn add_account(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Json(new): Json<NewAccount>,
) -> ApiResult<Response> {
    let db = api.database()?;
    let role: Role = new.role.parse().map_err(field_problem)?;
    accounts::check_name(&new.name).map_err(field_problem)?;
    let name = new.name.clone();
    let account = hashing(move || accounts::new_account(&new.name, role, &new.password))
        .await?
        .map_err(field_problem)?;
    let added = db
        .store()
        .add_account(&account, &principal.actor())
        .await
        .map_err(|e| Problem::store(&e))?;
    if !added {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "exists",
            "The account exists already",
            format!("account {name:?} exists already: change it with PATCH"),
        ));
    }
    let mut response = (StatusCode::CREATED, axum::Json(shown(&account))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{PREFIX}/accounts/{}", account.name)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountChange {
    role: Option<String>,
    password: Option<String>,
}

fn last_admin(name: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "last-admin",
        "The last admin stays",
        format!("{name:?} is the only admin: make another account admin first"),
    )
}

async fn get_account(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let account = existing(&api, &name).await?;
    Ok(axum::Json(shown(&account)))
}

async fn existing(api: &Api, name: &str) -> ApiResult<Account> {
    let db = api.database()?;
    db.store()
        .account(name)
        .await
        .map_err(|e| Problem::store(&e))?
        .ok_or_else(|| Problem::not_found(format!("account {name:?} does not exist")))
}

async fn change_account(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Path(name): Path<String>,
    Json(change): Json<AccountChange>,
) -> ApiResult<axum::Json<Value>> {
    let db = api.database()?;
    let mut account = existing(&api, &name).await?;
    if let Some(role) = &change.role {
        let role: Role = role.parse().map_err(field_problem)?;
        role.as_str().clone_into(&mut account.role);
    }
    let new_password = change.password.is_some();
    if let Some(password) = change.password {
        account.password = hashing(move || accounts::hash_password(&password))
            .await?
            .map_err(field_problem)?;
    }
    account.changed = unix_seconds();
    // The last admin stays: decided in the write's own transaction, so that two admins
    // demoting each other at once cannot both pass.
    let done = db
        .store()
        .save_account_keeping(&account, &principal.actor(), Role::Admin.as_str())
        .await
        .map_err(|e| Problem::store(&e))?;
    if done == phoneboot_store::AccountChange::LastOfRole {
        return Err(last_admin(&account.name));
    }
    if new_password {
        accounts::end_sessions(db.store().as_ref(), &account.name, &principal.actor())
            .await
            .map_err(|e| Problem::store(&e))?;
    }
    Ok(axum::Json(shown(&account)))
}

async fn remove_account(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let db = api.database()?;
    let done = db
        .store()
        .remove_account_keeping(&name, &principal.actor(), Role::Admin.as_str())
        .await
        .map_err(|e| Problem::store(&e))?;
    match done {
        phoneboot_store::AccountChange::Done => Ok(StatusCode::NO_CONTENT),
        phoneboot_store::AccountChange::Absent => Err(Problem::not_found(format!(
            "account {name:?} does not exist"
        ))),
        phoneboot_store::AccountChange::LastOfRole => Err(last_admin(&name)),
    }
}

/// A token as listed: its id (the first 16 digits of its digest), never the secret.
fn token_shown(c: &Credential) -> Value {
    json!({
        "id": token_id(c),
        "account": c.account,
        "label": c.label,
        "created": c.created,
    })
}

fn token_id(c: &Credential) -> &str {
    c.digest.get(..16).unwrap_or(&c.digest)
}

#[derive(Debug, Deserialize)]
struct Whose {
    account: Option<String>,
}

/// The account a token route concerns: one's own, or (for an admin) any.
fn whose(principal: &Principal, asked: Option<String>) -> ApiResult<String> {
    match asked {
        Some(other) if !other.eq_ignore_ascii_case(&principal.account) => {
            if principal.role == Role::Admin {
                Ok(other)
            } else {
                Err(Problem::forbidden(
                    "only an admin manages the tokens of another account",
                ))
            }
        }
        _ => Ok(principal.account.clone()),
    }
}

/// The account asked about (the caller's own unless an admin names another) and its API
/// tokens.
async fn tokens_of(
    db: &crate::db::Database,
    principal: &Principal,
    asked: Option<String>,
) -> ApiResult<(String, Vec<Credential>)> {
    let account = whose(principal, asked)?;
    let mut all = db
        .store()
        .credentials(&account)
        .await
        .map_err(|e| Problem::store(&e))?;
    all.retain(|c| c.kind == CredentialKind::Token);
    Ok((account, all))
}

async fn list_tokens(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Query(q): Query<Whose>,
) -> ApiResult<axum::Json<Value>> {
    let db = api.database()?;
    let (_, tokens) = tokens_of(&db, &principal, q.account).await?;
    let tokens: Vec<Value> = tokens.iter().map(token_shown).collect();
    Ok(axum::Json(json!({ "items": tokens })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    label: String,
    account: Option<String>,
}

/// Creates an API token; its secret is in this answer only.
async fn add_token(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Json(new): Json<NewToken>,
) -> ApiResult<Response> {
    let db = api.database()?;
    let account = whose(&principal, new.account)?;
    let label = new.label.trim();
    if label.is_empty() || label.len() > 100 || label.chars().any(char::is_control) {
        return Err(Problem::invalid(
            "label",
            "label: name the token (1 to 100 characters, no control characters), as \
             \"nightly export\"",
        ));
    }
    let token = new_token(db.store().as_ref(), &account, label, &principal.actor()).await?;
    Ok((StatusCode::CREATED, axum::Json(token)).into_response())
}

/// Makes a token for `account`: the answer holds its secret, shown once.
async fn new_token(
    store: &dyn phoneboot_store::Store,
    account: &str,
    label: &str,
    by: &Actor,
) -> ApiResult<Value> {
    let (secret, credential) = accounts::issue_token(store, account, label, by)
        .await
        .map_err(|e| match e {
            phoneboot_store::StoreError::Absent(_) => {
                Problem::not_found(format!("account {account:?} does not exist"))
            }
            e => Problem::store(&e),
        })?;
    let mut shown = token_shown(&credential);
    shown["token"] = json!(secret);
    Ok(shown)
}

async fn remove_token(
    State(api): State<Api>,
    axum::Extension(principal): axum::Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<Whose>,
) -> ApiResult<StatusCode> {
    let db = api.database()?;
    let (account, tokens) = tokens_of(&db, &principal, q.account).await?;
    let Some(token) = tokens
        .iter()
        .find(|c| token_id(c).eq_ignore_ascii_case(&id))
    else {
        return Err(Problem::not_found(format!(
            "account {account:?} has no token {id:?} (GET /api/v1/tokens lists them)"
        )));
    };
    db.store()
        .remove_credential(&token.digest, &principal.actor())
        .await
        .map_err(|e| Problem::store(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn routes() -> Vec<Route> {
    let accounts = format!("{PREFIX}/accounts");
    let account = format!("{PREFIX}/accounts/{{name}}");
    let tokens = format!("{PREFIX}/tokens");
    vec![
        Route::new(Method::GET, &accounts, Access::Admin, list_accounts).doc(
            "accounts",
            "listAccounts",
            "Every administrator account",
        ),
        Route::new(Method::POST, &accounts, Access::Admin, add_account)
            .doc(
                "accounts",
                "addAccount",
                "Add an account (name, role, password)",
            )
            .body("application/json")
            .ok(201),
        Route::new(Method::GET, &account, Access::Admin, get_account).doc(
            "accounts",
            "getAccount",
            "One account",
        ),
        Route::new(Method::PATCH, &account, Access::Admin, change_account)
            .doc(
                "accounts",
                "changeAccount",
                "Change an account's role or password",
            )
            .body("application/json"),
        Route::new(Method::DELETE, &account, Access::Admin, remove_account)
            .doc(
                "accounts",
                "removeAccount",
                "Remove an account, its tokens and sessions",
            )
            .ok(204),
        Route::new(Method::GET, &tokens, Access::Read, list_tokens)
            .doc(
                "auth",
                "listTokens",
                "The API tokens of an account (one's own by default)",
            )
            .query(&[("account", "another account's (admins only)")]),
        Route::new(Method::POST, &tokens, Access::Read, add_token)
            .doc(
                "auth",
                "addToken",
                "Create an API token; its secret is shown once",
            )
            .body("application/json")
            .ok(201),
        Route::new(
            Method::DELETE,
            format!("{tokens}/{{id}}"),
            Access::Read,
            remove_token,
        )
        .doc("auth", "removeToken", "Revoke an API token")
        .query(&[("account", "another account's (admins only)")])
        .ok(204),
    ]
}
