//! Turning an HTTP request into a validated request value: the body read under a size limit, the
//! content type checked, the JSON parsed by hand (so every failure is our own JSON error), and the
//! top-level fields, the customer(s) (against the loaded model's schema) and the language
//! validated strictly, every problem at once.

use super::body;
use super::errors::ApiError;
use crate::explain::{Lang, Reference};
use crate::schema::json::{self, JsonError};
use crate::schema::{Applicant, FieldError, Schema, json_type};
use actix_web::http::header;
use actix_web::{HttpRequest, web};
use serde_json::{Map, Value};

/// The most customers one `/predict/batch` request may carry.
pub const MAX_BATCH: usize = 1000;
/// The fields each request body may have.
pub const PREDICT_FIELDS: &[&str] = &["customer", "include_explanation", "lang", "reference"];
/// `/explain` always explains: `include_explanation` is accepted (so a `/predict` body works
/// unchanged) and ignored.
pub const EXPLAIN_FIELDS: &[&str] = &["customer", "include_explanation", "lang", "reference"];
pub const BATCH_FIELDS: &[&str] = &["customers", "include_explanation", "lang", "reference"];
/// `/recourse` takes an `/explain` body plus the most fields an option may change.
pub const RECOURSE_FIELDS: &[&str] = &["customer", "include_explanation", "lang", "max_changes"];

/// `POST /recourse`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecourseRequest {
    pub customer: Applicant,
    pub lang: Option<Lang>,
    pub max_changes: usize,
}

/// `POST /predict`.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictRequest {
    pub customer: Applicant,
    pub include_explanation: bool,
    pub lang: Option<Lang>,
    pub reference: Option<Reference>,
}

/// `POST /explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainRequest {
    pub customer: Applicant,
    pub lang: Option<Lang>,
    pub reference: Option<Reference>,
}

/// `POST /predict/batch`: each item validated on its own, so one bad customer fails only itself.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    pub items: Vec<Result<Applicant, Vec<FieldError>>>,
    pub include_explanation: bool,
    pub lang: Option<Lang>,
    pub reference: Option<Reference>,
}

/// Reads the whole body (at most `limit` bytes, within the time `body` allows) and parses it as
/// JSON.
pub async fn read_json(req: &HttpRequest, payload: web::Payload, limit: usize) -> Result<Value, ApiError> {
    check_content_type(req)?;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    let bytes = match payload.to_bytes_limited(limit).await {
        Err(_) => return Err(ApiError::payload_too_large(limit)),
        Ok(Err(e)) if body::is_timeout(&e) => return Err(ApiError::request_timeout(e)),
        Ok(Err(e)) => return Err(ApiError::malformed_json(format!("the body could not be read ({e})"))),
        Ok(Ok(bytes)) => bytes,
    };
    parse_json(&bytes)
}

/// serde_json rejects invalid UTF-8, NaN/Infinity tokens, numbers beyond f64 and nesting deeper
/// than 128 levels, all without recursion trouble: each is a 400. A repeated key is valid JSON
/// but ambiguous (which value counts?): a 422 naming each repeated key.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed_json("the body is empty"));
    }
    json::parse_strict(bytes).map_err(|e| match e {
        JsonError::Syntax(e) => ApiError::malformed_json(e),
        JsonError::DuplicateKeys(paths) => ApiError::validation(
            paths.into_iter().map(|p| FieldError::new(shorten(&p), json::DUPLICATE_KEY)).collect(),
        ),
    })
}

/// JSON or no declared type at all (curl -d without -H is still read as JSON when it parses);
/// anything else, or a charset other than UTF-8, is a 415.
fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().map_err(|_| ApiError::unsupported_media_type("<not ASCII>"))?;
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let json =
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    let utf8 = parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
                || v.trim().trim_matches('"').eq_ignore_ascii_case("utf8")
        }
        _ => true,
    });
    if json && utf8 { Ok(()) } else { Err(ApiError::unsupported_media_type(text)) }
}

