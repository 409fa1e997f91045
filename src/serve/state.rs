//! What every worker shares: the model slot (empty while loading, then set once), the metrics,
//! the audit log, the body's size and time limits, and the answers to `GET /model` and
//! `GET /health`, serialized once when the model arrives.

use super::audit::AuditLog;
use super::contention::Contention;
use super::logging::LogSink;
use super::metrics::{Metrics, ModelLabels};
use crate::explain::Explainer;
use actix_web::web::Bytes;
use serde_json::json;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The loaded model, its explainer and its precomputed metadata answers.
pub struct Loaded {
    pub explainer: Explainer,
    pub labels: ModelLabels,
    pub model_json: Bytes,
    pub health_json: Bytes,
    /// Explanations running over every worker (whether one may take both cores).
    pub contention: Contention,
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
        });
        Loaded {
            labels,
            model_json: Bytes::from(serde_json::to_vec(&metadata).unwrap_or_default()),
            health_json: Bytes::from(serde_json::to_vec(&health).unwrap_or_default()),
            explainer,
            contention: Contention::default(),
        }
    }
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
}

impl State {
    pub fn new(
        audit: Option<AuditLog>,
        body_limit: usize,
        body_timeout: Duration,
        log: Option<&'static LogSink>,
    ) -> State {
        State { model: OnceLock::new(), metrics: Metrics::default(), audit, body_limit, body_timeout, log }
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
