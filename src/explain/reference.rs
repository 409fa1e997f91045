//! What a decision is compared with: the trees' own covers (path-dependent TreeSHAP), the
//! approved applicants, those approved just above the cut-off — two seeded samples `train`
//! keeps beside the model — or a background file the user gives. Regulation B's commentary
//! reads reasons as a comparison with the applicants who were approved; the reference changes
//! the reasons, so every answer names it.

use crate::data::{self, ApplicantTable};
use crate::error::{Error, Result};
use crate::features::GroupStats;
use crate::forest::Forest;
use crate::model::Model;
use crate::shap::TreeShap;
use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;
use serde::{Serialize, Serializer};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// Rows in each reference sample `train` keeps.
pub const REFERENCE_ROWS: usize = 200;
/// The approved sample beside the payload, readable by any Parquet tool.
pub const APPROVED_FILE: &str = "reference_approved.parquet";
/// The sample just above the cut-off.
pub const CUTOFF_FILE: &str = "reference_cutoff.parquet";

/// What the SHAP values (and so the reasons) compare the applicant with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reference {
    /// Path-dependent TreeSHAP: the training population as the trees' covers record it.
    Path,
    /// Interventional TreeSHAP over a seeded sample of held-out applicants the model approves.
    Approved,
    /// Interventional TreeSHAP over the approved applicants scored closest above the cut-off.
    Cutoff,
    /// Interventional TreeSHAP over a sample of a file the user gave (`--background`).
    Background,
}

impl Reference {
    /// The references a model keeps samples of, in the order they are built.
    pub const SAMPLED: [Reference; 2] = [Reference::Approved, Reference::Cutoff];

    /// The name in answers and flags.
    pub fn name(self) -> &'static str {
        match self {
            Reference::Path => "path",
            Reference::Approved => "approved",
            Reference::Cutoff => "cutoff",
            Reference::Background => "background",
        }
    }

    /// The sample's file in the model directory.
    pub fn file(self) -> Option<&'static str> {
        match self {
            Reference::Approved => Some(APPROVED_FILE),
            Reference::Cutoff => Some(CUTOFF_FILE),
            Reference::Path | Reference::Background => None,
        }
    }

    /// Who the applicant is compared with, as a phrase for reasons and headings.
    pub fn compared_with(self, spanish: bool) -> &'static str {
        match (self, spanish) {
            (Reference::Path, true) => "la población de entrenamiento",
            (Reference::Path, false) => "the training population",
            (Reference::Approved, true) => "los solicitantes aprobados",
            (Reference::Approved, false) => "approved applicants",
            (Reference::Cutoff, true) => "los aprobados justo sobre el umbral",
            (Reference::Cutoff, false) => "applicants approved just above the cut-off",
            (Reference::Background, true) => "los solicitantes de referencia",
            (Reference::Background, false) => "the reference applicants",
        }
    }
}

