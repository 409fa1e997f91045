//! The OpenAPI 3.1 document of the service, built in the binary for the loaded model: every
//! endpoint, request, answer and error. The customer schema is derived from the model's applicant
//! schema (required fields, JSON types, category enums, nulls where a field is nullable, the
//! minimum/maximum of possible values — the validation rules, not the training ranges), so the
//! document cannot drift from what the server enforces.

use super::errors::ERROR_CODES;
use super::request::MAX_BATCH;
use crate::explain::WarningKind;
use crate::schema::{Kind, Schema};
use serde_json::{Map, Value, json};

const JSON: &str = "application/json";

/// The document for a model's `schema`; `example` is a valid customer of it.
pub fn document(schema: &Schema, example: Value) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "credrisk",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("Credit decisions for applicants of the table {:?}: P(approved) from a random forest, \
                exact TreeSHAP explanations and plain-language reasons for a denial (Spanish or English). The \
                answer's language is the body's `lang`, else the `lang` query parameter, else the first of es/en in \
                Accept-Language, else es. Request bodies must be JSON (Content-Type application/json, or none); types \
                are strict, and an object must not repeat a key.", schema.name()),
        },
        "paths": paths(),
        "components": {
            "schemas": schemas(schema, example),
            "headers": {"X-Request-Id": {
                "description": "The request's id (the client's own X-Request-Id when it is 1-128 characters of \
                    [A-Za-z0-9._:-], else a new UUID); also in the log line and the audit record.",
                "schema": {"type": "string"},
            }},
        },
    })
}

fn paths() -> Value {
    json!({
        "/predict": {"post": decision_operation(
            "predict",
            "Approve or deny one customer",
            "P(approved) and the decision; with `include_explanation` also the SHAP contributions and the reasons \
             for a denial. Values valid but outside the training range are answered, with `warnings`.",
            "PredictRequest",
            "PredictResponse",
        )},
        "/explain": {"post": decision_operation(
            "explain",
            "Explain one customer's decision",
            "The decision with its SHAP contributions per field (sorted by |shap|; base_value + Σ shap = probability) \
             and, for a denial, the reasons as sentences an analyst can send.",
            "ExplainRequest",
            "ExplainResponse",
        )},
        "/recourse": {"post": decision_operation(
            "recourse",
            "What would it take to be approved",
            "For a denied customer, up to three sets of realistic changes the model approves (cheapest first, each \
             over different fields, none a superset of a cheaper one): only fields the schema lets the applicant \
             change, in the direction it allows, within the valid range and the range seen in training; a change \
             costs its size in training percentiles. Exact over the forest's thresholds. When none exists within \
             `max_changes`, `options` is empty and `closest` holds the highest probability found. An approved \
             customer gets no options and the margin.",
            "RecourseRequest",
            "RecourseResponse",
        )},
        "/predict/batch": {"post": decision_operation(
            "predict_batch",
            "Approve or deny up to 1,000 customers",
            "One result per customer, in order. A customer that fails validation gets its own error item \
             (`{index, error, message, details}`) and does not fail the others.",
            "BatchRequest",
            "BatchResponse",
        )},
        "/health": {"get": ready_operation("health", "Readiness (the same as /health/ready; kept for compatibility)")},
        "/health/live": {"get": get_operation("health_live", "Liveness: 200 while the process runs", "Live", false)},
        "/health/ready": {"get": ready_operation(
            "health_ready",
            "Readiness: 200 when the model is loaded and decisions can be recorded",
        )},
        "/model": {"get": get_operation("model", "The loaded model's metadata", "ModelMetadata", true)},
        "/openapi.json": {"get": get_operation("openapi", "This document", "OpenApiDocument", true)},
        "/docs": {"get": {
            "operationId": "docs",
            "summary": format!("This document, browsable (Swagger UI {}, embedded in the binary)", super::docs::SWAGGER_UI_VERSION),
            "responses": {"200": {
                "description": "An HTML page; its scripts and styles are served under /docs/ and it reads /openapi.json.",
                "headers": request_id_header(),
                "content": {"text/html": {"schema": {"type": "string"}}},
            }},
        }},
        "/metrics": {"get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics (text exposition format 0.0.4)",
            "responses": {"200": {
                "description": "Requests by endpoint and status, latency histogram, decisions by outcome, model info.",
                "headers": request_id_header(),
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }},
        }},
    })
}

