#!/usr/bin/env python3
"""The real `shap` package (pinned in tests/requirements.txt) as the oracle for credrisk's TreeSHAP.

    shap_oracle.py --model forest.json --rows rows.csv|rows.json
                   [--background bg.csv|bg.json] [--mode path|interventional]
                   [--compare ours.json] [--tol T] [--additivity-tol T] [--out oracle.json]

The model is a `credrisk-forest/1` dump (what `credrisk export-forest` and sklearn_to_dump.py
write). Rows are a CSV whose header names every feature (other columns are ignored), or JSON: a
list of {feature: number} objects, or one such object. A missing value is an empty CSV cell, a
NaN cell or a JSON null; it goes to the node's `children_default` (the right child when the dump
has no `children_default`, as credrisk reads such a dump).

It prints (or writes to --out) {"feature_names", "mode", "expected_value", "shap_values" (rows x
features), "prediction", "max_additivity_error"}. With --compare it reads credrisk's answer in
the same shape ("feature_names" optional: it orders the columns) and lists the worst gaps beyond
--tol (default 1e-9 path-dependent, 1e-6 interventional).

Exit codes: 0 ok (and a match), 1 a mismatch, 2 bad input, 3 the oracle failed its own checks
(shap's routing or additivity): then this script or shap is wrong, not the input.

What handing a dump to shap 0.51 has to get right (shap/cext/tree_shap.h, explainers/_tree.py):
- shap's custom tree dict (children_left/right/default, features, thresholds, values,
  node_sample_weight) is scaled by nothing: leaf values are divided by the tree count here so
  that shap's sum over trees is the forest's mean.
- shap recomputes every internal node's value as the cover-weighted mean of its children, and
  the path-dependent base value from those; the dump's internal values are only checked.
- Every code path goes left iff x <= threshold and sends a missing x to children_default. But
  the interventional kernel keeps thresholds and leaf values as C `float`, so an x between t and
  float32(t) would go the wrong way: thresholds are handed over as ranks (the k-th distinct
  threshold of a feature becomes 2k+1) and inputs as 2 * #{thresholds < x}, integers that float32
  holds exactly and that take every branch the raw numbers take. SHAP values depend only on the
  branches taken, so they are unchanged; leaf values in float32 are why that mode agrees to ~1e-8.
- The interventional kernel indexes nodes with C `short`: a tree over 32767 nodes is refused.
- shap.maskers.Independent keeps 100 background rows unless told otherwise: all are kept.
- "input_dtype": "float32" (scikit-learn's dumps): inputs are cast to float32 before comparing,
  as scikit-learn does.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import tempfile
import warnings

import numpy as np

FORMAT = "credrisk-forest/1"
ARRAYS = ("children_left", "children_right", "feature", "threshold", "value", "cover")
MAX_SHORT_NODES = 32767
FLOAT32_INTEGERS = 2**24
WORST_SHOWN = 15


class BadInput(Exception):
    """The user's file is wrong: one line on stderr, exit 2."""


class SelfCheckFailed(Exception):
    """shap and this script disagree about the forest itself: exit 3."""


def say(message: str) -> None:
    print(f"shap_oracle: {message}", file=sys.stderr)


# ------------------------------------------------------------------------------------- reading


def read_json(path: str, what: str):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise BadInput(f"cannot read the {what} file {path}: {exc.strerror}")
    except ValueError as exc:
        raise BadInput(f"the {what} file {path} is not JSON: {exc}")