/// The request's customers are validated against `schema`, the loaded model's. Without one (the
/// model is still loading) the rest of the request is still checked: its mistakes are a 422, and
/// a request without any is a 503 until the model is in.
pub fn parse_predict(body: &Value, schema: Option<&Schema>) -> Result<PredictRequest, ApiError> {
    let mut f = Fields::of(body, PREDICT_FIELDS, schema)?;
    let customer = f.customer("customer");
    let include_explanation = f.flag("include_explanation");
    let lang = f.lang();
    let reference = f.reference();
    f.finish()?;
    let customer = customer.ok_or_else(|| ApiError::internal("customer neither parsed nor rejected"))?;
    Ok(PredictRequest { customer, include_explanation, lang, reference })
}

pub fn parse_explain(body: &Value, schema: Option<&Schema>) -> Result<ExplainRequest, ApiError> {
    let mut f = Fields::of(body, EXPLAIN_FIELDS, schema)?;
    let customer = f.customer("customer");
    let _always_explained = f.flag("include_explanation");
    let lang = f.lang();
    let reference = f.reference();
    f.finish()?;
    let customer = customer.ok_or_else(|| ApiError::internal("customer neither parsed nor rejected"))?;
    Ok(ExplainRequest { customer, lang, reference })
}

pub fn parse_recourse(body: &Value, schema: Option<&Schema>) -> Result<RecourseRequest, ApiError> {
    use crate::recourse::{DEFAULT_MAX_CHANGES, MAX_CHANGES_LIMIT};
    let mut f = Fields::of(body, RECOURSE_FIELDS, schema)?;
    let customer = f.customer("customer");
    let _always_explained = f.flag("include_explanation");
    let lang = f.lang();
    let max_changes = match f.object.get("max_changes") {
        None => DEFAULT_MAX_CHANGES,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|k| (1..=MAX_CHANGES_LIMIT as u64).contains(&k)) => {
            n.as_u64().unwrap_or(1) as usize
        }
        Some(other) => {
            let got = if other.is_number() { other.to_string() } else { json_type(other).to_string() };
            f.errors.push(FieldError::new(
                "max_changes",
                format!("must be an integer from 1 to {MAX_CHANGES_LIMIT}, got {got}"),
            ));
            DEFAULT_MAX_CHANGES
        }
    };
    f.finish()?;
    let customer = customer.ok_or_else(|| ApiError::internal("customer neither parsed nor rejected"))?;
    Ok(RecourseRequest { customer, lang, max_changes })
}

/// The batch's shape (an array of 1..=1000 objects) is checked for the whole request; each
/// object's fields are checked on their own.
pub fn parse_batch(body: &Value, schema: Option<&Schema>) -> Result<BatchRequest, ApiError> {
    let mut f = Fields::of(body, BATCH_FIELDS, schema)?;
    let items = f.customer_list("customers");
    let include_explanation = f.flag("include_explanation");
    let lang = f.lang();
    let reference = f.reference();
    f.finish()?;
    let items = items.ok_or_else(|| ApiError::internal("customers neither parsed nor rejected"))?;
    Ok(BatchRequest { items, include_explanation, lang, reference })
}

/// The `lang` query parameter: absent, `es` or `en` (exactly); anything else is a 422.
pub fn query_lang(query: &str) -> Result<Option<Lang>, ApiError> {
    if query.is_empty() {
        return Ok(None);
    }
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query).map_err(|e| {
        ApiError::validation(vec![FieldError::new("query", format!("is not a valid query string: {e}"))])
    })?;
    let mut found = None;
    for (_, value) in pairs.0.iter().filter(|(k, _)| k == "lang") {
        match exact_lang(value) {
            Some(lang) => found = found.or(Some(lang)),
            None => {
                return Err(ApiError::validation(vec![FieldError::new(
                    "query.lang",
                    format!("must be \"es\" or \"en\", got {:?}", shorten(value)),
                )]));
            }
        }
    }
    Ok(found)
}

