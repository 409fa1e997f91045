//! `credrisk models`: the registry as the gate sees it: each registered model's versions with
//! their run, aliases and the gate's last verdict (the `credrisk.gate` tags).

use super::record::GATE_TAG;
use crate::error::Result;
use crate::explain::Lang;
use crate::tracking::{self, Store};
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone, Serialize)]
pub struct ModelListing {
    pub name: String,
    pub versions: Vec<VersionListing>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionListing {
    pub version: u32,
    pub run_id: Option<String>,
    pub aliases: Vec<String>,
    /// `passed` / `refused`, or None when the gate never judged it.
    pub gate: Option<String>,
    pub gate_time: Option<String>,
    /// The failed rules of a refusal.
    pub failed: Option<String>,
    pub rolled_back: Option<String>,
}

/// Every registered model (or only `name`, which must exist), versions oldest first.
pub fn list_models(store: &dyn Store, name: Option<&str>) -> Result<Vec<ModelListing>> {
    let mut models = store.registered_models()?;
    if let Some(name) = name {
        if !models.iter().any(|m| m.name == name) {
            let names: Vec<String> = models.into_iter().map(|m| m.name).collect();
            return Err(tracking::unknown_name(name, &names));
        }
        models.retain(|m| m.name == name);
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    models
        .into_iter()
        .map(|m| {
            let versions = store.search_model_versions(&m.name)?;
            let versions = versions
                .into_iter()
                .map(|v| {
                    let tag = |suffix: &str| v.tags.get(&format!("{GATE_TAG}{suffix}")).cloned();
                    let mut aliases: Vec<String> =
                        m.aliases.iter().filter(|(_, n)| **n == v.version).map(|(a, _)| a.clone()).collect();
                    aliases.sort();
                    VersionListing {
                        version: v.version,
                        run_id: v.run_id.clone(),
                        aliases,
                        gate: tag(""),
                        gate_time: tag(".time"),
                        failed: tag(".failed").filter(|f| f != "none"),
                        rolled_back: tag(".rollback"),
                    }
                })
                .collect();
            Ok(ModelListing { name: m.name, versions })
        })
        .collect()
}

pub fn render_models(models: &[ModelListing], lang: Lang) -> String {
    let es = lang == Lang::Es;
    let tr = |en: &'static str, sp: &'static str| if es { sp } else { en };
    let mut out = String::new();
    if models.is_empty() {
        let _ = writeln!(out, "{}", tr("no registered models", "no hay modelos registrados"));
        return out;
    }
    for m in models {
        let _ = writeln!(out, "{}", m.name);
        let _ = writeln!(
            out,
            "  {:>7}  {:<32}  {:<28}  {}",
            tr("version", "versión"),
            "run",
            "alias",
            tr("gate", "control")
        );
        for v in &m.versions {
            let gate = match (v.gate.as_deref(), es) {
                (None, false) => "not gated".to_string(),
                (None, true) => "sin evaluar".to_string(),
                (Some("passed"), true) => "aprobado".to_string(),
                (Some("refused"), true) => "rechazado".to_string(),
                (Some(other), _) => other.to_string(),
            };
            let mut gate = match &v.gate_time {
                // A tag anyone can edit: cut by characters, never inside one.
                Some(t) => format!("{gate} {}", t.chars().take(16).collect::<String>()),
                None => gate,
            };
            if let Some(failed) = &v.failed {
                let _ = write!(gate, " ({failed})");
            }
            if v.rolled_back.is_some() {
                let _ = write!(gate, "; {}", tr("rolled back", "revertido"));
            }
            let _ = writeln!(
                out,
                "  {:>7}  {:<32}  {:<28}  {gate}",
                v.version,
                v.run_id.as_deref().unwrap_or("—"),
                if v.aliases.is_empty() { "—".to_string() } else { v.aliases.join(", ") },
            );
        }
    }
    out
}