class Tree:
    """One tree's node arrays, checked: a tree rooted at node 0, every number where it belongs."""

    def __init__(self, raw, t: int, n_features: int):
        where = f"trees[{t}]"
        if not isinstance(raw, dict):
            raise BadInput(f"{where} is not an object")
        lacking = [k for k in ARRAYS if k not in raw]
        if lacking:
            raise BadInput(f"{where} lacks {', '.join(lacking)}")
        ints = {k: self._array(raw, k, where, integer=True) for k in ("children_left", "children_right", "feature")}
        nums = {k: self._array(raw, k, where, integer=False) for k in ("threshold", "value", "cover")}
        self.left, self.right, self.feature = ints["children_left"], ints["children_right"], ints["feature"]
        self.threshold, self.value, self.cover = nums["threshold"], nums["value"], nums["cover"]
        n = len(self.left)
        self.default = (self._array(raw, "children_default", where, integer=True)
                        if "children_default" in raw else self.right.copy())
        if n == 0 or any(len(a) != n for a in (self.right, self.feature, self.threshold, self.value,
                                               self.cover, self.default)):
            raise BadInput(f"{where}: the node arrays must be non-empty and of one length")
        if n > MAX_SHORT_NODES:
            raise BadInput(f"{where} has {n} nodes; shap's interventional kernel indexes at most "
                           f"{MAX_SHORT_NODES} (C short)")
        self.leaf = self.left == -1
        if np.any(self.leaf != (self.right == -1)):
            raise BadInput(f"{where}: node {int(np.argmax(self.leaf != (self.right == -1)))} has one child -1")
        inner = ~self.leaf
        for name, child in (("children_left", self.left), ("children_right", self.right)):
            bad = inner & ((child <= 0) | (child >= n))
            if bad.any():
                i = int(np.argmax(bad))
                raise BadInput(f"{where}.{name}[{i}] = {child[i]} is not a node index")
        bad = inner & (self.default != self.left) & (self.default != self.right)
        if bad.any():
            i = int(np.argmax(bad))
            raise BadInput(f"{where}.children_default[{i}] = {self.default[i]} is neither child of node {i}")
        self.default = np.where(inner, self.default, -1)
        bad = inner & ((self.feature < 0) | (self.feature >= n_features))
        if bad.any():
            i = int(np.argmax(bad))
            raise BadInput(f"{where}.feature[{i}] = {self.feature[i]} is not a feature index")
        if not np.isfinite(self.threshold[inner]).all():
            raise BadInput(f"{where}: a split has a threshold that is not finite")
        if not (np.isfinite(self.value).all() and (self.value >= 0).all() and (self.value <= 1).all()):
            raise BadInput(f"{where}: every value must be a probability in [0, 1]")
        if not (np.isfinite(self.cover).all() and (self.cover > 0).all()):
            raise BadInput(f"{where}: every cover must be a finite number > 0")
        self._check_shape(where)

    @staticmethod
    def _array(raw: dict, key: str, where: str, integer: bool) -> np.ndarray:
        items = raw[key]
        if not isinstance(items, list):
            raise BadInput(f"{where}.{key} is not a list")
        kinds = (int,) if integer else (int, float)
        for i, v in enumerate(items):
            if isinstance(v, bool) or not isinstance(v, kinds):
                raise BadInput(f"{where}.{key}[{i}] = {v!r} is not {'an integer' if integer else 'a number'}")
        return np.asarray(items, dtype=np.int64 if integer else np.float64)

    def _check_shape(self, where: str) -> None:
        """Every node reached once from the root (no cycle, no orphan, no shared child)."""
        seen = np.zeros(len(self.left), dtype=bool)
        stack = [0]
        while stack:
            i = stack.pop()
            if seen[i]:
                raise BadInput(f"{where}: node {i} is reached twice from the root")
            seen[i] = True
            if not self.leaf[i]:
                stack.extend((int(self.left[i]), int(self.right[i])))
        if not seen.all():
            raise BadInput(f"{where}: node {int(np.argmin(seen))} is not reachable from the root")

    def leaf_of(self, X: np.ndarray) -> np.ndarray:
        """The leaf each row lands in: left iff x <= threshold, a missing x to children_default."""
        node = np.zeros(len(X), dtype=np.int64)
        rows = np.arange(len(X))
        while True:
            moving = ~self.leaf[node]
            if not moving.any():
                return node
            n = node[moving]
            x = X[rows[moving], self.feature[n]]
            node[moving] = np.where(np.isnan(x), self.default[n],
                                    np.where(x <= self.threshold[n], self.left[n], self.right[n]))


