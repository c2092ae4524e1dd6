#!/usr/bin/env python3
"""Validates prometheus_text() with the prometheus_client parser (Debian: python3-prometheus-client)
and the exposition format's rules the parser does not enforce: one HELP and TYPE per family, before
its samples, families contiguous, counters named *_total, histogram buckets cumulative and ending
with +Inf equal to _count, and no two series of a family with the same labels."""
import math
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

text = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout
errors = []

families = {f.name: f for f in text_string_to_metric_families(text)}  # raises on a malformed line
if not families:
    errors.append("no metric families")

# Layout: HELP, then TYPE, then the family's samples, each family once.
seen, current = set(), None
for line in text.splitlines():
    if line.startswith("# HELP "):
        name = line.split()[2]
        if name in seen:
            errors.append(f"family {name} appears twice")
        seen.add(name)
        current = name
    elif line.startswith("# TYPE "):
        if line.split()[2] != current:
            errors.append(f"TYPE without its HELP just before: {line}")
    elif line and not line.startswith("#"):
        sample = line.split("{")[0].split(" ")[0]
        base = current or ""
        if sample not in (base, base + "_bucket", base + "_sum", base + "_count"):
            errors.append(f"sample {sample} outside its family (current: {current})")

for name, fam in families.items():
    if not name.startswith("fiberpool_"):
        errors.append(f"{name}: does not start with fiberpool_")
    keys = set()
    for s in fam.samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        if key in keys:
            errors.append(f"duplicate series {key}")
        keys.add(key)
        if s.value < 0 or math.isnan(s.value):
            errors.append(f"{key}: value {s.value}")
    if fam.type == "counter" and not any(s.name.endswith("_total") for s in fam.samples):
        errors.append(f"counter {name} has no _total samples")
    if fam.type == "histogram":
        series = {}
        for s in fam.samples:
            labels = {k: v for k, v in s.labels.items() if k != "le"}
            key = tuple(sorted(labels.items()))
            series.setdefault(key, {"buckets": [], "count": None})
            if s.name.endswith("_bucket"):
                series[key]["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[key]["count"] = s.value
        for key, h in series.items():
            bounds = [b for b, _ in h["buckets"]]
            counts = [c for _, c in h["buckets"]]
            if bounds != sorted(bounds) or not bounds or bounds[-1] != math.inf:
                errors.append(f"{name}{key}: buckets not ascending to +Inf")
            if counts != sorted(counts):
                errors.append(f"{name}{key}: bucket counts not cumulative")
            if h["count"] is None or (counts and counts[-1] != h["count"]):
                errors.append(f"{name}{key}: +Inf bucket {counts[-1:]} != _count {h['count']}")

# What the sample program did must show.
def value(name, **labels):
    for fam in families.values():
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None

expect = [
    (("fiberpool_pool_applied_total", {"pool": "web"}), 51),
    (("fiberpool_pool_ended_total", {"pool": "web", "state": "failed"}), 1),
    (("fiberpool_pool_ended_total", {"pool": "web#2", "state": "terminated"}), 1),
    (("fiberpool_pool_rejected_total", {"pool": "web#2"}), 1),
    (("fiberpool_pool_queued_jobs", {"pool": "web#2"}), 0),
    (("fiberpool_pool_running_jobs", {"pool": "web#2"}), 1),
    (("fiberpool_pool_queue_wait_seconds_count", {"pool": "web#2"}), 3),
    (("fiberpool_pool_state", {"pool": "never started", "state": "created"}), 1),
    (("fiberpool_pool_run_seconds_count", {"pool": "web"}), 51),
]
for (name, labels), want in expect:
    got = value(name, **labels)
    if got != want:
        errors.append(f"{name}{labels}: expected {want}, got {got}")
if (value("fiberpool_runtime_lag_seconds_count") or 0) < 1:
    errors.append("the timer's lag was not recorded")

for e in errors:
    print("check_prometheus:", e, file=sys.stderr)
if errors:
    print(text, file=sys.stderr)
    sys.exit(1)
print(f"check_prometheus: {len(families)} families, {sum(len(f.samples) for f in families.values())} samples: OK")
