//! The model card: what the model is for and not for, what it was trained on (rows, label
//! definition, base rate), its hyperparameters, the SHA-256 of its artifacts and the credrisk
//! version that wrote it.

use super::doc::{Block, Section, Table};
use super::inputs::{Inputs, Scope};
use super::text::{count, pct, tr};
use crate::error::Result;
use crate::schema::Positive;
use serde::Serialize;

/// Artifacts of a model directory whose hashes the card lists (those present).
const ARTIFACTS: [&str; 8] = [
    "model.crm",
    "MLmodel",
    "schema.toml",
    "feature_schema.json",
    "forest.json",
    "reference.json",
    crate::explain::APPROVED_FILE,
    crate::explain::CUTOFF_FILE,
];

#[derive(Debug, Serialize)]
pub struct CardData {
    pub model_uri: String,
    pub run_id: Option<String>,
    pub credrisk_version: String,
    pub created_ms: i64,
    pub schema: String,
    pub label: String,
    pub n_train: usize,
    pub n_test: Option<u64>,
    /// Share of positive labels in the rows the model is judged on.
    pub base_rate: f64,
    pub threshold: f64,
    pub n_trees: usize,
    pub hyperparameters: serde_json::Value,
    pub data_sha256: String,
    /// (file, SHA-256) of each artifact present in the model directory.
    pub artifacts: Vec<(String, String)>,
}

pub struct Card {
    pub section: Section,
    pub data: CardData,
}