class Forest:
    def __init__(self, path: str):
        doc = read_json(path, "model")
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise BadInput(f'the model must be a JSON object with "format": "{FORMAT}"')
        names = doc.get("feature_names")
        if not (isinstance(names, list) and names and all(isinstance(n, str) and n for n in names)):
            raise BadInput("feature_names must be a non-empty list of non-empty strings")
        if len(set(names)) != len(names):
            raise BadInput("feature_names lists a name twice")
        dtype = doc.get("input_dtype", "float64")
        if dtype not in ("float64", "float32"):
            raise BadInput('input_dtype must be "float64" or "float32"')
        trees = doc.get("trees")
        if not (isinstance(trees, list) and trees):
            raise BadInput("trees must be a non-empty list")
        self.names: list[str] = names
        self.float32_inputs = dtype == "float32"
        self.trees = [Tree(raw, t, len(names)) for t, raw in enumerate(trees)]

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """X as the forest compares it (scikit-learn's dumps compare float32 inputs)."""
        return X.astype(np.float32).astype(np.float64) if self.float32_inputs else X

    def predict(self, X: np.ndarray) -> np.ndarray:
        return sum(t.value[t.leaf_of(X)] for t in self.trees) / len(self.trees)

    def notes(self) -> list[str]:
        """What the dump says that shap overrides: worth knowing when numbers differ."""
        cover_gap = value_gap = 0.0
        for t in self.trees:
            inner = ~t.leaf
            l, r, c = t.left[inner], t.right[inner], t.cover
            cover_gap = max(cover_gap, float(np.max(np.abs(c[l] + c[r] - c[inner]) / c[inner], initial=0.0)))
            mean = (c[l] * t.value[l] + c[r] * t.value[r]) / (c[l] + c[r])
            value_gap = max(value_gap, float(np.max(np.abs(mean - t.value[inner]), initial=0.0)))
        out = []
        if cover_gap > 1e-9:
            out.append(f"a parent's cover differs from its children's sum (relative gap {cover_gap:.3g})")
        if value_gap > 1e-9:
            out.append(f"an internal value differs from its children's cover-weighted mean by {value_gap:.3g} "
                       "(shap uses the mean)")
        return out


