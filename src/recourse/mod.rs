//! Recourse: for a denied applicant, the cheapest realistic changes the model approves. Exact
//! over our own forest: a field's effect only changes at the forest's split thresholds (on its
//! own column and on derived ratios it enters), so the candidate values are the values on each
//! side of those thresholds; a branch and bound over them finds the cheapest approved moves of
//! one to `max_changes` fields. Which fields may move, and which way, comes from the schema's
//! recourse roles; values stay in the valid range and the range seen in training; a move costs
//! its size in training-distribution percentiles.

mod moves;
mod search;
mod text;

pub use moves::{CATEGORY_COST, percentile};

use crate::explain::Lang;
use crate::model::Model;
use crate::schema::Applicant;
use moves::Side;
use search::{Effort, Found, Space};
use serde::Serialize;
use std::sync::Arc;

/// At most this many fields change in one option by default.
pub const DEFAULT_MAX_CHANGES: usize = 2;
/// The most options returned.
pub const MAX_OPTIONS: usize = 3;
/// The most fields an option may change (the search grows with the combinations).
pub const MAX_CHANGES_LIMIT: usize = 3;
/// Forest nodes a search may visit before it answers with what it found (deterministic, unlike
/// a time limit): about 100 ms of walking on one core of the loaded test machine.
pub const DEFAULT_BUDGET: u64 = 6_000_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecourseOptions {
    pub max_changes: usize,
    pub lang: Lang,
    pub budget: u64,
}

impl Default for RecourseOptions {
    fn default() -> Self {
        RecourseOptions { max_changes: DEFAULT_MAX_CHANGES, lang: Lang::Es, budget: DEFAULT_BUDGET }
    }
}

/// One field's change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub field: String,
    pub label: String,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
    /// The move's size in training percentiles (0..=100).
    pub cost: f64,
}

/// A set of changes and what the model says after them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counterfactual {
    pub changes: Vec<Change>,
    pub probability: f64,
    pub approved: bool,
    /// Σ of the changes' costs.
    pub cost: f64,
    pub text: String,
    /// The applicant's values after the changes (stored form), for re-scoring.
    #[serde(skip)]
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SearchInfo {
    /// Every combination was searched to the end: no cheaper option exists within the limits.
    pub exhaustive: bool,
    pub boxes: u64,
    pub node_visits: u64,
    /// Candidate values over every actionable field and direction.
    pub candidates: usize,
}

/// The answer for one applicant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub approved: bool,
    pub probability: f64,
    pub threshold: f64,
    /// probability − threshold.
    pub margin: f64,
    pub max_changes: usize,
    /// Up to three approved options, cheapest first, each over a different set of fields and
    /// none a superset of a cheaper one.
    pub options: Vec<Counterfactual>,
    /// When no option exists within the limits: the highest probability found, not approved.
    pub closest: Option<Counterfactual>,
    pub text: String,
    pub search: SearchInfo,
}

/// A model prepared for recourse: its thresholds per column, computed once.
pub struct Planner {
    model: Arc<Model>,
    thresholds: Vec<Vec<f64>>,
    deps: Vec<Vec<usize>>,
    flat: Vec<Vec<search::Flat>>,
}

