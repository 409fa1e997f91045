#!/usr/bin/env python3
"""Independent drift numbers for `credrisk monitor`, from the definitions (NumPy) and SciPy.

    monitor_oracle.py REFERENCE.parquet BATCH.parquet REPORT.json

REFERENCE is the table the model's reference was built on (train with --test-data REFERENCE),
BATCH the monitored file, REPORT `credrisk monitor --json`'s output (read only for which inputs
exist, their kind, and the category order of its bins; none of its numbers are used). For every
input that is a column of the files, prints one JSON object:

- PSI, written here from its definition: bins are the reference's deciles (np.quantile, linear)
  with duplicates merged, open-ended outer bins, a value on an edge in the lower bin
  (searchsorted side="left"), a bin for missing values; shares of empty bins are 1e-4;
  PSI = sum((b - r) * ln(b / r)). Categories: one bin per category plus missing.
- numbers: scipy.stats.ks_2samp(batch, reference, method="asymp") on the non-missing values
  (the reference has at most 2000 rows, so its KS sample is all of it);
- categories: scipy.stats.chi2_contingency of the 2 x k table (reference counts, batch counts)
  without continuity correction, categories empty on both sides dropped.
"""

import json
import sys

import numpy as np
import pyarrow.parquet as pq
from scipy import stats

EPS = 1e-4


def psi(r_counts, b_counts):
    r = np.asarray(r_counts, dtype=float)
    b = np.asarray(b_counts, dtype=float)
    r = r / r.sum()
    b = b / b.sum()
    r[r == 0] = EPS
    b[b == 0] = EPS
    return float(np.sum((b - r) * np.log(b / r)))


def numeric_counts(edges, x):
    missing = np.isnan(x)
    bins = np.searchsorted(edges, x[~missing], side="left")
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return list(counts) + [int(missing.sum())]


def category_counts(categories, values):
    counts = [0] * (len(categories) + 1)
    index = {c: i for i, c in enumerate(categories)}
    for v in values:
        counts[len(categories) if v is None else index[v]] += 1
    return counts


def main():
    ref = pq.read_table(sys.argv[1])
    batch = pq.read_table(sys.argv[2])
    report = json.load(open(sys.argv[3]))
    out = {}
    for drift in report["inputs"]:
        name = drift["name"]
        if name not in ref.column_names:
            continue  # a derived feature: not a column of the files
        col_r, col_b = ref.column(name), batch.column(name)
        if drift["test"] is not None and drift["test"]["name"] == "ks":
            r = col_r.to_numpy(zero_copy_only=False).astype(float)
            b = col_b.to_numpy(zero_copy_only=False).astype(float)
            edges = np.unique(np.quantile(r[~np.isnan(r)], [k / 10 for k in range(1, 10)]))
            rc, bc = numeric_counts(edges, r), numeric_counts(edges, b)
            ks = stats.ks_2samp(b[~np.isnan(b)], r[~np.isnan(r)], method="asymp")
            out[name] = {"psi": psi(rc, bc), "ks_statistic": float(ks.statistic), "ks_p": float(ks.pvalue),
                         "edges": edges.tolist()}
        else:
            categories = drift["bins"][:-1]
            as_text = lambda col: [None if v is None else str(v).lower() if isinstance(v, bool) else v
                                   for v in col.to_pylist()]
            rc = category_counts(categories, as_text(col_r))
            bc = category_counts(categories, as_text(col_b))
            table = np.array([rc, bc])
            table = table[:, table.sum(axis=0) > 0]
            chi2 = stats.chi2_contingency(table, correction=False)
            out[name] = {"psi": psi(rc, bc), "chi2_statistic": float(chi2.statistic), "chi2_p": float(chi2.pvalue),
                         "chi2_df": int(chi2.dof)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