def cell(value, where: str) -> float:
    """A number, or NaN for a missing value (None or an empty/NaN string); nothing else."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        if text == "" or text.lower() == "nan":
            return math.nan
        try:
            value = float(text)  # exact decimal parsing, as credrisk's reader
        except ValueError:
            raise BadInput(f"{where}: {value!r} is not a number")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"{where}: {value!r} is not a number")
    if math.isinf(value):
        raise BadInput(f"{where}: {value!r} is infinite")
    return float(value)


def read_rows(path: str, names: list[str], what: str) -> np.ndarray:
    if path.lower().endswith(".json"):
        doc = read_json(path, what)
        records = [doc] if isinstance(doc, dict) else doc
        if not (isinstance(records, list) and records and all(isinstance(r, dict) for r in records)):
            raise BadInput(f"the {what} JSON must be an object or a non-empty list of objects")
        columns = set().union(*records)
        rows = []
        for i, record in enumerate(records):
            lacking = [n for n in names if n not in record]
            if lacking:
                raise BadInput(f"{what} row {i} lacks {', '.join(lacking[:5])}")
            rows.append([cell(record[n], f"{what} row {i} {n}") for n in names])
    else:
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                table = [line for line in csv.reader(fh) if line]
        except OSError as exc:
            raise BadInput(f"cannot read the {what} file {path}: {exc.strerror}")
        if len(table) < 2:
            raise BadInput(f"the {what} CSV needs a header and at least one row")
        header = [h.strip() for h in table[0]]
        lacking = [n for n in names if n not in header]
        if lacking:
            raise BadInput(f"the {what} CSV header lacks {', '.join(lacking[:5])}")
        columns = set(header)
        at = [header.index(n) for n in names]
        rows = []
        for line_no, line in enumerate(table[1:], start=2):
            if len(line) != len(header):
                raise BadInput(f"{what} CSV line {line_no} has {len(line)} cells, the header {len(header)}")
            rows.append([cell(line[j], f"{what} CSV line {line_no} {n}") for j, n in zip(at, names)])
    ignored = sorted(columns - set(names))
    if ignored:
        say(f"{what}: ignoring column(s) the model does not use: {', '.join(ignored[:8])}")
    return np.asarray(rows, dtype=np.float64)


# ----------------------------------------------------------------------------------- with shap


class RankCode:
    """Thresholds and inputs recoded as small integers that keep every `x <= t` decision."""

    def __init__(self, forest: Forest):
        splits = [(t.feature[~t.leaf], t.threshold[~t.leaf]) for t in forest.trees]
        feature = np.concatenate([f for f, _ in splits])
        threshold = np.concatenate([v for _, v in splits])
        self.sorted = [np.unique(threshold[feature == f]) for f in range(len(forest.names))]
        if 2 * max(len(s) for s in self.sorted) + 1 >= FLOAT32_INTEGERS:
            raise SelfCheckFailed("too many distinct thresholds for a code float32 holds exactly")

    def threshold(self, feature: int, value: float) -> float:
        return 2.0 * int(np.searchsorted(self.sorted[feature], value)) + 1.0

    def rows(self, X: np.ndarray) -> np.ndarray:
        out = np.full_like(X, np.nan)
        for f, cuts in enumerate(self.sorted):
            present = ~np.isnan(X[:, f])
            out[present, f] = 2.0 * np.searchsorted(cuts, X[present, f], side="left")
        return out


def shap_trees(forest: Forest, code: RankCode) -> dict:
    trees = []
    for t in forest.trees:
        inner = ~t.leaf
        thresholds = np.zeros(len(t.left))
        thresholds[inner] = [code.threshold(int(f), v) for f, v in zip(t.feature[inner], t.threshold[inner])]
        trees.append({
            "children_left": t.left.astype(np.int32),
            "children_right": t.right.astype(np.int32),
            "children_default": t.default.astype(np.int32),
            "features": np.where(inner, t.feature, -2).astype(np.int32),
            "thresholds": thresholds,
            "values": (t.value / len(forest.trees)).reshape(-1, 1),
            "node_sample_weight": t.cover.copy(),
        })
    return {"trees": trees, "base_offset": 0.0}


def explain(forest: Forest, X: np.ndarray, background: np.ndarray | None, mode: str) -> dict:
    import shap

    X = forest.inputs(X)
    code = RankCode(forest)
    model = shap_trees(forest, code)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap warns about large backgrounds and deprecations
        if mode == "path":
            explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
        else:
            if background is None:
                raise BadInput("--mode interventional needs --background")
            bg = code.rows(forest.inputs(background))
            masker = shap.maskers.Independent(bg, max_samples=len(bg))
            explainer = shap.TreeExplainer(model, data=masker, feature_perturbation="interventional")
        phi = np.asarray(explainer.shap_values(code.rows(X), check_additivity=False), dtype=np.float64)
        routed = np.asarray(explainer.model.predict(code.rows(X)), dtype=np.float64).reshape(-1)
    prediction = forest.predict(X)
    gap = float(np.max(np.abs(routed - prediction)))
    if gap > 1e-12:
        raise SelfCheckFailed(f"shap's routing of the recoded rows differs from the dump's by {gap:.3g}")
    base = float(np.asarray(explainer.expected_value).reshape(-1)[0])
    return {
        "feature_names": forest.names,
        "mode": mode,
        "expected_value": base,
        "shap_values": phi.tolist(),
        "prediction": prediction.tolist(),
        "max_additivity_error": float(np.max(np.abs(base + phi.sum(axis=1) - prediction))),
    }


# ------------------------------------------------------------------------------------ compare


def compare(oracle: dict, path: str, tol: float) -> list[tuple[float, str]]:
    """Every gap beyond tol between credrisk's answer and the oracle's, worst first."""
    ours = read_json(path, "compare")
    if not isinstance(ours, dict) or any(k not in ours for k in ("expected_value", "shap_values", "prediction")):
        raise BadInput("the compare file must be an object with expected_value, shap_values and prediction")
    names = oracle["feature_names"]
    try:
        phi = np.asarray(ours["shap_values"], dtype=np.float64)
        prediction = np.asarray(ours["prediction"], dtype=np.float64).reshape(-1)
        base = float(ours["expected_value"])
    except (TypeError, ValueError) as exc:
        raise BadInput(f"the compare file holds something that is not a number: {exc}")
    want = np.asarray(oracle["shap_values"])
    if phi.shape != want.shape or len(prediction) != len(want):
        raise BadInput(f"the compare file has shap_values {phi.shape} and {len(prediction)} predictions; "
                       f"the oracle {want.shape}")
    if "feature_names" in ours:
        theirs = ours["feature_names"]
        if not isinstance(theirs, list) or sorted(theirs) != sorted(names):
            raise BadInput("the compare file's feature_names are not the model's")
        phi = phi[:, [theirs.index(n) for n in names]]
    gaps = []
    if abs(base - oracle["expected_value"]) > tol:
        gaps.append((abs(base - oracle["expected_value"]),
                     f"expected_value: ours {base!r}, shap {oracle['expected_value']!r}"))
    want_p = np.asarray(oracle["prediction"])
    for i in np.flatnonzero(np.abs(prediction - want_p) > tol):
        gaps.append((abs(prediction[i] - want_p[i]), f"prediction[{i}]: ours {prediction[i]!r}, shap {want_p[i]!r}"))
    diff = np.abs(phi - want)
    for i, j in zip(*np.nonzero(diff > tol)):
        gaps.append((diff[i, j], f"row {i} {names[j]}: ours {phi[i, j]!r}, shap {want[i, j]!r}"))
    say(f"largest gaps: shap_values {diff.max(initial=0.0):.3e}, expected_value "
        f"{abs(base - oracle['expected_value']):.3e}, prediction {np.max(np.abs(prediction - want_p)):.3e}")
    return sorted(gaps, key=lambda g: -g[0])


def write(result: dict, path: str | None) -> None:
    text = json.dumps(result, allow_nan=False)
    if path is None:
        print(text)
        return
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".shap_oracle-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="the real shap package as the oracle for a credrisk-forest/1 dump")
    ap.add_argument("--model", required=True, help="the credrisk-forest/1 dump")
    ap.add_argument("--rows", required=True, help="rows to explain: CSV with a header, or JSON objects")
    ap.add_argument("--background", help="background rows (interventional mode)")
    ap.add_argument("--mode", choices=("path", "interventional"), default="path")
    ap.add_argument("--compare", help="credrisk's answer to check against shap's")
    ap.add_argument("--tol", type=float, help="largest gap allowed (default 1e-9 path, 1e-6 interventional)")
    ap.add_argument("--additivity-tol", type=float,
                    help="largest |base + sum(phi) - f(x)| allowed of shap itself (same defaults)")
    ap.add_argument("--out", help="write the oracle's JSON here instead of stdout")
    args = ap.parse_args(argv)
    default_tol = 1e-9 if args.mode == "path" else 1e-6
    try:
        forest = Forest(args.model)
        for note in forest.notes():
            say(f"note: {note}")
        X = read_rows(args.rows, forest.names, "rows")
        background = read_rows(args.background, forest.names, "background") if args.background else None
        result = explain(forest, X, background, args.mode)
        limit = args.additivity_tol if args.additivity_tol is not None else default_tol
        if result["max_additivity_error"] > limit:
            raise SelfCheckFailed(f"shap's own additivity error {result['max_additivity_error']:.3e} exceeds {limit:g}")
        if args.out or not args.compare:
            write(result, args.out)
        if not args.compare:
            return 0
        tol = args.tol if args.tol is not None else default_tol
        gaps = compare(result, args.compare, tol)
        if not gaps:
            print(f"OK: {len(X)} rows x {len(forest.names)} features agree with shap within {tol:g} ({args.mode})")
            return 0
        print(f"MISMATCH: {len(gaps)} value(s) differ from shap by more than {tol:g} ({args.mode}); worst first:")
        for gap, text in gaps[:WORST_SHOWN]:
            print(f"  |gap| {gap:.3e}  {text}")
        if len(gaps) > WORST_SHOWN:
            print(f"  ... and {len(gaps) - WORST_SHOWN} more")
        return 1
    except BadInput as exc:
        say(f"error: {exc}")
        return 2
    except SelfCheckFailed as exc:
        say(f"self-check failed: {exc}")
        return 3


if __name__ == "__main__":
    sys.exit(main())
