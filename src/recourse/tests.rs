//! Recourse on a small forest trained on generated applicants: options are approved, move only
//! what the schema allows, the way it allows, within range; and no single-field change on a fine
//! grid (found by brute force, without the search's candidates) is cheaper than what it returns.

use super::*;
use crate::data::generate::generate_table;
use crate::features::Encoder;
use crate::forest::{ForestParams, MaxFeatures};
use crate::model::ModelInfo;
use crate::schema::{Kind, Recourse};
use std::sync::OnceLock;

fn planner() -> &'static Planner {
    static PLANNER: OnceLock<Planner> = OnceLock::new();
    PLANNER.get_or_init(|| {
        let table = generate_table(4000, 7).unwrap();
        let encoder = Encoder::fit(&table).unwrap();
        let params = ForestParams {
            n_estimators: 25,
            max_depth: Some(7),
            min_samples_leaf: 10,
            max_features: MaxFeatures::Sqrt,
            seed: 3,
            ..ForestParams::default()
        };
        let columns = encoder.encode_columns(&table);
        let fitted =
            crate::forest::fit(&params, &columns, table.approved.as_deref().unwrap(), &|_| {}).unwrap();
        let model = Model { encoder, forest: fitted.forest, threshold: 0.5, info: ModelInfo::default() };
        Planner::new(Arc::new(model))
    })
}

/// Denied applicants of a fresh sample (not the training rows).
fn denied(n: usize) -> Vec<Applicant> {
    let p = planner();
    let table = generate_table(400, 99).unwrap();
    let schema = p.model().schema();
    table
        .rows()
        .map(|r| schema.applicant(r.to_vec()).unwrap())
        .filter(|a| p.model().probability(a) < p.model().threshold)
        .take(n)
        .collect()
}

#[test]
fn options_are_approved_and_move_only_what_the_schema_allows() {
    let p = planner();
    let model = p.model();
    let schema = model.schema();
    let applicants = denied(25);
    assert!(applicants.len() >= 20, "the sample has denials");
    let mut with_options = 0;
    for a in &applicants {
        let plan = p.plan(a, RecourseOptions::default());
        assert!(!plan.approved && plan.probability < 0.5);
        assert!(plan.options.len() <= MAX_OPTIONS);
        with_options += usize::from(!plan.options.is_empty());
        let mut sets: Vec<Vec<String>> = Vec::new();
        for o in &plan.options {
            assert!(o.approved && o.probability >= model.threshold, "{}", o.text);
            assert!(!o.changes.is_empty() && o.changes.len() <= DEFAULT_MAX_CHANGES);
            // Scored again from the stored values by the model's own prediction.
            let again = schema.applicant(o.values.clone()).expect("options are valid applicants");
            assert_eq!(model.probability(&again), o.probability);
            for (i, field) in schema.fields().enumerate() {
                let (before, after) = (a.get(i), o.values[i]);
                if before == after {
                    continue;
                }
                assert!(o.changes.iter().any(|c| c.field == field.name));
                match field.recourse {
                    Recourse::Immutable | Recourse::Context => panic!("{} moved: {}", field.name, o.text),
                    Recourse::Increase => assert!(after > before, "{}", o.text),
                    Recourse::Decrease => assert!(after < before, "{}", o.text),
                    Recourse::Any => {}
                }
                let p_stats =
                    model.encoder.groups().iter().position(|&g| g == crate::schema::Group::Field(i));
                let stats = model.encoder.stats(p_stats.unwrap());
                assert!(after >= stats.min && after <= stats.max, "{} out of the training range", field.name);
                if let Kind::Integer { .. } = field.kind {
                    assert_eq!(after.fract(), 0.0);
                }
            }
            let cost: f64 = o.changes.iter().map(|c| c.cost).sum();
            assert!((cost - o.cost).abs() < 1e-9 && o.cost >= 0.0);
            let mut set: Vec<String> = o.changes.iter().map(|c| c.field.clone()).collect();
            set.sort();
            assert!(!sets.iter().any(|s| s.iter().all(|f| set.contains(f))), "{set:?} repeats a cheaper set");
            assert!(
                sets.is_empty() || set.iter().any(|f| !sets.iter().flatten().any(|g| g == f)),
                "{set:?} brings no field of its own"
            );
            sets.push(set);
        }
        for w in plan.options.windows(2) {
            assert!(w[0].cost <= w[1].cost, "cheapest first");
        }
        if plan.options.is_empty() {
            assert!(plan.text.contains("Ningún cambio"), "{}", plan.text);
        }
        // Deterministic.
        assert_eq!(p.plan(a, RecourseOptions::default()), plan);
    }
    assert!(with_options >= applicants.len() / 2, "most denials have recourse: {with_options}");
}