impl FromStr for Reference {
    type Err = String;
    /// The names a user may choose (`background` comes with its file, through `--background`).
    fn from_str(s: &str) -> std::result::Result<Reference, String> {
        match s {
            "path" => Ok(Reference::Path),
            "approved" => Ok(Reference::Approved),
            "cutoff" => Ok(Reference::Cutoff),
            other => Err(format!("unknown reference {other:?}: use path, approved or cutoff")),
        }
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The two samples `train` keeps: applicants, without labels or ids.
#[derive(Debug, Clone)]
pub struct ReferenceSamples {
    pub approved: ApplicantTable,
    pub cutoff: ApplicantTable,
}

impl ReferenceSamples {
    /// From held-out applicants and `model`'s probabilities `p` of them: a seeded sample of
    /// [`REFERENCE_ROWS`] of those it approves, and the approved ones scored closest above the
    /// threshold (the lowest tenth of them, at most [`REFERENCE_ROWS`]). None when the model
    /// approves none of them.
    pub fn build(model: &Model, held_out: &ApplicantTable, p: &[f64], seed: u64) -> Option<ReferenceSamples> {
        let mut approved: Vec<usize> = (0..p.len()).filter(|&i| p[i] >= model.threshold).collect();
        if approved.is_empty() {
            return None;
        }
        let sample = |mut idx: Vec<usize>| {
            idx.sort_unstable();
            let mut table = held_out.subset(&idx);
            (table.approved, table.score, table.ids) = (None, None, Vec::new());
            table
        };
        let picked = if approved.len() <= REFERENCE_ROWS {
            approved.clone()
        } else {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            index::sample(&mut rng, approved.len(), REFERENCE_ROWS).into_iter().map(|k| approved[k]).collect()
        };
        approved.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
        approved.truncate((approved.len() / 10).clamp(1, REFERENCE_ROWS));
        Some(ReferenceSamples { approved: sample(picked), cutoff: sample(approved) })
    }

    /// Writes both samples into the model directory, atomically each.
    pub fn save(&self, dir: &Path) -> Result<()> {
        data::write_table(&dir.join(APPROVED_FILE), &self.approved)?;
        data::write_table(&dir.join(CUTOFF_FILE), &self.cutoff)
    }
}

/// Reads the model directory's sample for `reference` (approved or cutoff).
pub fn load_sample(dir: &Path, reference: Reference, model: &Model) -> Result<ApplicantTable> {
    let Some(file) = reference.file() else {
        return Err(Error::Internal(format!("the {} reference has no sample file", reference.name())));
    };
    let path = dir.join(file);
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "the model has no {file}: it was trained before credrisk kept reference samples, or none \
             of its held-out applicants was approved; retrain it, or use --background FILE"
        )));
    }
    let table = data::read_table(&path, &Arc::clone(model.schema()))?;
    if table.is_empty() {
        return Err(Error::bad_file(&path, "has no rows to compare with"));
    }
    Ok(table)
}

/// The samples the model directory holds, in [`Reference::SAMPLED`] order.
pub fn load_samples(dir: &Path, model: &Model) -> Result<Vec<(Reference, ApplicantTable)>> {
    Reference::SAMPLED
        .into_iter()
        .filter(|r| r.file().is_some_and(|f| dir.join(f).is_file()))
        .map(|r| Ok((r, load_sample(dir, r, model)?)))
        .collect()
}

/// One reference: its explainer and, for a sample, the sample's statistics the reasons quote.
pub(super) struct Comparison {
    pub(super) reference: Reference,
    /// Built when first needed (the default's at construction): a replica or a `score` run that
    /// never names the others does not pay for their layouts (tens of MB and of ms each for the
    /// default forest).
    pub(super) shap: OnceLock<std::result::Result<TreeShap, String>>,
    /// The sample, encoded: interventional TreeSHAP's background (empty for the path reference).
    pub(super) background: Vec<f64>,
    /// Per reported group (empty for the path reference).
    pub(super) stats: Vec<GroupStats>,
}

impl Comparison {
    pub(super) fn build(&self, forest: &Forest) -> Result<TreeShap> {
        match self.reference {
            Reference::Path => TreeShap::path_dependent(forest),
            _ => TreeShap::interventional(forest, &self.background),
        }
    }

    /// The explainer, built on first use.
    pub(super) fn shap(&self, forest: &Forest) -> Result<&TreeShap> {
        let built = self.shap.get_or_init(|| self.build(forest).map_err(|e| e.to_string()));
        built.as_ref().map_err(|e| Error::Internal(format!("{} reference: {e}", self.reference.name())))
    }

    /// The TreeSHAP method, as answers name it (shap's own names).
    pub(super) fn method(&self) -> &'static str {
        match self.reference {
            Reference::Path => "tree_path_dependent",
            _ => "interventional",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_background_is_not_a_choice() {
        for r in [Reference::Path, Reference::Approved, Reference::Cutoff] {
            assert_eq!(r.name().parse::<Reference>(), Ok(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
        }
        assert!("background".parse::<Reference>().is_err());
        assert!("Approved".parse::<Reference>().is_err());
    }
}
