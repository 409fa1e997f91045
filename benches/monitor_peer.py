#!/usr/bin/env python3
"""The NumPy/SciPy side of benches/monitor.sh: the drift `credrisk monitor` computes, for every
input column of a batch against a reference table (no model, so no score and no approvals):
PSI over the reference's deciles with a missing bin, scipy.stats.ks_2samp (asymptotic) for
numbers, chi2_contingency for categories. Prints the seconds it took (after the imports).

    monitor_peer.py REFERENCE.parquet BATCH.parquet
"""

import sys
import time

import numpy as np
import pyarrow.parquet as pq
from scipy import stats

NUMERIC = {"age", "dependents", "income", "employment_years", "credit_history_months", "num_loans",
           "avg_monthly_payment", "delinquency_rate", "credit_inquiries", "regional_cpi",
           "regional_unemployment"}
CATEGORICAL = {"gender", "region", "education_level", "marital_status", "housing_status"}


def psi(r, b):
    r = r / r.sum()
    b = b / b.sum()
    r[r == 0] = 1e-4
    b[b == 0] = 1e-4
    return float(np.sum((b - r) * np.log(b / r)))


def main():
    started = time.perf_counter()
    ref, batch = pq.read_table(sys.argv[1]), pq.read_table(sys.argv[2])
    out = {}
    for name in sorted(NUMERIC):
        r = ref.column(name).to_numpy(zero_copy_only=False).astype(float)
        b = batch.column(name).to_numpy(zero_copy_only=False).astype(float)
        rp, bp = r[~np.isnan(r)], b[~np.isnan(b)]
        edges = np.unique(np.quantile(rp, np.arange(1, 10) / 10))
        counts = lambda x, xp: np.append(np.bincount(np.searchsorted(edges, xp, side="left"),
                                                     minlength=len(edges) + 1), len(x) - len(xp)).astype(float)
        ks = stats.ks_2samp(bp, rp, method="asymp")
        out[name] = (psi(counts(r, rp), counts(b, bp)), ks.pvalue)
    for name in sorted(CATEGORICAL):
        r = ref.column(name).to_pandas().fillna("<missing>")
        b = batch.column(name).to_pandas().fillna("<missing>")
        cats = sorted(set(r.unique()) | set(b.unique()))
        rc = r.value_counts().reindex(cats, fill_value=0).to_numpy().astype(float)
        bc = b.value_counts().reindex(cats, fill_value=0).to_numpy().astype(float)
        chi2 = stats.chi2_contingency(np.array([rc, bc]), correction=False)
        out[name] = (psi(rc, bc), chi2.pvalue)
    print(f"peer seconds {time.perf_counter() - started:.3f} ({len(out)} inputs)")


if __name__ == "__main__":
    main()