/// Brute force over a fine grid of each actionable field's allowed range (1,000 evenly spaced
/// values plus the grid at the field's resolution near the current value), independent of the
/// forest's thresholds: no approved single-field change is cheaper than the search's best
/// single-field option for that field, nor than its cheapest option overall.
#[test]
fn no_single_field_change_on_a_fine_grid_is_cheaper() {
    let p = planner();
    let model = p.model();
    let schema = model.schema();
    for a in denied(15) {
        let plan = p.plan(&a, RecourseOptions { max_changes: 1, ..RecourseOptions::default() });
        assert!(plan.search.exhaustive);
        for (i, field) in schema.fields().enumerate() {
            let direction = field.recourse;
            if matches!(direction, Recourse::Immutable | Recourse::Context) {
                continue;
            }
            let g = model.encoder.groups().iter().position(|&g| g == crate::schema::Group::Field(i)).unwrap();
            let stats = model.encoder.stats(g);
            let current = a.get(i);
            let mut grid: Vec<f64> =
                (0..=1000).map(|k| stats.min + (stats.max - stats.min) * k as f64 / 1000.0).collect();
            if let Kind::Integer { .. } | Kind::Ordered(_) | Kind::Boolean = field.kind {
                grid = (stats.min as i64..=stats.max as i64).map(|k| k as f64).collect();
            }
            let step = moves::resolution(schema, i, stats);
            let base = percentile(stats, current);
            let cheapest_grid = grid
                .into_iter()
                .filter(|&x| match direction {
                    Recourse::Increase => x > current,
                    Recourse::Decrease => x < current,
                    _ => x != current,
                })
                .filter(|&x| {
                    let mut v = a.values().to_vec();
                    v[i] = x;
                    model.forest.predict(&model.encoder.encode(&v)) >= model.threshold
                })
                .map(|x| (percentile(stats, x) - base).abs())
                .fold(f64::INFINITY, f64::min);
            let found = plan.options.iter().find(|o| o.changes[0].field == field.name).map(|o| o.cost);
            let best_overall = plan.options.first().map_or(f64::INFINITY, |o| o.cost);
            // A grid value may sit between the threshold and the next value at the resolution.
            let slack = 1e-9 + step * 100.0 / (stats.max - stats.min).max(step) * 3.0;
            if cheapest_grid.is_finite() {
                assert!(
                    best_overall <= cheapest_grid + slack,
                    "{}: grid {cheapest_grid} < best {best_overall}",
                    field.name
                );
                if let Some(found) = found {
                    assert!(
                        found <= cheapest_grid + slack,
                        "{}: grid {cheapest_grid} < found {found}",
                        field.name
                    );
                } else {
                    assert!(
                        plan.options.len() == MAX_OPTIONS,
                        "{} has an approved change the search missed",
                        field.name
                    );
                }
            }
        }
    }
}

#[test]
fn approved_applicants_get_no_options_and_their_margin() {
    let p = planner();
    let table = generate_table(200, 5).unwrap();
    let schema = p.model().schema();
    let a = table
        .rows()
        .map(|r| schema.applicant(r.to_vec()).unwrap())
        .find(|a| p.model().probability(a) >= 0.6)
        .unwrap();
    let plan = p.plan(&a, RecourseOptions { lang: Lang::En, ..RecourseOptions::default() });
    assert!(plan.approved && plan.options.is_empty() && plan.closest.is_none());
    assert!((plan.margin - (plan.probability - 0.5)).abs() < 1e-15 && plan.margin > 0.0);
    assert!(plan.text.starts_with("Approved with probability"), "{}", plan.text);
}

