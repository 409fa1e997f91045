"""Brute-force check of credrisk's single-field recourse (`credrisk recourse --max-changes 1`):
for every denied customer and every actionable field, every value a person could type next to
every split threshold of the exported forest that can change the field's effect (thresholds on
its own column, and on derived ratios it enters solved for the field), plus the ends of its
allowed range, is scored on the forest dump with NumPy; the approved ones are priced in
training percentiles (NumPy's percentiles of the training file, as the model keeps them). The
options credrisk returned must be the cheapest of these, field by field and overall: each
option's cost is its field's cheapest approved value's cost, the k-th option costs what the k-th
cheapest field does, and a field with an approved value is missing only when three cheaper
options are there.

The rules a candidate follows are the issue's: immutable and context fields never move,
increase/decrease fields one way only, values within the schema's valid range and the training
file's range, at the field's resolution (1 for integers, money, counts and months, 0.1 year, 0.1
percentage point, else 1e-4 of the training range rounded down to a power of ten).

usage: recourse_brute.py FOREST.json SCHEMA.toml TRAIN.parquet CUSTOMERS.json PLANS.jsonl
prints a JSON summary; exit 1 with the failures listed."""
import functools
import json
import math
import sys

import numpy as np
import pyarrow.parquet as pq

from recourse_common import Encoding, load

forest, columns, derived, train_path, customers, plans = load(sys.argv)
train = pq.read_table(train_path)
names = forest["feature_names"]
TOL = 1e-9


@functools.cache
def present(name):
    return np.array([v for v in train.column(name).to_pylist() if v is not None], dtype=float)


encoding = Encoding(columns, derived, names)
raw, encode = encoding.raw, encoding.encode


TREES = [{k: np.asarray(t[k]) for k in ("children_left", "children_right", "feature", "threshold", "value")}
         for t in forest["trees"]]


def predict(X):
    """The forest's mean leaf value for every row of X (x <= threshold goes left)."""
    X = np.asarray(X, dtype=float)
    rows = np.arange(len(X))
    total = np.zeros(len(X))
    for t in TREES:
        node = np.zeros(len(X), dtype=int)
        while True:
            left = t["children_left"][node]
            inner = left != -1
            if not inner.any():
                break
            goes_left = X[rows, np.maximum(t["feature"][node], 0)] <= t["threshold"][node]
            node = np.where(inner, np.where(goes_left, left, t["children_right"][node]), node)
        total += t["value"][node]
    return total / len(TREES)


def resolution(c, lo, hi):
    unit = c.get("unit")
    if c["type"] == "integer" or isinstance(unit, dict) or unit in ("count", "months"):
        return 1.0
    if unit == "years":
        return 0.1
    if unit == "percent":
        return 0.001
    span = hi - lo
    return 10.0 ** math.floor(math.log10(span) - 4) if span > 0 else 1.0


def around(b, step):
    """The largest typeable value <= b and the next one."""
    inverse = float(round(1.0 / step))
    at = (lambda k: k / inverse) if step < 1.0 else (lambda k: k * step)
    k = math.floor(b * inverse) if step < 1.0 else math.floor(b / step)
    while at(k + 1) <= b:
        k += 1
    while at(k) > b:
        k -= 1
    return at(k), at(k + 1)


PERCENTILES = {}


def percentile(name, x):
    """Where x falls among the 101 training percentiles, 0..100 (a tie: the middle of its run)."""
    if name not in PERCENTILES:
        PERCENTILES[name] = np.percentile(present(name), np.arange(101))
    q = PERCENTILES[name]
    below, at_most = int(np.searchsorted(q, x, "left")), int(np.searchsorted(q, x, "right"))
    if below < at_most:
        return (below + at_most - 1) / 2.0
    if below == 0:
        return 0.0
    if below == len(q):
        return 100.0
    a, b = q[below - 1], q[below]
    return (below - 1) + (x - a) / (b - a)


def thresholds_of(feature_index):
    out = set()
    for t in forest["trees"]:
        for f, th in zip(t["feature"], t["threshold"]):
            if f == feature_index and math.isfinite(th) and th < 1e300:
                out.add(th)
    return out


