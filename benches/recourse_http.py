"""One keep-alive HTTP client timing `POST /recourse` (run by benches/recourse_http.sh).

Waits for the server to be ready, picks the first N customers of the data file the model denies
(asked through /predict, not timed), sends each once to /recourse after a warm-up pass over the
first 20, and prints the latency percentiles, the search's work and the load average."""
import argparse
import http.client
import json
import os
import time
import urllib.parse

import pyarrow.parquet as pq

parser = argparse.ArgumentParser()
parser.add_argument("--base", required=True)
parser.add_argument("--data", required=True)
parser.add_argument("--customers", type=int, default=200)
parser.add_argument("--max-changes", type=int, default=2)
args = parser.parse_args()

url = urllib.parse.urlsplit(args.base)
deadline = time.monotonic() + 600
while True:
    try:
        probe = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        probe.request("GET", "/health/ready")
        if probe.getresponse().status == 200:
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        raise SystemExit("the server was not ready within 600 s")
    time.sleep(0.2)

conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)


def post(path, body):
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise SystemExit(f"{path}: {response.status} {data[:300]!r}")
    return json.loads(data)


rows = pq.read_table(args.data).drop_columns(["approved", "approval_score"]).to_pylist()
denied = []
for row in rows:
    if not post("/predict", {"customer": row})["approved"]:
        denied.append(row)
        if len(denied) == args.customers:
            break
for row in denied[:20]:
    post("/recourse", {"customer": row, "max_changes": args.max_changes})
times, exhaustive, with_options, visits = [], 0, 0, 0
for row in denied:
    started = time.perf_counter()
    plan = post("/recourse", {"customer": row, "max_changes": args.max_changes})
    times.append((time.perf_counter() - started) * 1e3)
    exhaustive += plan["search"]["exhaustive"]
    with_options += bool(plan["options"])
    visits += plan["search"]["node_visits"]
times.sort()
n = len(times)


def q(p):
    return times[round((n - 1) * p)]


print(f"/recourse over HTTP, one client, max_changes {args.max_changes}, {n} denied customers: "
      f"p50 {q(0.5):.1f} ms, p90 {q(0.9):.1f} ms, p99 {q(0.99):.1f} ms, max {times[-1]:.1f} ms")
print(f"  exhaustive {exhaustive}/{n}, with options {with_options}/{n}, "
      f"{visits / n / 1e6:.2f} M forest nodes visited per search")
print("  load average: " + " ".join(open("/proc/loadavg").read().split()[:3]) + f" on {os.cpu_count()} cores")