fn decision_operation(id: &str, summary: &str, description: &str, request: &str, response: &str) -> Value {
    json!({
        "operationId": id,
        "summary": summary,
        "description": description,
        "parameters": [{
            "name": "lang",
            "in": "query",
            "required": false,
            "description": "Language of reasons and warnings (the body's `lang` wins).",
            "schema": {"$ref": "#/components/schemas/Lang"},
        }],
        "requestBody": {"required": true, "content": {JSON: {"schema": schema_ref(request)}}},
        "responses": {
            "200": ok(response, "The decision."),
            "400": error("malformed_json: the body is not JSON (or not UTF-8, or nested too deeply)."),
            "408": error("request_timeout: the body did not arrive within the server's time limit."),
            "413": error("payload_too_large: the body is larger than the server's limit."),
            "415": error("unsupported_media_type: a Content-Type other than JSON."),
            "422": error("validation: missing, unknown, repeated or mistyped fields, impossible values, unknown \
                          categories; each offending field named in `details`."),
            "500": error("internal: a bug, never a client's mistake."),
            "503": error("model_unavailable (the model is loading) or audit_unavailable (the decision could not be \
                          recorded); retry."),
        },
    })
}

fn get_operation(id: &str, summary: &str, response: &str, may_load: bool) -> Value {
    let mut responses = json!({"200": ok(response, summary)});
    if may_load {
        responses["503"] = error("model_unavailable: the model is still loading.");
    }
    json!({"operationId": id, "summary": summary, "responses": responses})
}

fn ready_operation(id: &str, summary: &str) -> Value {
    json!({"operationId": id, "summary": summary, "responses": {
        "200": ok("Health", summary),
        "503": error("Not ready: `error` is the first failing check's code (model_unavailable: the model is \
                      loading; audit_unavailable: decisions cannot be recorded), `details` name every failing \
                      check (`model`, `audit_log`) with why."),
    }})
}

fn ok(schema: &str, description: &str) -> Value {
    json!({"description": description, "headers": request_id_header(), "content": {JSON: {"schema": schema_ref(schema)}}})
}

fn error(description: &str) -> Value {
    json!({"description": description, "headers": request_id_header(), "content": {JSON: {"schema": schema_ref("Error")}}})
}

fn request_id_header() -> Value {
    json!({"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn array_of(name: &str) -> Value {
    json!({"type": "array", "items": schema_ref(name)})
}

/// A closed object: every listed property, only those, `required` as given.
fn with_description(mut schema: Value, text: &str) -> Value {
    schema["description"] = text.into();
    schema
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties})
}