/// The answer's language: the body's `lang`, else `?lang=`, else `Accept-Language`, else Spanish.
pub fn resolve_lang(body: Option<Lang>, query: Option<Lang>, req: &HttpRequest) -> Lang {
    body.or(query)
        .or_else(|| {
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default()
}

fn exact_lang(s: &str) -> Option<Lang> {
    match s {
        "es" => Some(Lang::Es),
        "en" => Some(Lang::En),
        _ => None,
    }
}

/// At most 60 characters of a client's value, for messages.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 60 { s.to_string() } else { s.chars().take(59).collect::<String>() + "…" }
}

/// The top-level object of a request body, collecting every field error before answering.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
    /// The schema customers are checked against; None while the model loads.
    schema: Option<&'a Schema>,
}

impl<'a> Fields<'a> {
    fn of(body: &'a Value, allowed: &[&str], schema: Option<&'a Schema>) -> Result<Fields<'a>, ApiError> {
        let Some(object) = body.as_object() else {
            return Err(ApiError::validation(vec![FieldError::new(
                "body",
                format!(
                    "must be a JSON object with the fields {}, got {}",
                    allowed.join(", "),
                    json_type(body)
                ),
            )]));
        };
        let errors = object
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| {
                FieldError::new(
                    shorten(k),
                    format!("is not a field of this request; allowed: {}", allowed.join(", ")),
                )
            })
            .collect();
        Ok(Fields { object, errors, schema })
    }

    fn customer(&mut self, key: &str) -> Option<Applicant> {
        match self.object.get(key) {
            None => {
                self.errors.push(FieldError::new(key, "is required"));
                None
            }
            Some(value) => match customer_at(key, value, self.schema) {
                Ok(a) => a,
                Err(errors) => {
                    self.errors.extend(errors);
                    None
                }
            },
        }
    }

    fn customer_list(&mut self, key: &str) -> Option<Vec<Result<Applicant, Vec<FieldError>>>> {
        let items = match self.object.get(key) {
            None => {
                self.errors.push(FieldError::new(key, "is required"));
                return None;
            }
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.errors.push(FieldError::new(
                    key,
                    format!("must be an array of customers, got {}", json_type(other)),
                ));
                return None;
            }
        };
        if items.is_empty() || items.len() > MAX_BATCH {
            self.errors.push(FieldError::new(
                key,
                format!("must hold 1 to {MAX_BATCH} customers, got {}", items.len()),
            ));
            return None;
        }
        let not_objects: Vec<FieldError> = items
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_object())
            .map(|(i, v)| {
                FieldError::new(
                    format!("{key}[{i}]"),
                    format!("must be a customer object, got {}", json_type(v)),
                )
            })
            .collect();
        if !not_objects.is_empty() {
            self.errors.extend(not_objects);
            return None;
        }
        let schema = self.schema?;
        Some(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| validate_customer(&format!("{key}[{i}]"), v, schema))
                .collect(),
        )
    }

    /// An optional boolean, strictly: `0`, `"yes"` and `null` are not booleans.
    fn flag(&mut self, key: &str) -> bool {
        match self.object.get(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.errors
                    .push(FieldError::new(key, format!("must be true or false, got {}", json_type(other))));
                false
            }
        }
    }

    fn lang(&mut self) -> Option<Lang> {
        match self.object.get("lang") {
            None => None,
            Some(Value::String(s)) => exact_lang(s).or_else(|| {
                self.errors
                    .push(FieldError::new("lang", format!("must be \"es\" or \"en\", got {:?}", shorten(s))));
                None
            }),
            Some(other) => {
                self.errors.push(FieldError::new(
                    "lang",
                    format!("must be \"es\" or \"en\", got {}", json_type(other)),
                ));
                None
            }
        }
    }

    /// What the explanation compares with: absent, "path", "approved" or "cutoff" (whether the
    /// loaded model keeps that sample is checked when it answers).
    fn reference(&mut self) -> Option<Reference> {
        let got = match self.object.get("reference") {
            None => return None,
            Some(Value::String(s)) => match s.parse() {
                Ok(r) => return Some(r),
                Err(_) => format!("{:?}", shorten(s)),
            },
            Some(other) => json_type(other).to_string(),
        };
        let message = format!("must be \"path\", \"approved\" or \"cutoff\", got {got}");
        self.errors.push(FieldError::new("reference", message));
        None
    }

    /// Every problem found, or 503 when the customers could not be checked for want of a model.
    fn finish(self) -> Result<(), ApiError> {
        match (self.errors.is_empty(), self.schema) {
            (false, _) => Err(ApiError::validation(self.errors)),
            (true, None) => Err(ApiError::model_unavailable()),
            (true, Some(_)) => Ok(()),
        }
    }
}

