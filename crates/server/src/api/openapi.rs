//! The OpenAPI 3.1 document of the API, made from the route table ([`super::routes`]): the
//! same entries the router is built from, so that every route is in it with the access rule
//! it is served under.

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::{PREFIX, Route, routes};
use crate::accounts::{Access, Role};

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in routes() {
        let item = paths
            .entry(route.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(
                route.method.as_str().to_ascii_lowercase(),
                operation(&route),
            );
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "phoneboot admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Manage the device database of a phoneboot cluster: every object \
                kind, Extension Mobility, imports and exports, custom files, the audit log. \
                Errors are application/problem+json (RFC 9457) naming the field at fault. \
                Changes carry the version they are made against (If-Match: the ETag read).",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": { "type": "http", "scheme": "bearer", "description":
                    "an API token (phoneboot admin token add, or POST /api/v1/tokens)" },
                "session": { "type": "apiKey", "in": "cookie", "name": super::SESSION_COOKIE,
                    "description": "a browser session (POST /api/v1/session); changes also \
                    carry its CSRF token in X-CSRF-Token" },
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": { "type": "string" },
                        "title": { "type": "string" },
                        "status": { "type": "integer" },
                        "detail": { "type": "string" },
                        "field": { "type": "string" },
                    },
                },
                "Object": {
                    "type": "object",
                    "required": ["kind", "name", "version", "fields"],
                    "properties": {
                        "kind": { "type": "string" },
                        "name": { "type": "string" },
                        "version": { "type": "integer" },
                        "fields": { "type": "object" },
                    },
                },
            },
            "responses": {
                "Problem": {
                    "description": "what is wrong, and what to do",
                    "content": { "application/problem+json": {
                        "schema": { "$ref": "#/components/schemas/Problem" } } },
                },
            },
        },
    })
}

fn operation(route: &Route) -> Value {
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
        })
        .collect();
    parameters.extend(route.query.iter().map(|(name, description)| {
        json!({ "name": name, "in": "query", "required": false, "description": description,
                "schema": { "type": "string" } })
    }));
    if matches!(route.method.as_str(), "PATCH") {
        parameters.push(json!({ "name": "If-Match", "in": "header",
            "required": route.path != format!("{PREFIX}/accounts/{{name}}"),
            "description": "the ETag of the object as read", "schema": { "type": "string" } }));
    }
    let mut responses = Map::new();
    let answer = if route.ok == 204 {
        json!({ "description": "done" })
    } else {
        json!({ "description": "done", "content": { route.answers: { "schema": {} } } })
    };
    responses.insert(route.ok.to_string(), answer);
    responses.insert(
        "default".into(),
        json!({ "$ref": "#/components/responses/Problem" }),
    );
    let mut op = json!({
        "operationId": route.operation,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": parameters,
        "responses": responses,
    });
    if route.access == Access::Public {
        op["security"] = json!([]);
    } else {
        op["security"] = json!([{ "token": [] }, { "session": [] }]);
        op["x-phoneboot-role"] = json!(Role::least_for(route.access).as_str());
    }
    if let Some(content_type) = route.body {
        op["requestBody"] = json!({
            "required": true,
            "content": { content_type: { "schema": {} } },
        });
    }
    op
}

pub(super) async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document().to_string(),
    )
}