/// The customer, from the schema's fields: exactly the server's validation rules.
pub fn customer_schema(schema: &Schema, example: Value) -> Value {
    let mut properties = Map::new();
    for field in schema.fields() {
        let label = field.labels.en.as_str();
        let mut spec = match &field.kind {
            Kind::Integer { min, max } => {
                json!({"type": "integer", "minimum": min, "maximum": max, "description": label})
            }
            Kind::Number { min, max } => {
                let mut n = json!({"type": "number", "description": label});
                if min.is_finite() {
                    n["minimum"] = json!(min);
                }
                if max.is_finite() {
                    n["maximum"] = json!(max);
                }
                n
            }
            Kind::Category(c) | Kind::Ordered(c) => json!({
                "type": "string",
                "enum": c.names().collect::<Vec<_>>(),
                "description": format!("{label}; matched ignoring case, accents and surrounding spaces."),
            }),
            Kind::Boolean | Kind::Text => json!({"type": "boolean", "description": label}),
        };
        if field.nullable {
            let t = spec["type"].as_str().unwrap_or("string").to_string();
            spec["type"] = json!([t, "null"]);
            if let Some(values) = spec.get_mut("enum").and_then(Value::as_array_mut) {
                values.push(Value::Null);
            }
            spec["description"] =
                json!(format!("{}; null when not declared.", spec["description"].as_str().unwrap_or(label)));
        }
        properties.insert(field.name.clone(), spec);
    }
    let required: Vec<&str> = schema.fields().map(|f| f.name.as_str()).collect();
    let mut customer = object(Value::Object(properties), &required);
    customer["description"] = json!(
        "One applicant. Ranges are what is possible at all; a valid value outside the training range is answered \
         with a warning. Integers may be written as 45.0; booleans are not numbers."
    );
    customer["example"] = example;
    customer
}

fn request_schemas(s: &mut Map<String, Value>) {
    let lang = schema_ref("Lang");
    let reference = schema_ref("Reference");
    let flag =
        json!({"type": "boolean", "default": false, "description": "Also answer the SHAP explanation."});
    s.insert(
        "PredictRequest".into(),
        object(
            json!({"customer": schema_ref("Customer"), "include_explanation": flag, "lang": lang,
                   "reference": reference}),
            &["customer"],
        ),
    );
    let ignored = json!({"type": "boolean", "description": "Accepted and ignored: /explain always explains \
                         (so a /predict body works here unchanged)."});
    s.insert(
        "ExplainRequest".into(),
        object(
            json!({"customer": schema_ref("Customer"), "include_explanation": ignored, "lang": lang,
                   "reference": reference}),
            &["customer"],
        ),
    );
    let customers = json!({
        "type": "array", "minItems": 1, "maxItems": MAX_BATCH,
        "items": {"type": "object", "description": "A Customer (#/components/schemas/Customer), validated on its own: \
                  an invalid one gets an error item in the answer."},
    });
    s.insert(
        "BatchRequest".into(),
        object(
            json!({"customers": customers, "include_explanation": flag, "lang": lang, "reference": reference}),
            &["customers"],
        ),
    );
}

