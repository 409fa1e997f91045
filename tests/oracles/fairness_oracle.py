"""Fairlearn's numbers for the rows `credrisk fairness --rows FILE` judged: per group metrics and
the disparities between groups and to overall from `MetricFrame`, and bootstrap intervals from
`MetricFrame(..., n_boot=..., ci_quantiles=...)` (Fairlearn's own resampling of the whole batch).

usage: fairness_oracle.py ROWS.csv MIN_GROUP N_BOOT SEED [GROUPING ...]

A grouping `a*b` is an intersection: its labels `x*y` are split into two sensitive features, as
Fairlearn groups by several columns. Groups with fewer than MIN_GROUP rows or only one label
class are not judged: the between-groups disparities are Fairlearn's on the judged rows, the
to-overall ones compare Fairlearn's judged groups with Fairlearn's overall of the whole batch.
Prints JSON: {grouping: {"groups": {label: {metric: value, metric_ci: [lo, hi]}}, disparity:
value, disparity_ci: [lo, hi]}}.
"""

import json
import sys

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score, roc_auc_score

QUANTILES = [0.025, 0.975]


def observed_rate(y_true, y_pred):
    return float(np.mean(y_true))


def precision(y_true, y_pred):
    return precision_score(y_true, y_pred, zero_division=np.nan)


def mean_probability(y_true, y_pred, probability):
    return float(np.mean(probability))


def roc_auc(y_true, y_pred, probability):
    return roc_auc_score(y_true, probability)


RATES = {
    "selection_rate": selection_rate,
    "mean_probability": mean_probability,
    "observed_rate": observed_rate,
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "precision": precision,
}


def frame(rows, features, n_boot=None, seed=None, with_auc=True):
    metrics = dict(RATES)
    params = {"mean_probability": {"probability": rows["probability"].to_numpy()}}
    if with_auc:
        metrics["roc_auc"] = roc_auc
        params["roc_auc"] = {"probability": rows["probability"].to_numpy()}
    boot = {}
    if n_boot:
        boot = {"n_boot": n_boot, "ci_quantiles": QUANTILES, "random_state": seed}
    return MetricFrame(
        metrics=metrics,
        y_true=rows["label"].to_numpy(),
        y_pred=rows["decision"].to_numpy(),
        sensitive_features=features,
        sample_params=params,
        **boot,
    )


def to_list(x):
    return [None if pd.isna(v) else float(v) for v in x]


def key(index_value):
    return "*".join(index_value) if isinstance(index_value, tuple) else str(index_value)


def eodds_ci(rows, features, n_boot, seed):
    """Equalized odds difference (between groups, to overall) over Fairlearn's resampling scheme
    (the seeds and `DataFrame.sample` calls of `fairlearn.metrics._bootstrap`), each replicate
    judged by Fairlearn's `equalized_odds_difference`: MetricFrame has no interval for the worst
    case of two metrics."""
    data = features.copy()
    data["__y"] = rows["label"].to_numpy()
    data["__d"] = rows["decision"].to_numpy()
    seeds = np.random.default_rng(seed=int(seed)).integers(
        low=0, high=np.iinfo(np.uint32).max, size=n_boot, dtype=np.uint32
    )
    values = {"between_groups": [], "to_overall": []}
    for s in seeds:
        sample = data.sample(frac=1, replace=True, random_state=s, axis=0, ignore_index=True)
        for method, out in values.items():
            out.append(
                equalized_odds_difference(
                    sample["__y"], sample["__d"], sensitive_features=sample[list(features.columns)], method=method
                )
            )
    return {m: to_list(np.nanquantile(v, QUANTILES)) for m, v in values.items()}


