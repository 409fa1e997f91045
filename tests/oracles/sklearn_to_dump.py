#!/usr/bin/env python3
"""Writes a fitted scikit-learn random forest as a `credrisk-forest/1` dump, so that credrisk's
reader, its TreeSHAP and shap_oracle.py can be checked on trees scikit-learn grew.

    sklearn_to_dump.py MODEL.joblib --out forest.json [--feature-names a,b,c]
    from sklearn_to_dump import export_forest      # export_forest(fitted_forest, names) -> dict

MODEL is a binary RandomForestClassifier or ExtraTreesClassifier, or a Pipeline ending in one
(then the names come from the steps before it unless given).

Per node, from each estimator's `tree_`:
- value: the class-1 share of the node's (weighted) samples, tree_.value normalised per node
  (scikit-learn has stored both counts and shares there over the versions);
- cover: tree_.weighted_n_node_samples (bootstrap counts times sample weights);
- children_default: where scikit-learn sends a missing value (NaN), from tree_.missing_go_to_left
  (at a split that saw no missing value in training scikit-learn sets it towards the child with
  more samples); -1 at leaves, where feature is -1 and threshold 0.0;
- threshold: scikit-learn's own, except that a split of "missing or not" (trained on missing
  values) has threshold +inf, which JSON cannot hold: it becomes the largest finite double, the
  same decision for every number;
- "input_dtype": "float32", because scikit-learn casts inputs to float32 before comparing them
  with its float64 thresholds; credrisk's own dumps compare float64 inputs and omit the key.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

FORMAT = "credrisk-forest/1"


def export_tree(tree) -> dict:
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    leaf = left == -1
    counts = np.asarray(tree.value, dtype=np.float64)[:, 0, :]
    total = counts.sum(axis=1)
    if (total <= 0).any():
        raise ValueError("a node has no class weight, so no class-1 share")
    go_left = np.asarray(getattr(tree, "missing_go_to_left", np.ones(len(left))), dtype=bool)
    threshold = np.where(leaf, 0.0, tree.threshold).astype(np.float64)
    threshold[threshold == np.inf] = np.finfo(np.float64).max
    if not np.isfinite(threshold).all():
        raise ValueError("a split has a threshold that is -inf or NaN")
    return {
        "children_left": left.tolist(),
        "children_right": right.tolist(),
        "feature": np.where(leaf, -1, tree.feature).astype(np.int64).tolist(),
        "threshold": threshold.tolist(),
        "value": (counts[:, 1] / total).tolist(),
        "cover": np.asarray(tree.weighted_n_node_samples, dtype=np.float64).tolist(),
        "children_default": np.where(leaf, -1, np.where(go_left, left, right)).astype(np.int64).tolist(),
    }


def export_forest(forest, feature_names=None) -> dict:
    if not hasattr(forest, "estimators_"):
        raise ValueError("the model is not a fitted forest (no estimators_)")
    classes = list(getattr(forest, "classes_", []))
    if len(classes) != 2 or getattr(forest, "n_outputs_", 1) != 1:
        raise ValueError(f"need a binary single-output classifier, got classes {classes}")
    n = forest.n_features_in_
    if feature_names is None:
        feature_names = getattr(forest, "feature_names_in_", [f"x{i}" for i in range(n)])
    names = [str(f) for f in feature_names]
    if len(names) != n:
        raise ValueError(f"{len(names)} feature names for a forest of {n} features")
    # classes_ is sorted, so index 1 is the positive class (True, 1, or the larger label)
    return {"format": FORMAT, "feature_names": names, "input_dtype": "float32",
            "trees": [export_tree(e.tree_) for e in forest.estimators_]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="a fitted scikit-learn forest as a credrisk-forest/1 dump")
    ap.add_argument("model", help="joblib file: a fitted forest, or a Pipeline ending in one")
    ap.add_argument("--out", required=True, help="where to write the dump")
    ap.add_argument("--feature-names", help="comma-separated (default: the model's own, or x0, x1, ...)")
    args = ap.parse_args(argv)
    try:
        import joblib

        model = joblib.load(args.model)
        names = args.feature_names.split(",") if args.feature_names else None
        if hasattr(model, "steps"):
            head, model = model[:-1], model.steps[-1][1]
            if names is None and hasattr(head, "get_feature_names_out"):
                names = list(head.get_feature_names_out())
        dump = export_forest(model, names)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.out)), prefix=".dump-")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(dump, fh, allow_nan=False)
            os.replace(tmp, args.out)
        except BaseException:
            os.unlink(tmp)
            raise
    except Exception as exc:  # one line, never a traceback, for any unreadable or unfit model
        print(f"sklearn_to_dump: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
