//! `credrisk monitor` end to end: drift numbers against NumPy (PSI from its definition) and SciPy
//! (KS, chi-squared), a same-distribution batch that raises nothing, a regional shock that raises
//! the expected alerts, bad input as one line, and the monitoring run's history read by the real
//! MLflow client from a file store and from a tracking server.

mod common;
mod mlflow_util;

use mlflow_util::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn run(dir: &Path, args: &[&str]) -> Output {
    common::run_in(dir, args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn generate(dir: &Path, prefix: &str, rows: &str, seed: &str, extra: &[&str]) {
    let mut args = vec!["generate", "--rows", rows, "--seed", seed, "--prefix", prefix, "-q"];
    args.extend_from_slice(extra);
    common::ok_in(dir, &args);
}

/// `monitor --json`; returns (exit code, report, stderr).
fn monitor(dir: &Path, model: &str, data: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["monitor", "--model", model, "--data", data, "--json", "--lang", "en"];
    args.extend_from_slice(extra);
    let out = run(dir, &args);
    let code = out.status.code().unwrap_or(-1);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("monitor printed no JSON ({e}), exit {code}:\n{}", text(&out.stderr)));
    (code, report, text(&out.stderr))
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: credrisk {a} vs oracle {b} (tolerance {tol})");
}

#[test]
fn psi_ks_and_chi_squared_agree_with_numpy_and_scipy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "data/train", "20000", "4", &[]);
    // 2000 reference rows: the KS sample is the whole reference, as the oracle takes it.
    generate(dir, "data/ref", "2000", "5", &[]);
    let shock = ["--unemployment-shift", "0.04", "--income-scale", "0.8", "--shock-region", "Biobío,Maule"];
    generate(dir, "data/batch", "30000", "6", &shock);
    common::ok_in(
        dir,
        &[
            "train",
            "--data",
            "data/train.parquet",
            "--test-data",
            "data/ref.parquet",
            "--n-estimators",
            "20",
            "--max-depth",
            "8",
            "--no-tracking",
            "--quiet",
        ],
    );
    let (_, report, _) = monitor(dir, "outputs/model", "data/batch.parquet", &["--no-tracking"]);
    std::fs::write(dir.join("report.json"), serde_json::to_vec(&report).unwrap()).unwrap();
    let oracle = common::oracle("monitor_oracle.py");
    let got: Value = serde_json::from_str(
        common::python_ok(
            &std::fs::read_to_string(&oracle).unwrap(),
            &[
                dir.join("data/ref.parquet").to_str().unwrap(),
                dir.join("data/batch.parquet").to_str().unwrap(),
                dir.join("report.json").to_str().unwrap(),
            ],
        )
        .trim(),
    )
    .unwrap();
    let (mut numbers, mut categories) = (0, 0);
    for drift in report["inputs"].as_array().unwrap() {
        let name = drift["name"].as_str().unwrap();
        let Some(expected) = got.get(name) else { continue };
        let psi = drift["psi"].as_f64().unwrap();
        close(psi, expected["psi"].as_f64().unwrap(), 1e-12, &format!("{name} PSI"));
        let test = &drift["test"];
        let (stat, p) = (test["statistic"].as_f64().unwrap(), test["p_value"].as_f64().unwrap());
        if test["name"] == "ks" {
            numbers += 1;
            close(stat, expected["ks_statistic"].as_f64().unwrap(), 1e-12, &format!("{name} KS D"));
            // Pelz-Good vs SciPy's exact-for-n Kolmogorov distribution: agree to 1e-4.
            close(p, expected["ks_p"].as_f64().unwrap(), 1e-4, &format!("{name} KS p"));
        } else {
            categories += 1;
            let expected_stat = expected["chi2_statistic"].as_f64().unwrap();
            close(stat, expected_stat, 1e-9 * expected_stat.max(1.0), &format!("{name} chi2"));
            close(p, expected["chi2_p"].as_f64().unwrap(), 1e-9, &format!("{name} chi2 p"));
            assert_eq!(test["df"].as_f64().unwrap(), expected["chi2_df"].as_f64().unwrap(), "{name} df");
        }
    }
    assert!(numbers >= 10 && categories >= 5, "{numbers} numbers, {categories} categories checked");
    // The shock is visible where it was made.
    let psi = |name: &str| {
        report["inputs"].as_array().unwrap().iter().find(|d| d["name"] == name).unwrap()["psi"]
            .as_f64()
            .unwrap()
    };
    assert!(psi("regional_unemployment") > 0.1, "{}", psi("regional_unemployment"));
    assert!(psi("gender") < 0.01);

    // The batch's fairness is `credrisk fairness --json`'s report on the same batch, key for key
    // (same groups, same minimum size, same bootstrap), and monitor's age groups are its bands.
    let (_, report, _) = monitor(
        dir,
        "outputs/model",
        "data/batch.parquet",
        &["--no-tracking", "--n-boot", "30", "--seed", "3"],
    );
    let out = run(
        dir,
        &[
            "fairness",
            "--model",
            "outputs/model",
            "--data",
            "data/batch.parquet",
            "--json",
            "--min-group",
            "200",
            "--n-boot",
            "30",
            "--seed",
            "3",
        ],
    );
    // Exit 1: the synthetic regions differ by design, past the absolute thresholds.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    let fairness: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["fairness"], fairness);
    // (serde_json's maps sort their keys.)
    let by: Vec<&str> = fairness["by"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(by, ["age", "education_level", "gender", "marital_status", "region"]);
    let mut monitored: Vec<&str> =
        report["approval"]["by"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(monitored[0], "age");
    monitored.sort_unstable();
    assert_eq!(monitored, by, "monitor groups approvals by the fields fairness judges");
    let fairness_age: Vec<&str> =
        fairness["by"]["age"]["groups"].as_object().unwrap().keys().map(String::as_str).collect();
    let monitor_age: Vec<&str> = report["approval"]["by"][0]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["n"].as_u64().unwrap() > 0 && g["value"] != "missing")
        .map(|g| g["value"].as_str().unwrap())
        .collect();
    assert_eq!(monitor_age, fairness_age);
    assert_eq!(fairness_age[..2], ["18-25", "26-35"]);
}