#[test]
fn no_option_within_the_limits_says_so_with_the_closest() {
    let p = planner();
    let schema = p.model().schema();
    // A threshold no leaf average reaches: nothing is ever approved.
    let mut model = p.model().clone();
    model.threshold = 1.01;
    let strict = Planner::new(Arc::new(model));
    let a = denied(1).remove(0);
    let plan = strict.plan(&a, RecourseOptions::default());
    assert!(plan.options.is_empty() && plan.search.exhaustive);
    let closest = plan.closest.as_ref().expect("the closest option");
    assert!(!closest.approved && closest.probability >= plan.probability);
    assert!(closest.changes.len() <= 2);
    assert!(plan.text.contains("Lo más cercano"), "{}", plan.text);
    let en =
        strict.plan(&a, RecourseOptions { lang: Lang::En, max_changes: 1, ..RecourseOptions::default() });
    assert!(en.text.contains("No realistic change of at most 1 field"), "{}", en.text);
    let _ = schema;
}

/// How the search is bounded: by a budget of forest nodes visited, checked before each box (a box
/// walks every tree at most once), so it never goes past the budget by more than one forest's
/// nodes. Stopped early it says so (`exhaustive` false, and in the text); what it found by then
/// is the start of what the full search finds (boxes come cheapest first); when it found
/// nothing, the greedy pass's approved move, if any, is offered instead.
#[test]
fn the_search_stops_at_its_budget_and_says_so() {
    let p = planner();
    let nodes: u64 = p.model().forest.trees.iter().map(|t| t.nodes.len() as u64).sum();
    let mut stopped = 0;
    for a in denied(12) {
        let full = p.plan(&a, RecourseOptions::default());
        assert!(full.search.exhaustive && full.search.node_visits <= DEFAULT_BUDGET);
        for budget in [0, full.search.node_visits / 3] {
            let cut = p.plan(&a, RecourseOptions { budget, ..RecourseOptions::default() });
            assert!(
                cut.search.node_visits < budget + nodes,
                "{} visits for a budget of {budget}",
                cut.search.node_visits
            );
            if cut.search.exhaustive {
                assert_eq!(cut.options, full.options);
                continue;
            }
            stopped += 1;
            assert!(cut.text.contains("La búsqueda llegó a su límite"), "{}", cut.text);
            assert!(cut.options.iter().all(|o| o.approved));
            if budget == 0 {
                assert_eq!((cut.search.node_visits, cut.search.boxes), (0, 0));
                assert!(cut.options.len() <= 1, "only the greedy pass's move");
            } else if cut.options.len() > 1 {
                // Two or more: found by the search (the greedy pass offers one).
                assert!(full.options.starts_with(&cut.options), "{} vs {}", cut.text, full.text);
            }
        }
    }
    assert!(stopped >= 12, "a third of the work, or none, cuts most searches short: {stopped}");
}

/// A customer two changes cannot get approved but three can: with the threshold raised until
/// the search proves (exhaustively) that no pair of fields suffices, `max_changes = 3` finds
/// options of three fields, approved by the model's own prediction.
#[test]
fn options_of_three_changes_when_two_are_not_enough() {
    let p = planner();
    for a in denied(10) {
        for t in (52..100).map(|k| f64::from(k) / 100.0) {
            let mut model = p.model().clone();
            model.threshold = t;
            let strict = Planner::new(Arc::new(model));
            let two = strict.plan(&a, RecourseOptions::default());
            if !two.options.is_empty() || !two.search.exhaustive {
                continue;
            }
            let three = strict.plan(&a, RecourseOptions { max_changes: 3, ..RecourseOptions::default() });
            if three.options.is_empty() {
                break;
            }
            assert_eq!(three.max_changes, 3);
            assert!(two.closest.is_some() && two.text.contains("Ningún cambio"), "{}", two.text);
            for o in &three.options {
                assert_eq!(o.changes.len(), 3, "two fields were proven not enough: {}", o.text);
                let again = strict.model().schema().applicant(o.values.clone()).unwrap();
                let probability = strict.model().probability(&again);
                assert!(o.approved && probability == o.probability && probability >= t, "{}", o.text);
            }
            for w in three.options.windows(2) {
                assert!(w[0].cost <= w[1].cost);
            }
            return;
        }
    }
    panic!("no denied customer needs exactly three changes at any threshold");
}
