"""Plots of one `loadtests/sale.sh` run, from the files it leaves in its report folder:

- requests.json  goose's request log (one JSON object per request: elapsed ms, name, response time)
- processes.csv  t, name, cpu_ticks, rss_kib per process every 5 s; `queue` and `show` rows (waiting,
                 active: the sale's and the swarm's second show's rooms); `cache-<replica>` rows
                 (hits, misses) — not plotted, summed by sale.sh; `nginx`, `postgres` and `load`
                 rows sum a group of processes; `machine` is every core's busy time (no RSS)
- chaos.txt      the faults, each with the time it was injected (`at=<unix s>`), when --chaos ran

Writes sale.png (throughput, p95 latency, queue, CPU, memory over time) and prints its path.
Usage: plot_sale.py <report folder>
"""

import collections
import csv
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BIN = 5  # seconds per point
STEPS = ["join", "queue status", "seat map", "hold", "checkout", "payment window", "confirm", "event detail"]


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def main(folder):
    started = None
    counts = collections.defaultdict(collections.Counter)
    latencies = collections.defaultdict(lambda: collections.defaultdict(list))
    errors = collections.Counter()
    with open(os.path.join(folder, "requests.json")) as log:
        for line in log:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            b = r["elapsed"] // 1000 // BIN * BIN
            counts[r["name"]][b] += 1
            latencies[r["name"]][b].append(r["response_time"])
            if not r["success"]:
                errors[b] += 1

    cpu = collections.defaultdict(dict)
    rss = collections.defaultdict(dict)
    queue = {}
    show = {}
    last = {}
    hz = os.sysconf("SC_CLK_TCK")
    with open(os.path.join(folder, "processes.csv")) as f:
        for row in csv.DictReader(f):
            if not row["cpu_ticks"] or not row["rss_kib"]:
                continue  # the process ended while it was sampled
            t = int(row["t"])
            started = started or t
            x = t - started
            if row["name"] in ("queue", "show"):
                (queue if row["name"] == "queue" else show)[x] = (int(row["cpu_ticks"]), int(row["rss_kib"]))
                continue
            if row["name"].startswith("cache-"):
                continue
            ticks = int(row["cpu_ticks"])
            prev = last.get(row["name"])
            if prev and t > prev[0] and ticks >= prev[1]:
                cpu[row["name"]][x] = 100.0 * (ticks - prev[1]) / hz / (t - prev[0])
            last[row["name"]] = (t, ticks)
            if row["name"] != "machine":
                rss[row["name"]][x] = int(row["rss_kib"]) / 1024

    faults = []
    chaos = os.path.join(folder, "chaos.txt")
    if os.path.exists(chaos) and started:
        for line in open(chaos):
            m = re.search(r"at=(\d+)", line)
            if m:
                faults.append((int(m.group(1)) - started, line.split(":")[1].strip()[:28]))

    # Per step over the whole run: requests, rate, failures, p50/p95/p99.
    span = max((max(c) for c in counts.values() if c), default=0) + BIN
    for name in sorted(counts, key=lambda n: -sum(counts[n].values())):
        everything = [v for b in latencies[name].values() for v in b]
        n = len(everything)
        print(f"RESULT step {name}: {n} requests, {n / span:.1f}/s, "
              f"p50 {percentile(everything, .5)} ms, p95 {percentile(everything, .95)} ms, p99 {percentile(everything, .99)} ms")
    print(f"RESULT failed requests: {sum(errors.values())} of {sum(sum(c.values()) for c in counts.values())}")

    fig, axes = plt.subplots(5, 1, figsize=(12, 18), sharex=True)
    ax = axes[0]
    for name in STEPS:
        if name in counts:
            xs = sorted(counts[name])
            ax.plot(xs, [counts[name][x] / BIN for x in xs], label=name)
    if errors:
        xs = sorted(errors)
        ax.plot(xs, [errors[x] / BIN for x in xs], "k--", label="failed requests")
    ax.set_ylabel("requests/s")
    ax.set_title("Throughput per step")
    ax.legend(fontsize=8, ncol=3)

    ax = axes[1]
    for name in STEPS:
        if name in latencies:
            xs = sorted(latencies[name])
            ax.plot(xs, [percentile(latencies[name][x], 0.95) for x in xs], label=name)
    ax.axhline(200, color="red", linewidth=0.8, linestyle=":", label="200 ms")
    ax.set_yscale("log")
    ax.set_ylabel("p95 ms (log)")
    ax.set_title("p95 latency per step")
    ax.legend(fontsize=8, ncol=3)

    ax = axes[2]
    xs = sorted(queue)
    ax.plot(xs, [queue[x][0] for x in xs], label="waiting")
    ax.plot(xs, [queue[x][1] for x in xs], label="admitted (active)")
    ax.set_ylabel("buyers (the sale)")
    ax.set_title("Waiting room")
    ax.legend(fontsize=8, loc="upper left")
    if any(w for w, _ in show.values()):
        # Tens of thousands of sockets against the sale's tens of buyers: a scale of their own.
        twin = ax.twinx()
        xs = sorted(show)
        twin.plot(xs, [show[x][0] for x in xs], color="tab:green", linestyle="--",
                  label="second show: waiting, each with a socket (right)")
        twin.set_ylabel("sockets waiting (second show)")
        twin.legend(fontsize=8, loc="upper right")

    ax = axes[3]
    for name in sorted(cpu):
        xs = sorted(cpu[name])
        style = {"color": "black", "linestyle": "--"} if name == "machine" else {}
        label = "machine (all processes, both cores)" if name == "machine" else name
        ax.plot(xs, [cpu[name][x] for x in xs], label=label, **style)
    ax.set_ylabel("% of one core")
    ax.set_title("CPU per process")
    ax.legend(fontsize=8, ncol=4)

    ax = axes[4]
    for name in sorted(rss):
        xs = sorted(rss[name])
        ax.plot(xs, [rss[name][x] for x in xs], label=name)
    ax.set_ylabel("RSS MiB")
    ax.set_title("Memory per process")
    ax.set_xlabel("seconds since the sale opened")
    ax.legend(fontsize=8, ncol=4)

    for ax in axes:
        for x, label in faults:
            ax.axvline(x, color="grey", linewidth=0.6)
        ax.grid(alpha=0.3)
    for x, label in faults:
        axes[0].text(x, axes[0].get_ylim()[1] * 0.95, label, rotation=90, fontsize=7, va="top")
    fig.tight_layout()
    out = os.path.join(folder, "sale.png")
    fig.savefig(out, dpi=80)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1])