/// Three monthly batches into one monitoring run of a file store: two like the training data,
/// the third after a regional recession (unemployment up 6 points, incomes down 15% in Biobío
/// and Araucanía).
#[test]
fn a_same_distribution_batch_is_quiet_and_a_regional_shock_alerts_and_mlflow_draws_the_history() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let uri = file_uri(&dir.join("mlruns"));
    generate(dir, "data/train", "60000", "1", &[]);
    for period in ["2027-01", "2027-02"] {
        generate(dir, &format!("data/{period}"), "30000", "1", &["--period", period]);
    }
    let shock = [
        "--period",
        "2027-03",
        "--unemployment-shift",
        "0.06",
        "--income-scale",
        "0.85",
        "--shock-region",
        "Biobío",
        "--shock-region",
        "Araucanía",
    ];
    generate(dir, "data/2027-03", "30000", "1", &shock);
    common::ok_in(
        dir,
        &[
            "train",
            "--data",
            "data/train.parquet",
            "--test-size",
            "0.25",
            "--n-estimators",
            "30",
            "--max-depth",
            "10",
            "--tracking-uri",
            &uri,
            "--quiet",
        ],
    );
    let model = "outputs/model";
    let tracked = ["--tracking-uri", uri.as_str()];
    let mut reports = Vec::new();
    for period in ["2027-01", "2027-02"] {
        let data = format!("data/{period}.parquet");
        let (code, report, stderr) =
            monitor(dir, model, &data, &[&tracked[..], &["--period", period]].concat());
        assert_eq!(code, 0, "{period}: {}\n{stderr}", report["alerts"]);
        assert_eq!(report["alerts"], serde_json::json!([]));
        assert!(stderr.is_empty(), "{stderr}");
        reports.push(report);
    }
    let out = run(
        dir,
        &[
            "monitor",
            "--model",
            model,
            "--data",
            "data/2027-03.parquet",
            "--period",
            "2027-03",
            "--lang",
            "en",
            "--tracking-uri",
            &uri,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.iter().all(|l| l.starts_with("credrisk: alert: ")), "{stderr}");
    let subjects: Vec<String> = lines
        .iter()
        .map(|l| l.trim_start_matches("credrisk: alert: ").split(':').next().unwrap().to_string())
        .collect();
    assert!(subjects.contains(&"region=Biobío".to_string()), "{stderr}");
    assert!(subjects.contains(&"region=Araucanía".to_string()), "{stderr}");
    let allowed = ["region=Biobío", "region=Araucanía", "region", "regional_unemployment"];
    assert!(subjects.iter().all(|s| allowed.contains(&s.as_str())), "unexpected alert:\n{stderr}");
    assert!(stderr.contains("in the training reference") && stderr.contains("points"), "{stderr}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("regional_unemployment") && stdout.contains("ALERTS"), "{stdout}");

    // The run: three steps, timestamps at each period's first day, the batches as artifacts.
    let run_id = reports[0]["tracking"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(reports[1]["tracking"]["run_id"], run_id.as_str());
    assert_eq!(reports[1]["approval"]["previous_rate"], reports[0]["approval"]["rate"]);
    let history = py_json(
        r#"
import json, sys, mlflow
c = mlflow.MlflowClient(sys.argv[1])
r = c.get_run(sys.argv[2])
h = lambda k: sorted([m.step, m.timestamp, m.value] for m in c.get_metric_history(sys.argv[2], k))
arts = [a.path for a in c.list_artifacts(sys.argv[2], "batches")]
print(json.dumps({"status": r.info.status, "unemployment": h("psi/regional_unemployment"),
    "biobio": h("approval/region/Biobío"), "alerts": h("alerts"), "artifacts": arts,
    "dp_region": h("fairness/region/dp_difference"), "dp_age": h("fairness/age/selection_rate/18-25"),
    "experiment": c.get_experiment(r.info.experiment_id).name}))
"#,
        &[&uri, &run_id],
    );
    assert_eq!(history["status"], "FINISHED");
    assert_eq!(history["experiment"], "credrisk-monitoring");
    let steps = |key: &str| -> Vec<(i64, i64)> {
        history[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m[0].as_i64().unwrap(), m[1].as_i64().unwrap()))
            .collect()
    };
    // 2027-01-01, 2027-02-01, 2027-03-01 at 00:00 UTC.
    let expected = vec![(1, 1_798_761_600_000), (2, 1_801_440_000_000), (3, 1_803_859_200_000)];
    assert_eq!(steps("unemployment"), expected);
    assert_eq!(steps("biobio"), expected);
    // The batch's fairness, under the names train logs, is drawn over the batches too.
    assert_eq!(steps("dp_region"), expected);
    assert_eq!(steps("dp_age"), expected);
    assert_eq!(
        history["dp_region"][0][2].as_f64().unwrap(),
        reports[0]["fairness"]["by"]["region"]["demographic_parity_difference"].as_f64().unwrap()
    );
    let alerts: Vec<f64> =
        history["alerts"].as_array().unwrap().iter().map(|m| m[2].as_f64().unwrap()).collect();
    assert_eq!(alerts[..2], [0.0, 0.0]);
    assert!(alerts[2] >= 2.0);
    let psi3 = history["unemployment"][2][2].as_f64().unwrap();
    assert!(psi3 > 0.1, "{psi3}");
    assert_eq!(
        history["artifacts"],
        serde_json::json!(["batches/batch-0001.json", "batches/batch-0002.json", "batches/batch-0003.json"])
    );
    assert_checker_passes(&dir.join("mlruns"), &[]);

    // The same alerts in Spanish, without touching the run.
    let out = run(dir, &["monitor", "--model", model, "--data", "data/2027-03.parquet", "--no-tracking"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("region=Biobío: tasa de aprobación") && stderr.contains("puntos"), "{stderr}");
    assert!(text(&out.stdout).contains("ALERTAS"));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "data/d", "3000", "2", &["--csv"]);
    common::ok_in(
        dir,
        &["train", "--data", "data/d.parquet", "--n-estimators", "5", "--no-tracking", "--quiet"],
    );
    let expect_2 = |args: &[&str], needle: &str| {
        let mut all = vec!["monitor", "--no-tracking"];
        all.extend_from_slice(args);
        let out = run(dir, &all);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("credrisk: error: ") && stderr.contains(needle), "{args:?}: {stderr}");
    };
    // An empty batch (a header and no rows).
    let csv = std::fs::read_to_string(dir.join("data/d.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    std::fs::write(dir.join("empty.csv"), format!("{header}\n")).unwrap();
    expect_2(&["--model", "outputs/model", "--data", "empty.csv"], "no data rows");
    // A missing column.
    let drop_income = |line: &str| {
        let cells: Vec<&str> = line.split(',').collect();
        let i = header.split(',').position(|h| h == "income").unwrap();
        cells.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, c)| *c).collect::<Vec<_>>().join(",")
    };
    let no_income: Vec<String> = csv.lines().take(50).map(drop_income).collect();
    std::fs::write(dir.join("no_income.csv"), no_income.join("\n") + "\n").unwrap();
    expect_2(&["--model", "outputs/model", "--data", "no_income.csv"], "income");
    // A model without a reference (trained before credrisk kept one).
    let old = dir.join("old_model");
    std::fs::create_dir(&old).unwrap();
    for entry in std::fs::read_dir(dir.join("outputs/model")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().unwrap() != "reference.json" {
            std::fs::copy(&path, old.join(path.file_name().unwrap())).unwrap();
        }
    }
    expect_2(&["--model", "old_model", "--data", "data/d.parquet"], "reference.json");
    expect_2(&["--model", "outputs/model", "--data", "nope.parquet"], "no such file");
    expect_2(&["--model", "outputs/model", "--data", "data/d.parquet", "--period", "2027-13"], "YYYY-MM");
    // The generator's new options are checked before anything is written.
    for (args, needle) in [
        (&["--shock-region", "Mordor"][..], "Magallanes"),
        (&["--period", "2027-3"][..], "YYYY-MM"),
        (&["--income-scale", "0"][..], "--income-scale"),
        (&["--unemployment-shift", "2"][..], "fractions"),
    ] {
        let mut all = vec!["generate", "--rows", "10", "--prefix", "bad/d", "-q"];
        all.extend_from_slice(args);
        let out = run(dir, &all);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.lines().count() == 1 && stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert!(!dir.join("bad").exists());
}

#[test]
fn a_tracking_server_holds_the_monitoring_run_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let backend = format!("sqlite:///{}", dir.join("mlflow.db").display());
    let artifacts = dir.join("mlartifacts");
    let server = MlflowServer::start(
        &["--backend-store-uri", &backend, "--artifacts-destination", artifacts.to_str().unwrap()],
        dir,
    );
    let url = server.url.clone();
    generate(dir, "data/train", "8000", "3", &[]);
    generate(dir, "data/b1", "4000", "3", &["--period", "2027-05"]);
    generate(dir, "data/b2", "4000", "3", &["--period", "2027-06"]);
    common::ok_in(
        dir,
        &["train", "--data", "data/train.parquet", "--n-estimators", "10", "--tracking-uri", &url, "--quiet"],
    );
    let trained = py_json(
        r#"
import json, sys, mlflow
c = mlflow.MlflowClient(sys.argv[1])
r = c.search_runs([c.get_experiment_by_name("credrisk").experiment_id])[0]
print(json.dumps({"id": r.info.run_id}))
"#,
        &[&url],
    );
    let model = format!("runs:/{}/model", trained["id"].as_str().unwrap());
    let mut run_id = String::new();
    for (data, period) in [("data/b1.parquet", "2027-05"), ("data/b2.parquet", "2027-06")] {
        let (code, report, stderr) =
            monitor(dir, &model, data, &["--tracking-uri", &url, "--period", period]);
        assert!(code == 0 || code == 1, "{stderr}");
        run_id = report["tracking"]["run_id"].as_str().unwrap().to_string();
        assert_eq!(report["model_run_id"], trained["id"]);
    }
    let history = py_json(
        r#"
import json, sys, mlflow
c = mlflow.MlflowClient(sys.argv[1])
h = sorted([m.step, m.timestamp] for m in c.get_metric_history(sys.argv[2], "psi/score"))
r = c.get_run(sys.argv[2])
print(json.dumps({"history": h, "tag": r.data.tags.get("credrisk.monitor.model"), "status": r.info.status}))
"#,
        &[&url, &run_id],
    );
    // 2027-05-01 and 2027-06-01, 00:00 UTC.
    assert_eq!(
        history["history"],
        serde_json::json!([[1, 1_809_129_600_000_i64], [2, 1_811_808_000_000_i64]])
    );
    assert_eq!(history["tag"], trained["id"]);
    assert_eq!(history["status"], "FINISHED");
}