impl Planner {
    pub fn new(model: Arc<Model>) -> Planner {
        let thresholds = moves::thresholds(&model.forest);
        let deps = moves::dependencies(model.schema(), model.encoder.columns());
        let flat = search::flatten(&model.forest);
        Planner { model, thresholds, deps, flat }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The candidate moves of one applicant (for tests and the brute-force check).
    pub fn sides(&self, values: &[f64]) -> Vec<(usize, Vec<f64>, Vec<f64>)> {
        moves::sides(&self.model.encoder, &self.thresholds, values)
            .into_iter()
            .map(|s| (s.field, s.values, s.costs))
            .collect()
    }

    /// The options for one applicant.
    pub fn plan(&self, applicant: &Applicant, options: RecourseOptions) -> Plan {
        let model = &*self.model;
        let values = applicant.values();
        let probability = model.probability(applicant);
        let threshold = model.threshold;
        let approved = probability >= threshold;
        let max_changes = options.max_changes.clamp(1, MAX_CHANGES_LIMIT);
        let sides =
            if approved { Vec::new() } else { moves::sides(&model.encoder, &self.thresholds, values) };
        let candidates = sides.iter().map(|s| s.values.len()).sum();
        let mut plan = Plan {
            approved,
            probability,
            threshold,
            margin: probability - threshold,
            max_changes,
            options: Vec::new(),
            closest: None,
            text: String::new(),
            search: SearchInfo { exhaustive: true, boxes: 0, node_visits: 0, candidates },
        };
        if !approved {
            let space = Space {
                schema: model.schema(),
                forest: &model.forest,
                flat: &self.flat,
                columns: model.encoder.columns(),
                deps: &self.deps,
                values,
                base: model.encoder.encode(values),
                threshold,
            };
            // Up to two changes first; three-field boxes are many and wide, so they only get the
            // budget left over, after the cheaper-to-search options are in.
            let (mut found, mut effort): (Vec<Found>, Effort) = search::search(
                &space,
                &sides,
                1..=max_changes.min(2),
                MAX_OPTIONS,
                options.budget,
                Vec::new(),
            );
            if max_changes > 2 && found.len() < MAX_OPTIONS && effort.exhaustive {
                let left = options.budget.saturating_sub(effort.node_visits);
                let (more, extra) = search::search(&space, &sides, 3..=max_changes, MAX_OPTIONS, left, found);
                found = more;
                effort = Effort {
                    boxes: effort.boxes + extra.boxes,
                    node_visits: effort.node_visits + extra.node_visits,
                    exhaustive: extra.exhaustive,
                };
            }
            plan.search.exhaustive = effort.exhaustive;
            plan.search.boxes = effort.boxes;
            plan.search.node_visits = effort.node_visits;
            plan.options = found
                .iter()
                .map(|f| self.counterfactual(values, &f.moves, options.lang))
                // The walk encodes exactly as prediction does; keep only what prediction confirms.
                .filter(|c| c.approved)
                .collect();
            if plan.options.is_empty() {
                let moves = self.closest(values, &sides, max_changes);
                let closest = (!moves.is_empty()).then(|| self.counterfactual(values, &moves, options.lang));
                match closest {
                    // The search stopped at its bound before finding one: the greedy pass's
                    // approved move is an option (not proven cheapest; `exhaustive` says so).
                    Some(c) if c.approved => plan.options.push(c),
                    other => plan.closest = other,
                }
            }
        }
        plan.text = text::summary(&plan, options.lang);
        plan
    }

    /// A counterfactual from searched moves (field, new value, cost), scored by prediction itself.
    fn counterfactual(&self, values: &[f64], moves: &[(usize, f64, f64)], lang: Lang) -> Counterfactual {
        let model = &*self.model;
        let schema = model.schema();
        let mut after = values.to_vec();
        for &(field, to, _) in moves {
            after[field] = to;
        }
        let probability = model.forest.predict(&model.encoder.encode(&after));
        let changes: Vec<Change> = moves
            .iter()
            .map(|&(i, to, cost)| {
                let column = schema.field(i);
                Change {
                    field: column.name.clone(),
                    label: column.labels.get(lang == Lang::Es).to_string(),
                    from: column.value_of(values[i]).to_json(),
                    to: column.value_of(to).to_json(),
                    cost,
                }
            })
            .collect();
        let cost = moves.iter().map(|m| m.2).sum();
        let approved = probability >= model.threshold;
        let text = text::option(schema, values, &after, moves, probability, approved, lang);
        Counterfactual { changes, probability, approved, cost, text, values: after }
    }

    /// No approved option: the highest probability reachable by adding, one field at a time, the
    /// single move that raises it most, over at most 64 evenly spaced candidates per side and
    /// the side's far end (greedy and sampled: a hint of what comes closest, not a proof).
    fn closest(&self, values: &[f64], sides: &[Side], max_changes: usize) -> Vec<(usize, f64, f64)> {
        let model = &*self.model;
        let mut current = values.to_vec();
        let mut best_p = model.forest.predict(&model.encoder.encode(&current));
        let mut chosen: Vec<(usize, f64, f64)> = Vec::new();
        let mut x = vec![0.0; model.encoder.n_features()];
        for _ in 0..max_changes {
            let mut step: Option<(usize, f64, f64, f64)> = None;
            for side in sides.iter().filter(|s| !chosen.iter().any(|c| c.0 == s.field)) {
                let keep = current[side.field];
                let stride = side.values.len().div_ceil(64).max(1);
                let last = side.values.len() - 1;
                let sampled = (0..side.values.len()).step_by(stride).chain(std::iter::once(last));
                for (v, cost) in sampled.map(|k| (side.values[k], side.costs[k])) {
                    current[side.field] = v;
                    model.encoder.encode_into(&current, &mut x);
                    let p = model.forest.predict(&x);
                    if p > step.map_or(best_p, |s| s.3) {
                        step = Some((side.field, v, cost, p));
                    }
                }
                current[side.field] = keep;
            }
            let Some((field, v, cost, p)) = step else { break };
            current[field] = v;
            best_p = p;
            chosen.push((field, v, cost));
        }
        chosen.sort_by_key(|c| c.0);
        chosen
    }
}

#[cfg(test)]
mod tests;
