//! `GET /openapi.json`: an OpenAPI 3.0 document built from the handlers' request and response
//! types (their JSON Schemas come from `schemars`), so the document cannot drift from the code.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use schemars::JsonSchema;
use schemars::r#gen::{SchemaGenerator, SchemaSettings};
use serde_json::{Value, json};

use super::App;
use super::api::{
    CodeRequest, CodeResponse, DocumentResponse, RareRequest, RareResponse, SearchRequest,
    SearchResponse, SuggestResponse,
};

/// `GET /openapi.json`.
pub async fn handler(State(_app): State<Arc<App>>) -> Json<Value> {
    Json(document())
}

fn schema_ref<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    serde_json::to_value(g.subschema_for::<T>()).unwrap_or(Value::Null)
}

fn json_body(schema: Value) -> Value {
    json!({ "content": { "application/json": { "schema": schema } } })
}

fn errors(codes: &[&str]) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    for c in codes {
        let what = match *c {
            "400" => "malformed JSON or query string",
            "401" => "missing, unknown or revoked bearer token",
            "404" => "no such document",
            "408" => "the request head or body arrived too slowly",
            "413" => "body or query string too large",
            "422" => "well-formed request with an unacceptable value",
            "429" => "rate limit exceeded (see Retry-After)",
            "503" => "data not installed, or the request timed out",
            _ => "error",
        };
        m.insert(
            (*c).to_owned(),
            json!({ "description": what, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
        );
    }
    m
}

fn post_op(summary: &str, req: Value, resp: Value, extra: &[(&str, Value)]) -> Value {
    let mut responses = errors(&["400", "401", "408", "413", "422", "429", "503"]);
    responses.insert("200".into(), {
        let mut ok = json_body(resp);
        if let Some(o) = ok.as_object_mut() {
            o.insert("description".into(), json!("OK"));
        }
        ok
    });
    for (code, v) in extra {
        responses.insert((*code).to_owned(), v.clone());
    }
    json!({ "post": {
        "summary": summary,
        "security": [{ "bearer": [] }],
        "requestBody": { "required": true, "content": { "application/json": { "schema": req } } },
        "responses": responses,
    }})
}

fn get_op(summary: &str, params: Value, resp: Value, secured: bool) -> Value {
    let mut responses = errors(&["400", "401", "404", "413", "422", "429", "503"]);
    let mut ok = json_body(resp);
    if let Some(o) = ok.as_object_mut() {
        o.insert("description".into(), json!("OK"));
    }
    responses.insert("200".into(), ok);
    let mut op = json!({ "summary": summary, "parameters": params, "responses": responses });
    if secured && let Some(o) = op.as_object_mut() {
        o.insert("security".into(), json!([{ "bearer": [] }]));
    }
    json!({ "get": op })
}

fn query_param(name: &str, ty: &str, required: bool, what: &str) -> Value {
    json!({ "name": name, "in": "query", "required": required, "description": what, "schema": { "type": ty } })
}

/// The whole document.
pub fn document() -> Value {
    let mut g = SchemaSettings::openapi3().into_generator();
    let search_req = schema_ref::<SearchRequest>(&mut g);
    let search_resp = schema_ref::<SearchResponse>(&mut g);
    let code_req = schema_ref::<CodeRequest>(&mut g);
    let code_resp = schema_ref::<CodeResponse>(&mut g);
    let rare_req = schema_ref::<RareRequest>(&mut g);
    let rare_resp = schema_ref::<RareResponse>(&mut g);
    let doc_resp = schema_ref::<DocumentResponse>(&mut g);
    let suggest_resp = schema_ref::<SuggestResponse>(&mut g);
    let agent_paths = super::agent::openapi_paths(&mut g);
    let mut schemas: serde_json::Map<String, Value> = g
        .take_definitions()
        .into_iter()
        .map(|(k, v)| (k, serde_json::to_value(v).unwrap_or(Value::Null)))
        .collect();
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": { "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": { "type": "string", "description": "stable machine-readable code" },
                    "message": { "type": "string", "description": "what is wrong; never echoes request text" }
                }
            }}
        }),
    );
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/v1/search".into(),
        post_op(
            "Ranked passages with citations (doc id and character span).",
            search_req,
            search_resp,
            &[],
        ),
    );
    paths.insert(
        "/v1/code/icd10cm".into(),
        post_op(
            "Billable ICD-10-CM codes with evidence spans of the input.",
            code_req.clone(),
            code_resp.clone(),
            &[],
        ),
    );
    paths.insert(
        "/v1/code/atc".into(),
        post_op(
            "Level-5 ATC codes for the drugs of the input, with evidence spans.",
            code_req,
            code_resp,
            &[],
        ),
    );
    paths.insert(
        "/v1/rare".into(),
        post_op(
            "OMIM/ORPHA diseases ranked for observed and excluded HPO phenotypes (or a case text).",
            rare_req,
            rare_resp,
            &[],
        ),
    );
    paths.insert(
        "/v1/hpo/suggest".into(),
        get_op(
            "HPO term autocomplete over names and synonyms.",
            json!([
                query_param(
                    "q",
                    "string",
                    true,
                    "typed text (2+ characters) or an HP: id"
                ),
                query_param("limit", "integer", false, "1 to 50, default 10"),
            ]),
            suggest_resp,
            true,
        ),
    );
    paths.insert(
        "/v1/documents/{id}".into(),
        get_op(
            "A stored document and, with start and end, the exact cited passage.",
            json!([
                { "name": "id", "in": "path", "required": true, "description": "PMID:n, PMCID:n, DOI:x, ...", "schema": { "type": "string" } },
                query_param("start", "integer", false, "first character of the passage"),
                query_param("end", "integer", false, "end character (exclusive)"),
            ]),
            doc_resp,
            true,
        ),
    );
    paths.insert(
        "/healthz".into(),
        json!({ "get": { "summary": "Liveness; needs no token.", "responses": { "200": { "description": "OK" } } } }),
    );
    paths.insert(
        "/metrics".into(),
        json!({ "get": { "summary": "Prometheus text format: requests, latencies by endpoint and stage, tokens, errors.",
            "security": [{ "bearer": [] }],
            "responses": { "200": { "description": "OK", "content": { "text/plain": { "schema": { "type": "string" } } } } } } }),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({ "get": { "summary": "This document.", "security": [{ "bearer": [] }], "responses": { "200": { "description": "OK" } } } }),
    );
    for (p, v) in agent_paths {
        paths.insert(p, v);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "clinrag",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Clinical knowledge assistant: answers with citations into stored documents, ICD-10-CM/ATC coding, rare-disease ranking. Bearer token required unless the server listens on loopback without --require-token."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in the document resolves to a schema in `components`.
    #[test]
    fn refs_resolve() {
        let d = document();
        let schemas = d["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut refs = Vec::new();
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|x| walk(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(&d, &mut refs);
        assert!(refs.len() > 10);
        for r in refs {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(schemas.contains_key(name), "dangling {r}");
        }
        assert!(schemas.contains_key("SearchRequest"));
        assert_eq!(
            d["paths"]["/v1/search"]["post"]["requestBody"]["content"]["application/json"]["schema"]
                ["$ref"],
            "#/components/schemas/SearchRequest"
        );
    }
}