fn answer_schemas(s: &mut Map<String, Value>) {
    let number = json!({"type": "number"});
    let probability = json!({"type": "number", "minimum": 0, "maximum": 1});
    let method = json!({"type": "string", "enum": ["tree_path_dependent", "interventional"]});
    let value = json!({"type": ["number", "string", "boolean", "null"],
                       "description": "The customer's value of the field (null when not declared)."});
    s.insert(
        "ModelRef".into(),
        object(
            json!({"run_id": {"type": ["string", "null"]}, "uri": {"type": "string"},
                   "name": {"type": "string", "description": "The registered model, when served from the registry."},
                   "version": {"type": "integer", "minimum": 1, "description": "Its version: the one that answered."}}),
            &["run_id", "uri"],
        ),
    );
    s.insert(
        "Warning".into(),
        object(
            json!({
                "field": {"type": "string"},
                "kind": {"type": "string", "enum": WarningKind::ALL.map(WarningKind::name)},
                "message": {"type": "string"},
            }),
            &["field", "kind", "message"],
        ),
    );
    s.insert(
        "Contribution".into(),
        object(
            json!({"feature": {"type": "string"}, "value": value, "shap": number}),
            &["feature", "value", "shap"],
        ),
    );
    s.insert(
        "Reason".into(),
        object(
            json!({"feature": {"type": "string"}, "value": value, "shap": number, "text": {"type": "string"}}),
            &["feature", "value", "shap", "text"],
        ),
    );
    let explanation_fields = json!({
        "base_value": number, "margin": number,
        "output_space": {"type": "string", "enum": ["probability"]}, "method": method,
        "reference": {"type": "string", "enum": ["path", "approved", "cutoff", "background"],
                      "description": "What the applicant was compared with: base_value is that reference's mean \
                                      prediction (interventional) or the trees' cover-weighted mean (path)."},
        "contributions": array_of("Contribution"), "reasons": array_of("Reason"),
        "additivity_error": {"type": "number", "minimum": 0},
    });
    let explanation_keys = [
        "base_value",
        "margin",
        "output_space",
        "method",
        "reference",
        "contributions",
        "reasons",
        "additivity_error",
    ];
    s.insert("Explanation".into(), object(explanation_fields.clone(), &explanation_keys));

    let decision = json!({
        "approved": {"type": "boolean"}, "probability": probability, "threshold": number,
        "warnings": array_of("Warning"),
    });
    let with = |base: &Value, extra: Value| -> Value {
        let mut m = base.as_object().cloned().unwrap_or_default();
        m.extend(extra.as_object().cloned().unwrap_or_default());
        Value::Object(m)
    };
    let predict =
        with(&decision, json!({"model": schema_ref("ModelRef"), "explanation": schema_ref("Explanation")}));
    s.insert(
        "PredictResponse".into(),
        object(predict, &["approved", "probability", "threshold", "model", "warnings"]),
    );
    let mut explain_keys = vec!["approved", "probability", "threshold", "model", "warnings"];
    explain_keys.extend(explanation_keys);
    let explain = with(&with(&decision, json!({"model": schema_ref("ModelRef")})), explanation_fields);
    s.insert("ExplainResponse".into(), object(explain, &explain_keys));

    let item = with(
        &decision,
        json!({"index": {"type": "integer", "minimum": 0}, "explanation": schema_ref("Explanation")}),
    );
    s.insert(
        "BatchItem".into(),
        object(item, &["index", "approved", "probability", "threshold", "warnings"]),
    );
    let item_error = with(&error_fields(), json!({"index": {"type": "integer", "minimum": 0}}));
    s.insert("BatchItemError".into(), object(item_error, &["index", "error", "message", "details"]));
    s.insert(
        "BatchResponse".into(),
        object(
            json!({"model": schema_ref("ModelRef"), "results": {"type": "array", "items": {"oneOf": [
                schema_ref("BatchItem"), schema_ref("BatchItemError")]}}}),
            &["model", "results"],
        ),
    );
}

fn error_fields() -> Value {
    json!({
        "error": {"type": "string", "enum": ERROR_CODES},
        "message": {"type": "string"},
        "details": array_of("FieldError"),
    })
}