THRESHOLDS = {i: thresholds_of(i) for i in range(len(names))}


def breakpoints(name, customer):
    """Every value of the field where some split of the forest can change its answer."""
    points = set()
    for i, feature in enumerate(names):
        if feature == name:
            points |= THRESHOLDS[i]
        elif feature in derived:
            d = derived[feature]
            if d["numerator"] == name and d["denominator"] != name:
                den = max(raw(customer, d["denominator"]), d["floor"])
                points |= {s * den for s in THRESHOLDS[i]}
            elif d["denominator"] == name and d["numerator"] != name:
                num = raw(customer, d["numerator"])
                points |= {num / s for s in THRESHOLDS[i] if s != 0}
    return [p for p in points if math.isfinite(p)]


def cheapest(customer, name, threshold):
    """(cost, value) of the cheapest approved value of one field, or None."""
    c = columns[name]
    role = c.get("recourse", "any")
    values = present(name)
    lo, hi = max(c.get("min", -math.inf), values.min()), min(c.get("max", math.inf), values.max())
    step = resolution(c, values.min(), values.max())
    current = raw(customer, name)
    candidates = {lo, hi}
    for b in breakpoints(name, customer):
        candidates |= set(around(b, step))
    allowed = [v for v in candidates if lo <= v <= hi and (
        (role == "increase" and v > current) or (role == "decrease" and v < current)
        or (role == "any" and v != current))]
    if not allowed:
        return None, 0
    rows = []
    for v in allowed:
        moved = dict(customer)
        moved[name] = int(v) if c["type"] == "integer" else v
        rows.append(encode(moved))
    p = predict(rows)
    base = percentile(name, current)
    approved = [(abs(percentile(name, v) - base), v) for v, pv in zip(allowed, p) if pv >= threshold]
    return (min(approved) if approved else None), len(allowed)


actionable = [n for n, c in columns.items()
              if c.get("recourse", "any") in ("increase", "decrease", "any")
              and c["type"] in ("number", "integer") and n in names + [d[k] for d in derived.values()
                                                                      for k in ("numerator", "denominator")]]
failures, compared, scored, denied, with_options = [], 0, 0, 0, 0
for n, (customer, plan) in enumerate(zip(customers, plans)):
    if plan["approved"] or any(customer.get(f) is None for f in actionable):
        continue
    denied += 1
    threshold = plan["threshold"]
    p0 = predict([encode(customer)])[0]
    if abs(p0 - plan["probability"]) > 1e-12:
        failures.append(f"customer {n}: the dump scores {p0}, credrisk said {plan['probability']}")
    if not plan["search"]["exhaustive"]:
        failures.append(f"customer {n}: a single-field search did not finish")
    best = {}
    for name in actionable:
        found, tried = cheapest(customer, name, threshold)
        scored += tried
        if found is not None:
            best[name] = found
    ranked = sorted(cost for cost, _ in best.values())
    options = plan["options"]
    with_options += bool(options)
    if len(options) != min(3, len(ranked)):
        failures.append(f"customer {n}: {len(options)} options, brute force approves {sorted(best)}")
    for k, option in enumerate(options):
        (change,) = option["changes"]
        name = change["field"]
        compared += 1
        if name not in best:
            failures.append(f"customer {n}: option {name}={change['to']} but no approved value found")
            continue
        cost, value = best[name]
        if abs(option["cost"] - cost) > TOL * max(1.0, cost):
            failures.append(f"customer {n}: {name}: option {change['to']} costs {option['cost']}, "
                            f"brute force {value} costs {cost}")
        if k < len(ranked) and abs(option["cost"] - ranked[k]) > TOL * max(1.0, ranked[k]):
            failures.append(f"customer {n}: option {k + 1} costs {option['cost']}, the {k + 1}-th cheapest "
                            f"field costs {ranked[k]} ({best})")
summary = {"denied": denied, "with_options": with_options, "options_compared": compared,
           "candidates_scored": scored, "actionable": actionable, "failures": failures[:20]}
print(json.dumps(summary))
sys.exit(1 if failures else 0)