pub fn build(inputs: &Inputs) -> Result<Card> {
    let lang = inputs.lang;
    let model = inputs.model();
    let schema = model.schema();
    let y = inputs.eval.table.approved.as_deref().unwrap_or(&[]);
    let base_rate = y.iter().filter(|&&v| v).count() as f64 / y.len().max(1) as f64;
    let mut artifacts = Vec::new();
    if let Some(dir) = &inputs.model_dir {
        for name in ARTIFACTS {
            let path = dir.join(name);
            if path.is_file() {
                artifacts.push((name.to_string(), crate::train::sha256_file(&path)?));
            }
        }
    }
    let positive = match schema.positive() {
        Positive::Boolean(b) => b.to_string(),
        Positive::Category(c) => c.clone(),
        Positive::Integer(i) => i.to_string(),
    };
    let data = CardData {
        model_uri: inputs.model_ref().uri.clone(),
        run_id: model.info.run_id.clone().or_else(|| inputs.model_ref().run_id.clone()),
        credrisk_version: model.info.credrisk_version.clone(),
        created_ms: model.info.created_ms,
        schema: schema.name().to_string(),
        label: format!("{} = {positive}", schema.label().name),
        n_train: model.info.n_train,
        n_test: model.info.metrics.get("n_test").and_then(|v| v.as_u64()),
        base_rate,
        threshold: model.threshold,
        n_trees: model.forest.trees.len(),
        hyperparameters: model.info.params.clone(),
        data_sha256: model.info.data_sha256.clone(),
        artifacts,
    };

    let mut s = Section::new(
        "card",
        tr(lang, "Ficha del modelo", "Model card"),
        tr(
            lang,
            "Compruebe que el uso previsto coincide con el uso real, que la tasa base y el umbral son los esperados y que los hashes coinciden con los artefactos aprobados.",
            "Check that the intended use matches how the model is used, that the base rate and threshold are as expected, and that the hashes match the approved artifacts.",
        ),
    );
    s.push(Block::Heading(tr(lang, "Uso previsto", "Intended use").into()));
    s.push(Block::Paragraph(tr(lang,
        "Estimar la probabilidad de aprobación de una solicitud de crédito de consumo a partir de los datos declarados por el solicitante y su historial, como apoyo a un analista: cada denegación viene con hasta cuatro motivos (SHAP) que no citan atributos protegidos ni sus proxies.",
        "Estimate the probability that a consumer-credit application is approved from the applicant's declared data and history, as support for an analyst: every denial comes with up to four reasons (SHAP) that never cite protected attributes or their proxies.").into()));
    s.push(Block::Heading(tr(lang, "Usos fuera de alcance", "Out-of-scope uses").into()));
    s.push(Block::Paragraph(tr(lang,
        "Decisiones totalmente automáticas sin revisión humana; fijar precios o límites; poblaciones distintas de la de entrenamiento (otro país, productos hipotecarios o empresas); cualquier uso que dependa de género, edad, estado civil o región como criterio. Los datos son sintéticos: el modelo demuestra el proceso, no una política de crédito real.",
        "Fully automatic decisions without human review; pricing or limits; populations other than the training one (another country, mortgages or businesses); any use that relies on gender, age, marital status or region as a criterion. The data is synthetic: the model demonstrates the process, not a real credit policy.").into()));
    s.push(Block::Heading(tr(lang, "Datos de entrenamiento", "Training data").into()));
    let scope = match inputs.eval.scope {
        Scope::HeldOut => {
            tr(lang, "partición de prueba del entrenamiento", "the training run's held-out split")
        }
        Scope::WholeFile => tr(lang, "todas las filas del archivo", "every row of the file"),
    };
    s.push(Block::Facts(vec![
        (tr(lang, "Esquema", "Schema").into(), data.schema.clone()),
        (tr(lang, "Etiqueta (clase positiva)", "Label (positive class)").into(), data.label.clone()),
        (tr(lang, "Filas de entrenamiento", "Training rows").into(), count(data.n_train as u64)),
        (tr(lang, "Filas de prueba", "Test rows").into(), data.n_test.map_or_else(|| "—".into(), count)),
        (
            tr(lang, "Periodo", "Period").into(),
            tr(lang, "sin fechas (población sintética de un corte)", "undated (a synthetic cross-section)")
                .into(),
        ),
        (format!("{} ({scope})", tr(lang, "Tasa base", "Base rate")), pct(data.base_rate)),
        (tr(lang, "Umbral de aprobación", "Approval threshold").into(), format!("P ≥ {}", data.threshold)),
        (tr(lang, "SHA-256 de los datos", "Data SHA-256").into(), data.data_sha256.clone()),
    ]));
    s.push(Block::Heading(tr(lang, "Hiperparámetros", "Hyperparameters").into()));
    let mut t =
        Table::new("hyperparameters", &[tr(lang, "parámetro", "parameter"), tr(lang, "valor", "value")]);
    if let Some(obj) = data.hyperparameters.as_object() {
        for (k, v) in obj {
            t.row(vec![k.clone(), v.to_string().trim_matches('"').to_string()]);
        }
    }
    t.row(vec![tr(lang, "árboles ajustados", "trees fitted").into(), data.n_trees.to_string()]);
    s.push(Block::Table(t));
    s.push(Block::Heading(tr(lang, "Procedencia", "Provenance").into()));
    let mut facts = vec![
        (tr(lang, "Modelo", "Model").into(), data.model_uri.clone()),
        (tr(lang, "Run de MLflow", "MLflow run").into(), data.run_id.clone().unwrap_or_else(|| "—".into())),
        (
            tr(lang, "Versión de credrisk (entrenamiento)", "credrisk version (training)").into(),
            data.credrisk_version.clone(),
        ),
        (
            tr(lang, "Versión de credrisk (informe)", "credrisk version (report)").into(),
            env!("CARGO_PKG_VERSION").into(),
        ),
        (
            tr(lang, "Creado", "Created").into(),
            format!("{} UTC", crate::tracking::utc_minutes(data.created_ms)),
        ),
    ];
    for (name, sha) in &data.artifacts {
        facts.push((format!("SHA-256 {name}"), sha.clone()));
    }
    s.push(Block::Facts(facts));
    Ok(Card { section: s, data })
}