fn service_schemas(s: &mut Map<String, Value>) {
    s.insert("Error".into(), object(error_fields(), &["error", "message", "details"]));
    s.insert(
        "FieldError".into(),
        object(
            json!({"field": {"type": "string", "description": "e.g. customer.income, customers[3].age, lang, query.lang"},
                   "message": {"type": "string"}}),
            &["field", "message"],
        ),
    );
    let method = json!({"type": "string", "enum": ["tree_path_dependent", "interventional"]});
    let registered = json!({"name": {"type": ["string", "null"]}, "version": {"type": ["integer", "null"]}});
    let summary = object(
        json!({"run_id": {"type": ["string", "null"]}, "uri": {"type": "string"}, "method": method,
               "name": {"type": "string"}, "version": {"type": "integer", "minimum": 1}}),
        &["run_id", "uri", "method"],
    );
    s.insert("Live".into(), object(json!({"status": {"type": "string", "enum": ["ok"]}}), &["status"]));
    let registry = object(
        json!({"reachable": {"type": "boolean"}, "seconds_since_success": {"type": ["number", "null"]},
               "error": {"type": ["string", "null"]}}),
        &["reachable", "seconds_since_success", "error"],
    );
    s.insert(
        "Health".into(),
        object(
            json!({"status": {"type": "string", "enum": ["ok"]}, "model": summary,
                   "registry": with_description(registry, "The watched alias's registry (serve --watch only).")}),
            &["status", "model"],
        ),
    );
    let metadata = json!({
        "run_id": {"type": ["string", "null"]}, "uri": {"type": "string"}, "method": method,
        "name": registered["name"], "version": registered["version"],
        "loaded_at": {"type": "string", "format": "date-time", "description": "When this replica loaded it."},
        "reference": {"type": "string", "description": "The reference answers use when a request names none."},
        "references": {"type": "array", "items": {"type": "string"},
                       "description": "The references requests may name (the default first)."},
        "threshold": {"type": "number"}, "n_trees": {"type": "integer"}, "n_features": {"type": "integer"},
        "credrisk_version": {"type": "string"}, "created_ms": {"type": "integer"}, "n_train": {"type": "integer"},
        "data_sha256": {"type": "string"}, "params": {"type": "object"}, "metrics": {"type": "object"},
        "feature_schema": {"type": "object", "description": "Each field's type, valid values, and the range or \
                           categories seen in training; the encoded columns."},
        "schema": {"type": "object", "description": "The applicant schema the model was trained on (the structure of \
                   its schema.toml)."},
    });
    let keys: Vec<String> = metadata.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    s.insert("ModelMetadata".into(), object(metadata, &keys));
    s.insert("OpenApiDocument".into(), json!({"type": "object", "required": ["openapi", "paths"]}));
}

/// `/recourse`'s request and answer.
fn recourse_schemas(s: &mut Map<String, Value>) {
    use crate::recourse::{DEFAULT_MAX_CHANGES, MAX_CHANGES_LIMIT};
    let max_changes = json!({"type": "integer", "minimum": 1, "maximum": MAX_CHANGES_LIMIT,
        "default": DEFAULT_MAX_CHANGES, "description": "The most fields one option may change."});
    let ignored =
        json!({"type": "boolean", "description": "Accepted and ignored (so an /explain body works here)."});
    s.insert(
        "RecourseRequest".into(),
        object(
            json!({"customer": schema_ref("Customer"), "include_explanation": ignored, "lang": schema_ref("Lang"),
                   "max_changes": max_changes}),
            &["customer"],
        ),
    );
    let value = json!({"type": ["number", "string", "boolean", "null"]});
    let number = json!({"type": "number"});
    let probability = json!({"type": "number", "minimum": 0, "maximum": 1});
    let text = json!({"type": "string"});
    let change = json!({"field": text, "label": text, "from": value, "to": value,
        "cost": {"type": "number", "minimum": 0, "description": "The move in training percentiles."}});
    s.insert("RecourseChange".into(), object(change, &["field", "label", "from", "to", "cost"]));
    let option = json!({"changes": array_of("RecourseChange"), "probability": probability,
        "approved": {"type": "boolean"}, "cost": number, "text": text});
    s.insert(
        "RecourseOption".into(),
        object(option, &["changes", "probability", "approved", "cost", "text"]),
    );
    let search = json!({"exhaustive": {"type": "boolean", "description": "false: the search hit its bound; cheaper \
        options may exist."}, "boxes": {"type": "integer"}, "node_visits": {"type": "integer"},
        "candidates": {"type": "integer"}});
    let answer = json!({
        "approved": {"type": "boolean"}, "probability": probability, "threshold": probability, "margin": number,
        "max_changes": {"type": "integer"}, "options": array_of("RecourseOption"),
        "closest": {"oneOf": [schema_ref("RecourseOption"), {"type": "null"}]}, "text": text,
        "search": object(search, &["exhaustive", "boxes", "node_visits", "candidates"]),
        "model": schema_ref("ModelRef"),
    });
    let keys = [
        "approved",
        "probability",
        "threshold",
        "margin",
        "max_changes",
        "options",
        "closest",
        "text",
        "search",
        "model",
    ];
    s.insert("RecourseResponse".into(), object(answer, &keys));
}