def judge(rows, grouping, min_group, n_boot, seed):
    names = grouping.split("*")
    parts = rows[grouping].astype(str).str.split("*", expand=True)
    parts.columns = names
    full = frame(rows, parts, n_boot, seed, with_auc=False)
    aucs = frame(rows, parts, with_auc=True).by_group["roc_auc"]
    groups = {}
    counts = rows.groupby(rows[grouping].astype(str))["label"].agg(["size", "sum"])
    judged = [
        g
        for g, (n, pos) in counts.iterrows()
        if n >= min_group and 0 < pos < n
    ]
    for index_value, values in full.by_group.iterrows():
        label = key(index_value)
        entry = {m: (None if pd.isna(v) else float(v)) for m, v in values.items()}
        entry["roc_auc"] = float(aucs.loc[index_value])
        if n_boot:
            lo, hi = full.by_group_ci
            for m in RATES:
                entry[m + "_ci"] = to_list([lo.loc[index_value, m], hi.loc[index_value, m]])
        groups[label] = entry
    out = {"groups": groups, "judged": sorted(judged)}

    # Between groups: Fairlearn on the judged rows only.
    mask = rows[grouping].astype(str).isin(judged).to_numpy()
    sub = rows[mask]
    sub_parts = parts[mask]
    all_judged = len(judged) == len(groups)
    between = full if all_judged else frame(sub, sub_parts, n_boot, seed, with_auc=False)
    eodds = eodds_ci(sub, sub_parts, n_boot, seed) if n_boot else None
    diff, ratio = between.difference(), between.ratio()
    out["demographic_parity_difference"] = float(diff["selection_rate"])
    out["demographic_parity_ratio"] = float(ratio["selection_rate"])
    out["equal_opportunity_difference"] = float(diff["tpr"])
    out["equalized_odds_difference"] = float(max(diff[["tpr", "fpr"]]))
    if n_boot:
        dlo, dhi = between.difference_ci()
        rlo, rhi = between.ratio_ci()
        out["demographic_parity_difference_ci"] = to_list([dlo["selection_rate"], dhi["selection_rate"]])
        out["demographic_parity_ratio_ci"] = to_list([rlo["selection_rate"], rhi["selection_rate"]])
        out["equal_opportunity_difference_ci"] = to_list([dlo["tpr"], dhi["tpr"]])
        out["equalized_odds_difference_ci"] = eodds["between_groups"]

    # To overall: when every group is judged, Fairlearn's own method="to_overall"; otherwise its
    # judged groups against its overall of the whole batch (the same formulas, restricted).
    if all_judged:
        d, r = full.difference(method="to_overall"), full.ratio(method="to_overall")
        out["demographic_parity_difference_to_overall"] = float(d["selection_rate"])
        out["demographic_parity_ratio_to_overall"] = float(r["selection_rate"])
        out["equal_opportunity_difference_to_overall"] = float(d["tpr"])
        out["equalized_odds_difference_to_overall"] = float(max(d[["tpr", "fpr"]]))
        out["to_overall_from"] = "MetricFrame.difference(method='to_overall')"
        if n_boot:
            dlo, dhi = full.difference_ci(method="to_overall")
            rlo, rhi = full.ratio_ci(method="to_overall")
            out["demographic_parity_difference_to_overall_ci"] = to_list(
                [dlo["selection_rate"], dhi["selection_rate"]]
            )
            out["demographic_parity_ratio_to_overall_ci"] = to_list([rlo["selection_rate"], rhi["selection_rate"]])
            out["equal_opportunity_difference_to_overall_ci"] = to_list([dlo["tpr"], dhi["tpr"]])
            out["equalized_odds_difference_to_overall_ci"] = eodds["to_overall"]
    else:
        by_group = full.by_group.copy()
        by_group.index = [key(i) for i in by_group.index]
        kept = by_group.loc[judged]
        overall = full.overall

        def worst(metric):
            return float((kept[metric] - overall[metric]).abs().max())

        ratios = kept["selection_rate"] / overall["selection_rate"]
        out["demographic_parity_difference_to_overall"] = worst("selection_rate")
        out["demographic_parity_ratio_to_overall"] = float(ratios.where(ratios <= 1, 1 / ratios).min())
        out["equal_opportunity_difference_to_overall"] = worst("tpr")
        out["equalized_odds_difference_to_overall"] = max(worst("tpr"), worst("fpr"))
        out["to_overall_from"] = "MetricFrame.by_group (judged) vs MetricFrame.overall"
    return out


def main():
    path, min_group, n_boot, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    groupings = sys.argv[5:]
    rows = pd.read_csv(path, dtype={g: str for g in groupings}, keep_default_na=False)
    rows["label"] = rows["label"].astype(int)
    rows["decision"] = rows["decision"].astype(int)
    rows["probability"] = rows["probability"].astype(float)
    overall = frame(rows, rows[groupings[0]].astype(str)).overall
    result = {"overall": {m: float(v) for m, v in overall.items()}, "by": {}}
    for g in groupings:
        result["by"][g] = judge(rows, g, min_group, n_boot or None, seed)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
