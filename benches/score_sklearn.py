"""The Python side of benches/score.sh: a scikit-learn forest of the same size trained on the same
rows, scoring an applicant Parquet file to Parquet as a whole process would (read, one-hot,
predict_proba with n_jobs=-1, write), and shap's TreeExplainer on a slice of it. Prints JSON."""

import argparse
import json
import time

started = time.perf_counter()
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--leaf", type=int, default=20)
    ap.add_argument("--shap-rows", type=int, default=2000)
    a = ap.parse_args()
    train = pd.read_parquet(a.train)
    y = train.pop("approved").astype(int)
    train = train.drop(columns=["approval_score"], errors="ignore")
    # Text columns are the categories (credrisk's Parquet writes them as UTF-8).
    CATEGORIES = [c for c in train.columns if pd.api.types.is_string_dtype(train[c])]
    numeric = [c for c in train.columns if c not in CATEGORIES]
    model = Pipeline([
        ("encode", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORIES)],
                                     remainder="passthrough", sparse_threshold=0)),
        ("forest", RandomForestClassifier(n_estimators=a.trees, max_depth=a.depth, min_samples_leaf=a.leaf,
                                          max_features="sqrt", n_jobs=-1, random_state=42)),
    ])
    t = time.perf_counter()
    model.fit(train[CATEGORIES + numeric], y)
    fit_seconds = time.perf_counter() - t

    # Score: the whole Parquet → Parquet path, timed from reading to the written file.
    t = time.perf_counter()
    frame = pd.read_parquet(a.data, columns=CATEGORIES + numeric)
    p = model.predict_proba(frame)[:, 1]
    pq.write_table(pa.table({"row": np.arange(1, len(p) + 1), "probability": p, "approved": p >= 0.5}), a.out)
    score_seconds = time.perf_counter() - t

    # The forest's size, to check that the two sides walk trees of the same size (credrisk's
    # 100 x 12 x 20 forest has about 2,680 nodes a tree, scikit-learn's 2,650).
    trees = [e.tree_ for e in model.named_steps["forest"].estimators_]
    result = {
        "rows": len(frame), "fit_seconds": fit_seconds, "score_seconds": score_seconds,
        "score_rows_per_s": len(frame) / score_seconds,
        "nodes_per_tree": float(np.mean([t.node_count for t in trees])),
        "max_depth": int(max(t.max_depth for t in trees)),
        "shap_rows": a.shap_rows, "shap_seconds": None, "shap_rows_per_s": None,
    }
    if a.shap_rows > 0:  # --shap-rows 0: the score comparison only
        import shap

        t = time.perf_counter()
        explainer = shap.TreeExplainer(model.named_steps["forest"])
        x = model.named_steps["encode"].transform(frame.head(a.shap_rows))
        explainer.shap_values(x, check_additivity=False)
        result["shap_seconds"] = time.perf_counter() - t
        result["shap_rows_per_s"] = a.shap_rows / result["shap_seconds"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
