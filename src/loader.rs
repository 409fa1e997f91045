//! Loading what the answering subcommands need: a model found through an MLflow URI, and what
//! its explanations compare with (its reference samples, an optional background file). Shared
//! by `explain`, `encode`, `export-forest`, `score`, `report` and `serve`.

use crate::data::{self, ApplicantTable};
use crate::error::{Error, Result};
use crate::explain::{self, Explainer, ModelRef, Reference};
use crate::model::{Model, PAYLOAD_FILE};
use crate::schema::Schema;
use crate::tracking;
use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Default and largest background sample for interventional SHAP.
pub const DEFAULT_BACKGROUND_ROWS: usize = 200;
pub const MAX_BACKGROUND_ROWS: usize = 5000;

/// A model that was resolved and whose payload header was checked, not yet read: what a service
/// finds before binding, so a wrong URI or a truncated file is one line at start-up.
#[derive(Debug, Clone)]
pub struct FoundModel(tracking::ResolvedModel);

impl FoundModel {
    /// What was resolved, as a URI.
    pub fn uri(&self) -> &str {
        &self.0.uri
    }

    /// The same model under another URI: a pinned version found for `models:/NAME@ALIAS` keeps
    /// the alias as the URI its answers name (the version is named beside it).
    pub fn named(mut self, uri: &str) -> FoundModel {
        self.0.uri = uri.to_string();
        self
    }

    /// The registered model's name and version, when found through the registry.
    pub fn registered(&self) -> Option<&(String, u32)> {
        self.0.registered.as_ref()
    }

    /// The run that produced the model, when known.
    pub fn run_id(&self) -> Option<&str> {
        self.0.run_id.as_deref()
    }

    /// The local model directory (what sits beside the payload: `reference.json`).
    pub fn dir(&self) -> &Path {
        &self.0.dir
    }
}

/// Resolves `model_uri` (a directory, `runs:/…`, `models:/…`, or None = latest FINISHED run) and
/// checks its payload without reading the body ([`Model::check_file`]).
pub fn find_model(model_uri: Option<&str>, tracking_uri: Option<&str>) -> Result<FoundModel> {
    let resolved = tracking::resolve_model(model_uri, tracking_uri)?;
    Model::check_file(&resolved.dir)?;
    Ok(FoundModel(resolved))
}

/// Reads a found model (the same one even if its alias moved since).
pub fn load_found(found: FoundModel) -> Result<(Arc<Model>, ModelRef)> {
    let model = Model::load(&found.0.dir)?;
    check_trained_in(&model, &found.0)?;
    let (name, version) = found.0.registered.map_or((None, None), |(n, v)| (Some(n), Some(v)));
    Ok((Arc::new(model), ModelRef { run_id: found.0.run_id, uri: found.0.uri, name, version }))
}

/// Resolves `model_uri` and loads the model, which must have been trained in the run the URI
/// leads to.
pub fn load_model(model_uri: Option<&str>, tracking_uri: Option<&str>) -> Result<(Arc<Model>, ModelRef)> {
    load_found(find_model(model_uri, tracking_uri)?)
}

/// The payload names the run it was trained in; a run (or registry version) whose directory
/// holds another run's payload would answer with the wrong model under the right name.
fn check_trained_in(model: &Model, resolved: &tracking::ResolvedModel) -> Result<()> {
    match (&resolved.run_id, &model.info.run_id) {
        (Some(expected), Some(actual)) if expected != actual => Err(Error::bad_file(
            resolved.dir.join(PAYLOAD_FILE),
            format!(
                "this model was trained in run {actual}, but {} belongs to run {expected}: the run holds \
                 another run's model; use runs:/{actual}/model or retrain",
                resolved.uri
            ),
        )),
        _ => Ok(()),
    }
}

/// A seeded sample of `n` applicants from a file read with the model's `schema`, in file order;
/// every row when the file has no more than `n` (so an external tool can reproduce the exact
/// background).
pub fn load_background(path: &Path, n: usize, seed: u64, schema: &Arc<Schema>) -> Result<ApplicantTable> {
    if n == 0 || n > MAX_BACKGROUND_ROWS {
        return Err(Error::Usage(format!(
            "background sample size must be 1..={MAX_BACKGROUND_ROWS}, got {n}"
        )));
    }
    let table = data::read_table(path, schema)?;
    if table.is_empty() {
        return Err(Error::bad_file(path, "has no rows to use as background"));
    }
    if table.len() <= n {
        return Ok(table);
    }
    let mut picked = index::sample(&mut ChaCha8Rng::seed_from_u64(seed), table.len(), n).into_vec();
    picked.sort_unstable();
    Ok(table.subset(&picked))
}

/// Where interventional SHAP's background comes from: a seeded sample of `rows` applicants of
/// the file at `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct Background {
    pub path: PathBuf,
    pub rows: usize,
    pub seed: u64,
}

/// What explanations compare with: the default reference (None: the background when a file is
/// given, else path-dependent), and a background file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Compare {
    pub reference: Option<Reference>,
    pub background: Option<Background>,
}

impl Compare {
    /// The reference answers use when a request names none.
    pub fn default_reference(&self) -> Reference {
        match (self.reference, &self.background) {
            (Some(r), _) => r,
            (None, Some(_)) => Reference::Background,
            (None, None) => Reference::Path,
        }
    }
}

/// The model and its explainer (see [`explainer_of`]).
pub fn load_explainer(
    model_uri: Option<&str>,
    tracking_uri: Option<&str>,
    compare: &Compare,
) -> Result<Explainer> {
    explainer_of(find_model(model_uri, tracking_uri)?, compare)
}

/// A found model's explainer: path-dependent, plus one interventional explainer per reference
/// sample the model directory keeps and one for the background file when given; the default as
/// `compare` says. A default sample the model lacks is an error naming the missing file.
pub fn explainer_of(found: FoundModel, compare: &Compare) -> Result<Explainer> {
    let dir = found.dir().to_path_buf();
    let (model, model_ref) = load_found(found)?;
    explainer_for(model, model_ref, &dir, compare)
}

/// [`explainer_of`] for a model already read from `dir`.
pub fn explainer_for(
    model: Arc<Model>,
    model_ref: ModelRef,
    dir: &Path,
    compare: &Compare,
) -> Result<Explainer> {
    let mut samples = explain::load_samples(dir, &model)?;
    let default = compare.default_reference();
    if default.file().is_some() && !samples.iter().any(|(r, _)| *r == default) {
        explain::load_sample(dir, default, &model)?;
    }
    if let Some(b) = &compare.background {
        samples.push((Reference::Background, load_background(&b.path, b.rows, b.seed, model.schema())?));
    }
    Explainer::with_references(model, model_ref, samples, default)
}