/// A customer object at `path` (`customer`, `customers[3]`), its field errors named under it;
/// `Ok(None)` when there is no schema to check it against yet.
fn customer_at(
    path: &str,
    value: &Value,
    schema: Option<&Schema>,
) -> Result<Option<Applicant>, Vec<FieldError>> {
    if !value.is_object() {
        let n = schema.map_or(String::new(), |s| format!(" with the {} applicant fields", s.n_fields()));
        return Err(vec![FieldError::new(
            path,
            format!("must be a JSON object{n}, got {}", json_type(value)),
        )]);
    }
    match schema {
        Some(schema) => validate_customer(path, value, schema).map(Some),
        None => Ok(None),
    }
}

fn validate_customer(path: &str, value: &Value, schema: &Schema) -> Result<Applicant, Vec<FieldError>> {
    schema.parse_applicant(value).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| FieldError { field: format!("{path}.{}", shorten(&e.field)), message: e.message })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin;
    use serde_json::json;

    fn parse_predict(body: &Value) -> Result<PredictRequest, ApiError> {
        super::parse_predict(body, Some(&builtin()))
    }

    fn parse_explain(body: &Value) -> Result<ExplainRequest, ApiError> {
        super::parse_explain(body, Some(&builtin()))
    }

    fn parse_batch(body: &Value) -> Result<BatchRequest, ApiError> {
        super::parse_batch(body, Some(&builtin()))
    }

    /// The seed's example customer, defined once in examples/customer.json.
    fn customer() -> Value {
        let body: Value = serde_json::from_str(include_str!("../../examples/customer.json")).unwrap();
        body["customer"].clone()
    }

    fn fields_of(e: ApiError) -> Vec<String> {
        assert_eq!(e.error, "validation", "{e:?}");
        e.details.into_iter().map(|d| d.field).collect()
    }

    #[test]
    fn a_valid_predict_request_parses_with_defaults() {
        let r = parse_predict(&json!({"customer": customer()})).unwrap();
        assert!(!r.include_explanation);
        assert_eq!(r.lang, None);
        let r = parse_predict(&json!({"customer": customer(), "include_explanation": true, "lang": "en"}))
            .unwrap();
        assert!(r.include_explanation);
        assert_eq!(r.lang, Some(Lang::En));
    }

    #[test]
    fn every_problem_is_named_at_once_with_its_path() {
        let mut c = customer();
        c["income"] = json!(false);
        c.as_object_mut().unwrap().remove("age");
        c["nickname"] = json!("x");
        let body = json!({"customer": c, "include_explanation": 0, "lang": "fr", "extra": 1});
        let fields = fields_of(parse_predict(&body).unwrap_err());
        assert_eq!(
            fields,
            ["extra", "customer.age", "customer.income", "customer.nickname", "include_explanation", "lang"]
        );
    }

    #[test]
    fn strict_types_for_the_flag_and_the_language() {
        for bad in [json!("yes"), json!(0), json!(null), json!(1)] {
            let e = parse_predict(&json!({"customer": customer(), "include_explanation": bad})).unwrap_err();
            assert_eq!(fields_of(e), ["include_explanation"]);
        }
        for bad in [json!("ES"), json!(" es"), json!("es-CL"), json!(1), json!(null)] {
            let e = parse_explain(&json!({"customer": customer(), "lang": bad})).unwrap_err();
            assert_eq!(fields_of(e), ["lang"]);
        }
    }

    #[test]
    fn explain_takes_the_predict_body_but_rejects_non_objects() {
        for flag in [true, false] {
            let r = parse_explain(&json!({"customer": customer(), "include_explanation": flag})).unwrap();
            assert_eq!(r, parse_explain(&json!({"customer": customer()})).unwrap());
        }
        let e = parse_explain(&json!({"customer": customer(), "include_explanation": "yes"})).unwrap_err();
        assert_eq!(fields_of(e), ["include_explanation"]);
        assert_eq!(fields_of(parse_explain(&json!([1, 2])).unwrap_err()), ["body"]);
        assert_eq!(fields_of(parse_explain(&json!({})).unwrap_err()), ["customer"]);
        assert_eq!(fields_of(parse_explain(&json!({"customer": [customer()]})).unwrap_err()), ["customer"]);
    }

    #[test]
    fn batch_items_fail_alone_but_the_shape_fails_the_request() {
        let mut bad = customer();
        bad["age"] = json!(17);
        let r = parse_batch(&json!({"customers": [customer(), bad]})).unwrap();
        assert!(r.items[0].is_ok());
        assert_eq!(r.items[1].as_ref().unwrap_err()[0].field, "customers[1].age");

        assert_eq!(fields_of(parse_batch(&json!({"customers": []})).unwrap_err()), ["customers"]);
        let too_many = vec![customer(); MAX_BATCH + 1];
        assert_eq!(fields_of(parse_batch(&json!({"customers": too_many})).unwrap_err()), ["customers"]);
        let e = parse_batch(&json!({"customers": [customer(), 3, null]})).unwrap_err();
        assert_eq!(fields_of(e), ["customers[1]", "customers[2]"]);
        assert_eq!(fields_of(parse_batch(&json!({"customers": {}})).unwrap_err()), ["customers"]);
    }

    /// While the model loads there is no schema: the envelope is still checked (a 422 needs no
    /// model), and a request that could be valid waits for the model (503).
    #[test]
    fn without_a_schema_only_the_envelope_is_checked() {
        let e = super::parse_predict(&json!({"customer": {}, "extra": 1}), None).unwrap_err();
        assert_eq!(fields_of(e), ["extra"]);
        let e = super::parse_explain(&json!({"customer": 3}), None).unwrap_err();
        assert_eq!(fields_of(e), ["customer"]);
        let e = super::parse_predict(&json!({"customer": {"age": "x"}}), None).unwrap_err();
        assert_eq!(e.error, "model_unavailable");
        let e = super::parse_batch(&json!({"customers": [{}]}), None).unwrap_err();
        assert_eq!(e.error, "model_unavailable");
    }

    #[test]
    fn the_query_language_is_exact() {
        assert_eq!(query_lang("").unwrap(), None);
        assert_eq!(query_lang("lang=en").unwrap(), Some(Lang::En));
        assert_eq!(query_lang("x=1&lang=es").unwrap(), Some(Lang::Es));
        assert_eq!(query_lang("other=fr").unwrap(), None);
        for bad in ["lang=fr", "lang=", "lang=EN", "lang=es&lang=zz"] {
            assert_eq!(fields_of(query_lang(bad).unwrap_err()), ["query.lang"], "{bad}");
        }
    }

    #[test]
    fn malformed_bodies_are_400s() {
        let deep = "[".repeat(100_000);
        for bad in
            [&b""[..], b"  ", b"{", b"{\"a\": NaN}", b"[Infinity]", b"1e400", b"\xff\xfe", deep.as_bytes()]
        {
            assert_eq!(
                parse_json(bad).unwrap_err().error,
                "malformed_json",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_json(b"{\"a\": 1}").unwrap(), json!({"a": 1}));
    }

    /// serde_json alone keeps the last `age`: the request would be scored on a value the client
    /// may not have meant. Both repeated keys are named, as a validation error.
    #[test]
    fn repeated_keys_are_a_validation_error_naming_each_key() {
        let body = br#"{"customer": {"age": 45, "age": 17}, "lang": "es", "lang": "en"}"#;
        let e = parse_json(body).unwrap_err();
        assert_eq!(e.status, actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields_of(e), ["customer.age", "lang"]);
    }
}
