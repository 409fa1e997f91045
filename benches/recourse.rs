//! Benchmark: recourse search time per denied customer, in process, on a trained model.
//!
//! ```text
//! cargo bench --bench recourse -- --model outputs/model --data data/chilean_credit_data.parquet \
//!     [--customers 300] [--max-changes 2]
//! ```
//! Takes the first `--customers` denied rows of the data file (the defaults: `credrisk generate`
//! then `credrisk train`, 200 trees), plans each once (one thread, as one request does), and
//! prints the median, p90, p99 and maximum time, the work done (boxes, forest nodes visited) and
//! how many searches finished within their bound. There is no Python peer to compare with: the
//! peer has no recourse.

use credrisk::recourse::{Planner, RecourseOptions};
use std::time::Instant;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let model_dir = arg("--model").unwrap_or_else(|| "outputs/model".into());
    let data = arg("--data").unwrap_or_else(|| "data/chilean_credit_data.parquet".into());
    let wanted: usize = arg("--customers").map_or(300, |s| s.parse().expect("--customers N"));
    let max_changes: usize = arg("--max-changes").map_or(2, |s| s.parse().expect("--max-changes N"));
    let model = std::sync::Arc::new(credrisk::model::Model::load(model_dir.as_ref()).expect("--model DIR"));
    let table = credrisk::data::read_table(data.as_ref(), model.schema()).expect("--data FILE");
    let customers: Vec<_> = (0..table.len())
        .map(|i| table.applicant(i))
        .filter(|a| model.probability(a) < model.threshold)
        .take(wanted)
        .collect();
    let planner = Planner::new(model.clone());
    let options = RecourseOptions { max_changes, ..RecourseOptions::default() };
    let (mut times, mut visits, mut boxes, mut exhaustive, mut with_options) = (Vec::new(), 0u64, 0u64, 0, 0);
    for a in &customers {
        let started = Instant::now();
        let plan = planner.plan(a, options);
        times.push(started.elapsed().as_secs_f64() * 1e3);
        visits += plan.search.node_visits;
        boxes += plan.search.boxes;
        exhaustive += usize::from(plan.search.exhaustive);
        with_options += usize::from(!plan.options.is_empty());
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    let n = customers.len();
    println!(
        "recourse, {} trees, max_changes {max_changes}, {n} denied customers: median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        model.forest.trees.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        sorted[n - 1]
    );
    println!(
        "  per search: {:.0} boxes, {:.2} M nodes visited; exhaustive {exhaustive}/{n}; with options {with_options}/{n}",
        boxes as f64 / n as f64,
        visits as f64 / n as f64 / 1e6
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("  load average: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
}
