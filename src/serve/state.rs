//! What every worker shares: the model slot (empty while loading, then swapped whole when a
//! watched alias moves), the metrics of every model served, the registry's status, the audit log,
//! the API keys, the body's size and time limits, and the answers to `GET /model`,
//! `GET /health` and `GET /openapi.json` (which describes the model's own applicants),
//! serialized once when the model arrives.

use super::audit::{AuditLog, now_rfc3339};
use super::auth::KeyRing;
use super::combine::Combiner;
use super::contention::Contention;
use super::logging::LogSink;
use super::metrics::{Metrics, ModelLabels};
use super::openapi;
use super::watch::Registry;
use crate::explain::Explainer;
use crate::features::Encoder;
use crate::model::Model;
use crate::recourse::Planner;
use crate::schema::{Group, Kind};
use actix_web::web::Bytes;
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Models whose metrics are kept after they stop answering (their counters stay in `/metrics`, so
/// a rollout's before and after are both visible); the oldest is forgotten past this.
const MODELS_KEPT: usize = 16;

/// The loaded model, its explainer and its precomputed metadata answers.
pub struct Loaded {
    pub explainer: Explainer,
    pub labels: ModelLabels,
    pub model_json: Bytes,
    /// What `/health/ready` says about the model (run, URI, name, version, method).
    pub summary: Value,
    pub openapi_json: Bytes,
    /// Explanations running over every worker (whether one may take both cores).
    pub contention: Contention,
    /// Concurrent explanations, computed together.
    pub combiner: Combiner,
    /// Recourse over the same model.
    pub planner: Planner,
    /// The requests and decisions this model answered.
    pub metrics: Arc<Metrics>,
    /// When it was loaded, seconds since the Unix epoch.
    pub loaded_at: f64,
}

impl Loaded {
    pub fn new(explainer: Explainer) -> Loaded {
        let model = explainer.model();
        let model_ref = explainer.model_ref();
        let labels = ModelLabels {
            name: model_ref.name.clone().unwrap_or_default(),
            version: model_ref.version.map(|v| v.to_string()).unwrap_or_default(),
            run_id: model_ref.run_id.clone().unwrap_or_default(),
            uri: model_ref.uri.clone(),
            method: explainer.method().to_string(),
            n_trees: model.forest.trees.len(),
        };
        let loaded_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let mut summary =
            json!({"run_id": model_ref.run_id, "uri": model_ref.uri, "method": explainer.method()});
        // Like the answers' `model`: name and version only for a model from the registry.
        if let (Some(name), Some(version)) = (&model_ref.name, model_ref.version) {
            summary["name"] = name.as_str().into();
            summary["version"] = version.into();
        }

        let info = &model.info;
        let metadata = json!({
            "run_id": model_ref.run_id,
            "uri": model_ref.uri,
            "name": model_ref.name,
            "version": model_ref.version,
            "loaded_at": now_rfc3339(),
            "method": explainer.method(),
            "reference": explainer.default_reference(),
            "references": explainer.references(),
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
            summary,
            openapi_json: Bytes::from(serde_json::to_vec(&document).unwrap_or_default()),
            explainer,
            contention: Contention::default(),
            combiner: Combiner::default(),
            metrics: Arc::default(),
            loaded_at,
        }
    }
}

impl Loaded {
    /// Scores and explains the document's example customer: a model that cannot (a payload that
    /// reads but answers nonsense) is not put in front of clients.
    pub fn smoke_test(&self) -> Result<(), String> {
        let model = self.explainer.model();
        let customer = model
            .schema()
            .parse_applicant(&example_customer(model))
            .map_err(|_| "its schema rejects its own example customer".to_string())?;
        let answer = self.explainer.explain(&customer, Default::default()).map_err(|e| e.to_string())?;
        if !(0.0..=1.0).contains(&answer.probability)
            || !answer.additivity_error.is_finite()
            || answer.additivity_error > 1e-6
        {
            return Err(format!(
                "its example answer is not sound (probability {}, additivity error {})",
                answer.probability, answer.additivity_error
            ));
        }
        Ok(())
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
    model: RwLock<Option<Arc<Loaded>>>,
    /// Requests answered while no model was loaded.
    pub metrics: Arc<Metrics>,
    /// Every model served (newest last), with its metrics.
    served: Mutex<Vec<(ModelLabels, Arc<Metrics>)>>,
    pub audit: Option<AuditLog>,
    pub body_limit: usize,
    /// The longest a request body may take to arrive.
    pub body_timeout: Duration,
    pub log: Option<&'static LogSink>,
    /// The latest denials, for the page's review queue.
    pub queue: super::page::Queue,
    /// The registry a watched alias is polled in (None: the model is fixed).
    pub registry: Option<Registry>,
    /// Set by SIGTERM: not ready any more, finishing what it holds.
    draining: AtomicBool,
    /// The API keys every endpoint but the health checks and `/metrics` requires (None: open).
    pub keys: Option<KeyRing>,
}

impl State {
    pub fn new(
        audit: Option<AuditLog>,
        body_limit: usize,
        body_timeout: Duration,
        log: Option<&'static LogSink>,
    ) -> State {
        State {
            model: RwLock::new(None),
            metrics: Arc::default(),
            served: Mutex::default(),
            audit,
            body_limit,
            body_timeout,
            log,
            queue: Default::default(),
            registry: None,
            draining: AtomicBool::new(false),
            keys: None,
        }
    }

    /// The model answering now (a request keeps the one it started with, see `observe`).
    pub fn model(&self) -> Option<Arc<Loaded>> {
        self.model.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes `loaded` to every worker at once; requests holding the previous one finish on it.
    /// A model served before (a rollback) continues its own metrics. Returns the previous model.
    pub fn set_model(&self, mut loaded: Loaded) -> Option<Arc<Loaded>> {
        {
            let mut served = self.served.lock().unwrap_or_else(|p| p.into_inner());
            let same = |l: &ModelLabels| {
                (&l.name, &l.version, &l.run_id, &l.uri)
                    == (
                        &loaded.labels.name,
                        &loaded.labels.version,
                        &loaded.labels.run_id,
                        &loaded.labels.uri,
                    )
            };
            match served.iter().position(|(l, _)| same(l)) {
                Some(i) => {
                    let (labels, metrics) = served.remove(i);
                    loaded.metrics = Arc::clone(&metrics);
                    served.push((labels, metrics));
                }
                None => served.push((loaded.labels.clone(), Arc::clone(&loaded.metrics))),
            }
            let excess = served.len().saturating_sub(MODELS_KEPT);
            served.drain(..excess);
        }
        let mut slot = self.model.write().unwrap_or_else(|p| p.into_inner());
        slot.replace(Arc::new(loaded))
    }

    /// Every model served so far, oldest first, with its metrics.
    pub fn served(&self) -> Vec<(ModelLabels, Arc<Metrics>)> {
        self.served.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// SIGTERM: readiness fails from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::data::generate::generate_table;
    use crate::explain::ModelRef;
    use crate::forest::{ForestParams, MaxFeatures};
    use crate::model::ModelInfo;

    /// A small model: 4 trees of depth 4 on 2,000 generated rows.
    pub(in crate::serve) fn small_model() -> Arc<Model> {
        let table = generate_table(2000, 3).unwrap();
        let encoder = Encoder::fit(&table).unwrap();
        let params = ForestParams {
            n_estimators: 4,
            max_depth: Some(4),
            max_features: MaxFeatures::Sqrt,
            seed: 1,
            ..ForestParams::default()
        };
        let columns = encoder.encode_columns(&table);
        let forest = crate::forest::fit(&params, &columns, table.approved.as_deref().unwrap(), &|_| {})
            .unwrap()
            .forest;
        Arc::new(Model { encoder, forest, threshold: 0.5, info: ModelInfo::default() })
    }

    /// A small model served as `version` of a registered model trained in run `run`.
    pub(in crate::serve) fn loaded(model: &Arc<Model>, version: u32, run: &str) -> Loaded {
        let model_ref = ModelRef {
            run_id: Some(run.into()),
            uri: "models:/m@champion".into(),
            name: Some("m".into()),
            version: Some(version),
        };
        Loaded::new(Explainer::new(Arc::clone(model), model_ref, None).unwrap())
    }

    #[test]
    fn a_swap_keeps_requests_on_their_model_and_each_models_counters() {
        let model = small_model();
        let state = State::new(None, 1024, Duration::from_secs(1), None);
        assert!(state.set_model(loaded(&model, 1, "r1")).is_none());
        let v1 = loaded(&model, 1, "r1");
        assert!(v1.smoke_test().is_ok());
        let pinned = state.model().unwrap();
        pinned.metrics.record_decision(0, true, false);

        let previous = state.set_model(loaded(&model, 2, "r2")).unwrap();
        assert!(Arc::ptr_eq(&previous, &pinned), "the swap returns the model requests still hold");
        assert_eq!(pinned.labels.version, "1", "a request pinned before the swap keeps v1");
        assert_eq!(state.model().unwrap().labels.version, "2");
        // A rollback to v1 continues v1's counters; each model is listed once, newest last.
        state.set_model(v1);
        let served: Vec<String> = state.served().iter().map(|(l, _)| l.version.clone()).collect();
        assert_eq!(served, ["2", "1"]);
        assert!(Arc::ptr_eq(&state.model().unwrap().metrics, &pinned.metrics));
        for v in 3..(MODELS_KEPT as u32 + 5) {
            state.set_model(loaded(&model, v, "r"));
        }
        assert_eq!(state.served().len(), MODELS_KEPT, "old models' counters are forgotten");
    }
}
