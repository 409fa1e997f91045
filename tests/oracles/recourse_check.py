"""Independent check of credrisk recourse answers: every option, applied to its customer, is
encoded from the schema file (TOML, read with tomllib) and scored on the exported forest dump
(credrisk-forest/1: go left iff x <= threshold, mean of the trees' leaf values) in plain Python;
it must be approved and score what credrisk said. Immutable and context fields never move,
increase/decrease fields move only that way, values stay within the schema's valid range and the
range of the training data file (read with pyarrow).

usage: recourse_check.py FOREST.json SCHEMA.toml DATA.parquet CUSTOMERS.json PLANS.jsonl
prints a JSON summary; exit 1 with the failures listed."""
import json
import sys

import pyarrow.parquet as pq

from recourse_common import Encoding, load

forest, columns, derived, data_path, customers, plans = load(sys.argv)
encoding = Encoding(columns, derived, forest["feature_names"])
raw, encode = encoding.raw, encoding.encode
table = pq.read_table(data_path)
data_range = {}
for name, c in columns.items():
    if c.get("type") in ("number", "integer") and name in table.column_names:
        values = [v for v in table.column(name).to_pylist() if v is not None]
        data_range[name] = (min(values), max(values))


def predict(x):
    total = 0.0
    for t in forest["trees"]:
        i = 0
        while t["children_left"][i] != -1:
            i = t["children_left"][i] if x[t["feature"][i]] <= t["threshold"][i] else t["children_right"][i]
        total += t["value"][i]
    return total / len(forest["trees"])


failures, checked, worst, denied_with_options = [], 0, 0.0, 0
for n, (customer, plan) in enumerate(zip(customers, plans)):
    p0 = predict(encode(customer))
    worst = max(worst, abs(p0 - plan["probability"]))
    if plan["approved"] != (p0 >= plan["threshold"]):
        failures.append(f"customer {n}: approved={plan['approved']} but the dump scores {p0}")
    if plan["approved"] and plan["options"]:
        failures.append(f"customer {n}: approved but has options")
    denied_with_options += bool(plan["options"]) and not plan["approved"]
    for k, option in enumerate(plan["options"]):
        after = dict(customer)
        for change in option["changes"]:
            name = change["field"]
            c = columns[name]
            role = c.get("recourse", "any")
            if change["from"] != customer[name]:
                failures.append(f"customer {n} option {k}: {name} from {change['from']} != {customer[name]}")
            if role in ("immutable", "context"):
                failures.append(f"customer {n} option {k}: {role} field {name} moves")
            before_v, after_v = raw(customer, name), None
            after[name] = change["to"]
            after_v = raw(after, name)
            if role == "increase" and not after_v > before_v:
                failures.append(f"customer {n} option {k}: {name} must increase, {before_v} -> {after_v}")
            if role == "decrease" and not after_v < before_v:
                failures.append(f"customer {n} option {k}: {name} must decrease, {before_v} -> {after_v}")
            if c["type"] in ("number", "integer"):
                lo, hi = c.get("min", float("-inf")), c.get("max", float("inf"))
                dlo, dhi = data_range[name]
                if not (lo <= after_v <= hi and dlo <= after_v <= dhi):
                    failures.append(f"customer {n} option {k}: {name}={after_v} outside [{lo},{hi}] or data [{dlo},{dhi}]")
                if c["type"] == "integer" and after_v != int(after_v):
                    failures.append(f"customer {n} option {k}: {name}={after_v} is not an integer")
        p = predict(encode(after))
        worst = max(worst, abs(p - option["probability"]))
        if not p >= plan["threshold"]:
            failures.append(f"customer {n} option {k}: the dump scores {p} < threshold {plan['threshold']}")
        checked += 1
summary = {"customers": len(plans), "options_checked": checked, "denied_with_options": denied_with_options,
           "max_abs_probability_diff": worst, "failures": failures[:20]}
print(json.dumps(summary))
sys.exit(1 if failures else 0)
