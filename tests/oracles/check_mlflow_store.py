#!/usr/bin/env python3
"""Checks that an MLflow file store (an `mlruns` directory) reads back whole through the real
MLflow client (pinned in tests/requirements.txt): what `mlflow ui` and every MLflow user see.

    check_mlflow_store.py MLRUNS [--require-model] [--allow-empty] [-v]

The directory is only listed, to know which experiments and runs exist on disk (the client skips
a run it cannot parse instead of failing); everything else goes through MlflowClient:
- each experiment directory (also under .trash/) is returned by search_experiments and
  get_experiment, and search_runs over it succeeds (one bad metric file anywhere breaks the UI's
  run list for the whole experiment);
- each run directory reads with get_run, is listed by search_runs, and has the experiment it
  sits in; every metric's history reads; its artifacts list;
- a FINISHED run has metrics (a run that did not finish only gets a warning);
- --require-model: a FINISHED run has a model, either an artifact directory holding an MLmodel
  (runs:/<id>/model) or an MLflow 3 logged model of the run; the MLmodel is downloaded and
  parsed by mlflow.models.Model (with at least one flavor), and a file besides it is there;
- the model registry, when there is one: every registered model, version and alias reads, and
  each version's download URI lists a non-empty model.
It prints what it read per run, then every problem found.

Exit codes: 0 everything reads, 1 a problem (listed at the end), 2 bad usage (no such directory:
the client would quietly create an empty store there).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import tempfile

# MLflow 3 refuses a file store unless asked, and must not phone home from a test.
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

# Folders of an experiment that are not runs (mlflow's FileStore.RESERVED_EXPERIMENT_FOLDERS).
NOT_RUNS = {"tags", "datasets", "traces", "models"}
RUN_ID = re.compile(r"[A-Za-z0-9][\w-]{0,255}")


def first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def subdirs(path: str) -> list[str]:
    try:
        return sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    except OSError:
        return []


class StoreCheck:
    def __init__(self, root: str, require_model: bool, allow_empty: bool):
        import mlflow

        self.mlflow = mlflow
        self.root = root
        uri = "file://" + root
        # The registry URI has its own default, ./mlflow.db (created on first use): name the store
        # for the client and for the fluent API (mlflow.artifacts), which does not ask the client.
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        self.client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        self.require_model = require_model
        self.allow_empty = allow_empty
        self.problems: list[str] = []
        self.warnings = 0
        self.scratch = tempfile.mkdtemp(prefix="check_mlflow_store-")

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(f"    PROBLEM: {text}")

    def warn(self, text: str) -> None:
        self.warnings += 1
        print(f"    warning: {text}")

    def attempt(self, what: str, call):
        """call(), or None with a problem naming `what` when the client raises."""
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - any failure of the client is a finding
            self.problem(f"{what}: {first_line(exc)}")
            return None

    def walk(self, lister, path=None, depth=0) -> list:
        """Every file below `path` of an artifact listing (lister(path) -> FileInfo list)."""
        files = []
        for info in lister(path):
            if info.is_dir and depth < 20:
                files += self.walk(lister, info.path, depth + 1)
            elif not info.is_dir:
                files.append(info)
        return files

    def run(self) -> int:
        from mlflow.entities import ViewType

        print(f"MLflow store {self.root} (mlflow {self.mlflow.__version__})")
        on_disk = [(d, os.path.join(self.root, d)) for d in subdirs(self.root) if d not in (".trash", "models")]
        trash = os.path.join(self.root, ".trash")
        on_disk += [(d, os.path.join(trash, d)) for d in subdirs(trash)]
        listed = self.attempt("search_experiments", lambda: {
            e.experiment_id for e in self.client.search_experiments(view_type=ViewType.ALL, max_results=50000)})
        runs = 0
        for exp_id, path in on_disk:
            if listed is not None and exp_id not in listed:
                self.problem(f"experiment directory {exp_id} is not returned by search_experiments")
            runs += self.experiment(exp_id, path)
        if os.path.isdir(os.path.join(self.root, "models")):
            self.registry()
        if runs == 0 and not self.allow_empty:
            self.problem("the store holds no run (--allow-empty accepts that)")
        print(f"\n{len(on_disk)} experiment(s), {runs} run(s): {len(self.problems)} problem(s), "
              f"{self.warnings} warning(s)")
        if self.problems:
            print("FAILED:")
            for text in self.problems:
                print(f"  - {text}")
            return 1
        print("OK: the real MLflow client reads every experiment, run, metric, artifact and model")
        return 0

    def experiment(self, exp_id: str, path: str) -> int:
        from mlflow.entities import ViewType

        exp = self.attempt(f"get_experiment({exp_id})", lambda: self.client.get_experiment(exp_id))
        if exp is None:
            return 0
        print(f"\nexperiment {exp.experiment_id} {exp.name!r} ({exp.lifecycle_stage}) tags {dict(exp.tags)}")
        if not isinstance(exp.name, str):
            self.problem(f"experiment {exp_id}: the name reads back as {type(exp.name).__name__}")
        searched = self.attempt(f"search_runs over experiment {exp_id} (the UI's run list)", lambda: {
            r.info.run_id for r in self.client.search_runs([exp_id], run_view_type=ViewType.ALL,
                                                           max_results=50000)})
        run_dirs = [d for d in subdirs(path) if d not in NOT_RUNS]
        for run_id in run_dirs:
            self.one_run(exp_id, run_id, searched)
        return len(run_dirs)

    def one_run(self, exp_id: str, run_id: str, searched: set | None) -> None:
        print(f"  run {run_id}")
        if not RUN_ID.fullmatch(run_id):
            self.problem(f"{exp_id}/{run_id} is not a valid run id")
            return
        run = self.attempt(f"get_run({run_id})", lambda: self.client.get_run(run_id))
        if run is None:
            return
        info, data = run.info, run.data
        if searched is not None and run_id not in searched:
            self.problem(f"run {run_id} reads with get_run but search_runs does not list it")
        if info.experiment_id != exp_id:
            self.problem(f"run {run_id} says experiment {info.experiment_id!r} but sits in {exp_id!r}")
        finished = info.lifecycle_stage == "active" and info.status == "FINISHED"
        print(f"    {info.run_name!r} {info.status} {info.lifecycle_stage} user {info.user_id!r} "
              f"start {info.start_time} end {info.end_time}")
        print(f"    params {dict(sorted(data.params.items()))}")
        print(f"    metrics {dict(sorted(data.metrics.items()))}")
        print(f"    tags {dict(sorted((k, v) for k, v in data.tags.items() if not k.startswith('mlflow.')))}")
        if info.start_time is not None and info.start_time < 10**11:
            self.warn(f"run {run_id}: start_time {info.start_time} looks like seconds, not milliseconds")
        if not data.metrics:
            if finished:
                self.problem(f"run {run_id} is FINISHED without a metric")
            else:
                self.warn(f"run {run_id} ({info.status}) has no metric")
        for key in sorted(data.metrics):
            history = self.attempt(f"run {run_id}: get_metric_history({key!r})",
                                   lambda key=key: self.client.get_metric_history(run_id, key))
            if history is not None and not history:
                self.problem(f"run {run_id}: metric {key!r} has an empty history")
        files = self.attempt(f"run {run_id}: list_artifacts",
                             lambda: self.walk(lambda p: self.client.list_artifacts(run_id, p))) or []
        print(f"    artifacts {[f.path for f in files][:30]}")
        if self.require_model and finished:
            self.model_of(run, files)

    def mlmodel(self, label: str, download, listing: list[str], run_id: str) -> bool:
        """Downloads one MLmodel and parses it with MLflow's own Model class."""
        from mlflow.models import Model

        model = self.attempt(f"{label}: MLmodel", lambda: Model.load(download()))
        if model is None:
            return False
        print(f"    model {label}: flavors {sorted(model.flavors)}, files {listing}")
        ok = True
        if not model.flavors:
            self.problem(f"{label}: the MLmodel has no flavor")
            ok = False
        if not [f for f in listing if os.path.basename(f) != "MLmodel"]:
            self.problem(f"{label}: the model directory holds nothing but MLmodel")
            ok = False
        if model.run_id and model.run_id != run_id:
            self.warn(f"{label}: the MLmodel names run {model.run_id}")
        return ok

    def model_of(self, run, files: list) -> None:
        run_id = run.info.run_id
        found = False
        for f in files:  # a model directory among the run's artifacts (runs:/<id>/model)
            if os.path.basename(f.path) != "MLmodel":
                continue
            folder = os.path.dirname(f.path)
            listing = [x.path for x in files if not folder or x.path.startswith(folder + "/")]
            dest = tempfile.mkdtemp(dir=self.scratch)
            found |= self.mlmodel(f"runs:/{run_id}/{folder}", lambda p=f.path, d=dest:
                                  self.client.download_artifacts(run_id, p, d), listing, run_id)
        ids = {o.model_id for o in (run.outputs.model_outputs if run.outputs else [])}
        logged = self.attempt(f"run {run_id}: search_logged_models", lambda: self.client.search_logged_models(
            experiment_ids=[run.info.experiment_id], max_results=1000)) or []
        ids |= {m.model_id for m in logged if m.source_run_id == run_id}
        for model_id in sorted(ids):  # MLflow 3 logged models of the run
            model = self.attempt(f"logged model {model_id}", lambda m=model_id: self.client.get_logged_model(m))
            if model is None:
                continue
            listing = [x.path for x in self.walk(
                lambda p, m=model_id: self.client.list_logged_model_artifacts(m, p))]
            if "MLmodel" not in listing:
                self.warn(f"logged model {model_id} ({model.status}) has no MLmodel")
                continue
            # models:/m-<id>/MLmodel would name version "MLmodel" of a registered model:
            # go through the logged model's artifact location instead.
            dest = tempfile.mkdtemp(dir=self.scratch)
            found |= self.mlmodel(f"logged model {model_id}", lambda loc=model.artifact_location, d=dest:
                                  self.mlflow.artifacts.download_artifacts(
                                      artifact_uri=loc.rstrip("/") + "/MLmodel", dst_path=d), listing, run_id)
        if not found:
            self.problem(f"run {run_id} is FINISHED without a readable model (--require-model)")

    def registry(self) -> None:
        print("\nmodel registry")
        models = self.attempt("search_registered_models", lambda: list(
            self.client.search_registered_models(max_results=1000))) or []
        for rm in models:
            print(f"  {rm.name!r} aliases {rm.aliases}")
            versions = self.attempt(f"versions of {rm.name!r}", lambda n=rm.name: list(
                self.client.search_model_versions(f"name='{n}'"))) or []
            for mv in sorted(versions, key=lambda v: int(v.version)):
                label = f"model version {rm.name}/{mv.version}"
                uri = self.attempt(f"{label}: download URI", lambda v=mv.version, n=rm.name:
                                   self.client.get_model_version_download_uri(n, v))
                if uri is None:
                    continue
                entries = self.attempt(f"{label}: {uri}", lambda u=uri:
                                       self.mlflow.artifacts.list_artifacts(artifact_uri=u))
                print(f"    v{mv.version} run {mv.run_id} source {mv.source} -> {uri}")
                if entries is not None and not entries:
                    self.problem(f"{label}: {uri} is empty")
            for alias, version in (rm.aliases or {}).items():
                self.attempt(f"alias {rm.name}@{alias}",
                             lambda n=rm.name, a=alias: self.client.get_model_version_by_alias(n, a))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="an MLflow file store read back by the real MLflow client")
    ap.add_argument("mlruns", help="the file store's root directory")
    ap.add_argument("--require-model", action="store_true", help="a FINISHED run must have a readable model")
    ap.add_argument("--allow-empty", action="store_true", help="a store without runs is not a problem")
    ap.add_argument("-v", "--verbose", action="store_true", help="show MLflow's own log")
    args = ap.parse_args(argv)
    root = os.path.abspath(args.mlruns)
    if not os.path.isdir(root):
        print(f"check_mlflow_store: {root} is not a directory", file=sys.stderr)
        return 2
    if not args.verbose:
        logging.disable(logging.WARNING)
    check = StoreCheck(root, args.require_model, args.allow_empty)
    try:
        return check.run()
    except Exception as exc:  # noqa: BLE001 - anything unforeseen fails the check, with its cause
        print(f"check_mlflow_store: unexpected failure: {first_line(exc)}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(check.scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
