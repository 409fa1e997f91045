//! What every worker shares: the model slot (empty while loading, then set once), the metrics,
//! the audit log, the body's size and time limits, and the answers to `GET /model`,
//! `GET /health` and `GET /openapi.json` (which describes the model's own applicants),
//! serialized once when the model arrives.

use super::audit::AuditLog;
use super::contention::Contention;
use super::logging::LogSink;
use super::metrics::{Metrics, ModelLabels};
use super::openapi;
use crate::explain::Explainer;
use crate::features::Encoder;
use crate::model::Model;
use crate::recourse::Planner;
use crate::schema::{Group, Kind};
use actix_web::web::Bytes;
use serde_json::{Map, Value, json};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The loaded model, its explainer and its precomputed metadata answers.
pub struct Loaded {
    pub explainer: Explainer,
    pub labels: ModelLabels,
    pub model_json: Bytes,
    pub health_json: Bytes,
    pub openapi_json: Bytes,
    /// Explanations running over every worker (whether one may take both cores).
    pub contention: Contention,
    /// Recourse over the same model.
    pub planner: Planner,
}

impl Loaded {
    pub fn new(explainer: Explainer) -> Loaded {
        let model = explainer.model();
        let model_ref = explainer.model_ref();
        let labels = ModelLabels {
            run_id: model_ref.run_id.clone().unwrap_or_default(),
            uri: model_ref.uri.clone(),
            method: explainer.method().to_string(),
            n_trees: model.forest.trees.len(),
        };
        let summary = json!({"run_id": model_ref.run_id, "uri": model_ref.uri, "method": explainer.method()});
        let health = json!({"status": "ok", "model": summary});
        let info = &model.info;
        let metadata = json!({
            "run_id": model_ref.run_id,
            "uri": model_ref.uri,
            "method": explainer.method(),
            "threshold": model.threshold,
            "n_trees": model.forest.trees.len(),
            "n_features": model.forest.n_features,
            "credrisk_version": info.credrisk_version,
            "created_ms": info.created_ms,
            "n_train": info.n_train,
            "data_sha256": info.data_sha256,
            "params": object_or_empty(&info.params),
            "metrics": object_or_empty(&info.metrics),
            "feature_schema": model.encoder.schema_json(),
            "schema": model.schema().to_json(),
        });
        let document = openapi::document(model.schema(), example_customer(model));
        Loaded {
            planner: Planner::new(Arc::clone(explainer.shared_model())),
            labels,
            model_json: Bytes::from(serde_json::to_vec(&metadata).unwrap_or_default()),
            health_json: Bytes::from(serde_json::to_vec(&health).unwrap_or_default()),
            openapi_json: Bytes::from(serde_json::to_vec(&document).unwrap_or_default()),
            explainer,
            contention: Contention::default(),
        }
    }
}

/// The OpenAPI document's example: the seed's example customer (`examples/customer.json`, the
/// one the docs, the demo and the tests use) where the model's schema accepts it, as the built-in
/// one does; otherwise a typical applicant of the model.
fn example_customer(model: &Model) -> Value {
    let body: Value = serde_json::from_str(include_str!("../../examples/customer.json")).unwrap_or_default();
    match model.schema().parse_applicant(&body["customer"]) {
        Ok(_) => body["customer"].clone(),
        Err(_) => typical_customer(&model.encoder),
    }
}

/// A typical applicant of the model: each field's training
/// median (numbers) or most frequent category; an excluded field (no training statistics) its
/// first category, or the number nearest 0 its range allows.
fn typical_customer(encoder: &Encoder) -> Value {
    let schema = encoder.schema();
    let mut customer = Map::new();
    for (i, field) in schema.fields().enumerate() {
        let stats = encoder.groups().iter().position(|&g| g == Group::Field(i)).map(|p| encoder.stats(p));
        let most_frequent = stats.and_then(|s| {
            let top = s.category_counts.iter().enumerate().max_by_key(|(k, n)| (**n, std::cmp::Reverse(*k)));
            top.map(|(k, _)| k as f64)
        });
        let median = stats.map(|s| s.median).filter(|m| m.is_finite());
        let raw = match &field.kind {
            Kind::Category(_) | Kind::Ordered(_) | Kind::Boolean => most_frequent.unwrap_or(0.0),
            Kind::Integer { min, max } => median.map_or(0.0, f64::round).clamp(*min as f64, *max as f64),
            Kind::Number { min, max } => median.unwrap_or(0.0).clamp(*min, *max),
            Kind::Text => f64::NAN,
        };
        customer.insert(field.name.clone(), field.value_of(raw).to_json());
    }
    Value::Object(customer)
}

/// Models written before params/metrics were recorded carry `null`: answer `{}` instead.
fn object_or_empty(v: &serde_json::Value) -> serde_json::Value {
    if v.is_object() { v.clone() } else { json!({}) }
}

pub struct State {
    model: OnceLock<Arc<Loaded>>,
    pub metrics: Metrics,
    pub audit: Option<AuditLog>,
    pub body_limit: usize,
    /// The longest a request body may take to arrive.
    pub body_timeout: Duration,
    pub log: Option<&'static LogSink>,
    /// The latest denials, for the page's review queue.
    pub queue: super::page::Queue,
}

impl State {
    pub fn new(
        audit: Option<AuditLog>,
        body_limit: usize,
        body_timeout: Duration,
        log: Option<&'static LogSink>,
    ) -> State {
        State {
            model: OnceLock::new(),
            metrics: Metrics::default(),
            audit,
            body_limit,
            body_timeout,
            log,
            queue: Default::default(),
        }
    }

    /// The model, once loaded.
    pub fn model(&self) -> Option<&Arc<Loaded>> {
        self.model.get()
    }

    /// Publishes the model to every worker (the first call wins; later ones are ignored).
    pub fn set_model(&self, loaded: Loaded) {
        let _ = self.model.set(Arc::new(loaded));
    }

    pub fn run_id(&self) -> Option<&str> {
        self.model().and_then(|m| m.explainer.model_ref().run_id.as_deref())
    }
}