fn schemas(schema: &Schema, example: Value) -> Value {
    let mut s = Map::new();
    s.insert("Customer".into(), customer_schema(schema, example));
    s.insert("Lang".into(), json!({"type": "string", "enum": ["es", "en"]}));
    s.insert(
        "Reference".into(),
        json!({"type": "string", "enum": ["path", "approved", "cutoff"],
               "description": "What the reasons compare the applicant with: path (path-dependent TreeSHAP over the \
                               training population), approved (the model's sample of approved applicants) or cutoff \
                               (those approved just above the cut-off). Default: the server's --reference. A sample \
                               the model does not keep is a 422 naming `reference`; /model lists the available ones."}),
    );
    request_schemas(&mut s);
    answer_schemas(&mut s);
    recourse_schemas(&mut s);
    service_schemas(&mut s);
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{CHILE_TOML, builtin};
    use crate::serve::request::{BATCH_FIELDS, EXPLAIN_FIELDS, PREDICT_FIELDS, RECOURSE_FIELDS};

    fn document() -> Value {
        super::document(&builtin(), json!({}))
    }

    #[test]
    fn the_customer_schema_is_closed_and_follows_the_fields() {
        let c = customer_schema(&builtin(), json!({"age": 45}));
        assert_eq!(c["additionalProperties"], json!(false));
        assert_eq!(c["required"].as_array().unwrap().len(), 16);
        assert_eq!(c["example"], json!({"age": 45}));
        assert_eq!(
            c["properties"]["age"],
            json!({"type": "integer", "minimum": 18, "maximum": 120, "description": "Age"})
        );
        assert_eq!(c["properties"]["delinquency_rate"]["maximum"], json!(1.0));
        assert_eq!(c["properties"]["region"]["enum"].as_array().unwrap().len(), 16);
        assert_eq!(c["properties"]["gender"]["enum"], json!(["f", "m"]));
        let nullable = CHILE_TOML.replace(
            "name = \"gender\"\ntype = \"category\"",
            "name = \"gender\"\ntype = \"category\"\nnullable = true",
        );
        let c = customer_schema(&Schema::from_toml(&nullable).unwrap(), json!({}));
        assert_eq!(c["properties"]["gender"]["type"], json!(["string", "null"]));
        assert_eq!(c["properties"]["gender"]["enum"], json!(["f", "m", null]));
    }

    #[test]
    fn every_reference_resolves_and_every_endpoint_is_described() {
        let doc = document();
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"").skip(1) {
            let target = &piece[..piece.find('"').unwrap()];
            let path: Vec<&str> = target.trim_start_matches("#/").split('/').collect();
            let mut node = &doc;
            for p in &path {
                node = node.get(p).unwrap_or_else(|| panic!("unresolved {target}"));
            }
        }
        let paths = doc["paths"].as_object().unwrap();
        let mut names: Vec<&str> = paths.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "/docs",
                "/explain",
                "/health",
                "/health/live",
                "/health/ready",
                "/metrics",
                "/model",
                "/openapi.json",
                "/predict",
                "/predict/batch",
                "/recourse"
            ]
        );
        assert_eq!(doc["components"]["schemas"]["Lang"]["enum"], json!(["es", "en"]));
    }

    #[test]
    fn request_schemas_list_exactly_the_fields_the_parser_accepts() {
        let doc = document();
        for (name, fields) in [
            ("PredictRequest", PREDICT_FIELDS),
            ("ExplainRequest", EXPLAIN_FIELDS),
            ("BatchRequest", BATCH_FIELDS),
            ("RecourseRequest", RECOURSE_FIELDS),
        ] {
            let props = doc["components"]["schemas"][name]["properties"].as_object().unwrap();
            let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
            let mut want = fields.to_vec();
            keys.sort_unstable();
            want.sort_unstable();
            assert_eq!(keys, want, "{name}");
        }
    }
}
