#!/usr/bin/env python3
"""Turns raw benchmark runs into the results table (markdown) and chart (SVG).

Standard library only, so the report works wherever the harness does.

Data flow:
  bench.py finishes a suite -> record(result) ->
    benches/results/raw/<stamp>-<suite>.json   every run of this invocation, untouched
    benches/results/raw/latest.json            the merged store: for each suite, the runs the
                                               table is built from
    benches/results/latest.md / latest.svg     rendered from the merged store

Merging is what makes `--only` and `--contenders` useful: a filtered rerun replaces only the
rows it measured and keeps the rest, while an unfiltered run of a suite replaces that suite
entirely. Rows measured at different times are flagged under the table.

Run it directly (`python3 report.py`) to re-render latest.md and latest.svg from latest.json.
"""

import json
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape

RESULTS = Path(__file__).resolve().parent.parent / "results"

# How each suite is presented. `groups` are its scenarios or measurements in table order (also
# the names `--only` accepts); `baselines` lists who the ratio column divides by, in order of
# preference: rasgi when it was measured, else the strongest peer.
SUITES = {
    "server": {
        "groups": ["plaintext", "pipelined", "json", "db", "queries", "fortunes", "updates"],
        "title": "Server: TechEmpower shapes",
        "group_label": "scenario",
        "value_label": "req/s",
        "higher_is_better": True,
        "baselines": ["rasgi", "hyper"],
    },
    "pg": {
        "groups": ["roundtrips_c1", "roundtrips_c16", "rows", "copy_out", "copy_in"],
        "title": "PostgreSQL client",
        "group_label": "measure",
        "value_label": "per second",
        "higher_is_better": True,
        "baselines": ["rasgi", "tokio-postgres"],
    },
    "https": {
        "groups": ["gets_c1", "gets_c16"],
        "title": "HTTPS client (keep-alive GETs to local nginx)",
        "group_label": "measure",
        "value_label": "req/s",
        "cpu_label": "client CPU / GET",
        "higher_is_better": True,
        "baselines": ["rasgi", "hyper-rustls"],
    },
    "exec": {
        "groups": ["spawn", "pingpong", "timers"],
        "title": "Executor micro-benchmarks",
        "group_label": "measure",
        "value_label": "ns/op",
        "higher_is_better": False,
        "baselines": ["rasgi", "tokio"],
    },
    "compress": {
        "groups": [f"{m}_{c}" for c in ("json", "text") for m in ("deflate1", "deflate6", "inflate", "ratio6")],
        "title": "Compression (zlib format; ratio6 rows: compressed / original size, lower is better)",
        "group_label": "measure",
        "value_label": "MB/s",
        "higher_is_better": True,
        "baselines": ["rasgi", "zlib"],
    },
    "memory": {
        "groups": ["idle_conn"],
        "title": "Memory per idle keep-alive connection",
        "group_label": "measure",
        "value_label": "bytes/conn",
        "higher_is_better": False,
        "baselines": ["rasgi", "hyper"],
    },
    "instructions": {
        "groups": ["plaintext", "pipelined", "json", "db", "fortunes"],
        "title": "Instructions per request (callgrind)",
        "group_label": "measure",
        "value_label": "Ir/request",
        "higher_is_better": False,
        "baselines": ["rasgi", "hyper"],
    },
    "ws": {
        "groups": ["echo_c1", "echo_c64", "broadcast_1000"],
        "title": "WebSocket servers (echo round trips, broadcast to 1,000 clients)",
        "group_label": "measure",
        "value_label": "per second",
        "higher_is_better": True,
        "baselines": ["rasgi", "tokio-tungstenite"],
    },
}
SUITE_ORDER = list(SUITES)

# Table and legend order: rasgi first, then the Rust peers, then the Python ones.
CONTENDER_ORDER = ["rasgi", "hyper", "tokio-postgres", "hyper-rustls", "tokio", "tokio-tungstenite",
                   "fastapi", "asyncpg", "httpx", "raw-asgi", "uvicorn"]

# A run that started while other work kept the machine more than this busy (fraction of all
# CPU time, sampled by bench.py just before the run) is flagged in the table.
BUSY_THRESHOLD = 0.15

# One colour per contender, stable across suites and reruns.
COLOURS = {
    "rasgi": "#d9480f",
    "hyper": "#1c7ed6",
    "tokio-postgres": "#1c7ed6",
    "hyper-rustls": "#1c7ed6",
    "tokio": "#1c7ed6",
    "tokio-tungstenite": "#1c7ed6",
    "uvicorn": "#2f9e44",
    "fastapi": "#2f9e44",
    "asyncpg": "#2f9e44",
    "httpx": "#2f9e44",
    "raw-asgi": "#0ca678",
}
FALLBACK_COLOURS = ["#7048e8", "#f59f00", "#e64980", "#495057"]


# ----------------------------------------------------------------------------- aggregation


def aggregate(suite_data):
    """Groups runs by (group, contender) and computes the medians and spreads the table shows.

    Returns (rows, baseline, groups, contenders) where rows maps (group, contender) to a dict.
    """
    runs = suite_data["runs"]
    known_groups = SUITES[suite_data["suite"]]["groups"]
    groups = sorted(ordered_unique(r["group"] for r in runs),
                    key=lambda g: known_groups.index(g) if g in known_groups else len(known_groups))
    contenders = sorted(ordered_unique(r["contender"] for r in runs),
                        key=lambda c: CONTENDER_ORDER.index(c) if c in CONTENDER_ORDER else len(CONTENDER_ORDER))
    rows = {}
    for group in groups:
        for contender in contenders:
            mine = [r for r in runs if r["group"] == group and r["contender"] == contender]
            if not mine:
                continue
            values = [r["value"] for r in mine]
            row = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "n": len(values),
                "unit": mine[0].get("unit", ""),
                # When the invocation that measured the row started: rows of one table may come
                # from different invocations after a filtered rerun.
                "measured": max(r.get("measured", "") for r in mine),
                "problems": sorted({p for r in mine for p in r.get("problems", [])}),
                "busy": [r["busy"] for r in mine if r.get("busy", 0) > BUSY_THRESHOLD],
            }
            p99s = [r["p99_ms"] for r in mine if r.get("p99_ms") is not None]
            if p99s:
                row["p99_ms"] = statistics.median(p99s)
            cpus = [r["cpu_ns_per_request"] for r in mine if r.get("cpu_ns_per_request")]
            if cpus:
                row["cpu_ns"] = statistics.median(cpus)
            users = [r["user_ns_per_request"] for r in mine if r.get("user_ns_per_request")]
            if users:
                row["user_ns"] = statistics.median(users)
            rows[(group, contender)] = row
    preference = SUITES[suite_data["suite"]]["baselines"]
    baseline = next((b for b in preference if b in contenders), contenders[0] if contenders else None)
    for (group, contender), row in rows.items():
        base = rows.get((group, baseline))
        row["ratio"] = row["median"] / base["median"] if base and base["median"] else None
        base_cpu = base.get("cpu_ns") if base else None
        if "cpu_ns" in row and base_cpu:
            row["cpu_ratio"] = row["cpu_ns"] / base_cpu
        base_user = base.get("user_ns") if base else None
        if "user_ns" in row and base_user:
            row["user_ratio"] = row["user_ns"] / base_user
    return rows, baseline, groups, contenders


def ordered_unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


# ----------------------------------------------------------------------------- formatting


def fmt_value(value, unit):
    if value is None:
        return "–"
    if unit in ("ns/op",):
        return f"{value:,.1f}"
    if unit == "bytes/conn":
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def short_value(value, unit):
    """Compact label for the chart: 1.37M, 140k, 297 ns, 9.1 KiB."""
    if unit == "ns/op":
        return f"{value:.0f} ns" if value >= 10 else f"{value:.1f} ns"
    if unit == "bytes/conn":
        return f"{value / 1024:.1f} KiB"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def suite_markdown(suite_data):
    meta = SUITES[suite_data["suite"]]
    rows, baseline, groups, contenders = aggregate(suite_data)
    settings = suite_data.get("settings", {})
    lines = [f"## {meta['title']}", ""]
    if settings.get("description"):
        lines += [settings["description"], ""]
    better = "higher is better" if meta["higher_is_better"] else "lower is better"
    ratio_note = f"ratio = median ÷ {baseline}'s median ({better})"
    if baseline != "rasgi":
        why = suite_data.get("skipped", {}).get("rasgi", "rasgi was not measured")
        ratio_note += f"; rasgi is absent ({why}), so the ratios are to {baseline}"
    lines += [ratio_note + ".", ""]

    has_p99 = any("p99_ms" in r for r in rows.values())
    has_cpu = any("cpu_ns" in r for r in rows.values())
    header = [meta["group_label"], "contender", f"median ({meta['value_label']})", "spread (min–max)"]
    if has_p99:
        header.append("p99 latency")
    header.append(f"× {baseline}")
    has_user = any("user_ns" in r for r in rows.values())
    if has_cpu:
        header += [meta.get("cpu_label", "server CPU / request"), f"CPU × {baseline}"]
    if has_user:
        header += ["of which user space", f"user × {baseline}"]
    header.append("runs")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|")
    footnotes = []
    for group in groups:
        for contender in contenders:
            row = rows.get((group, contender))
            if row is None:
                continue
            unit = row["unit"]
            median = fmt_value(row["median"], unit)
            problems = list(row["problems"])
            if row["busy"]:
                low, high = min(row["busy"]), max(row["busy"])
                span = f"{low:.0%}" if low == high else f"{low:.0%}–{high:.0%}"
                problems.append(f"{len(row['busy'])} of {row['n']} run(s) started with the machine "
                                f"{span} busy with other work")
            if problems:
                footnotes.append(f"{group} / {contender}: " + "; ".join(problems))
                median += " ⚠"
            cells = [
                f"`{group}`",
                f"**{contender}**" if contender == "rasgi" else contender,
                median,
                f"{fmt_value(row['min'], unit)}–{fmt_value(row['max'], unit)}",
            ]
            if has_p99:
                cells.append(f"{row['p99_ms']:.2f} ms" if "p99_ms" in row else "–")
            cells.append(f"{row['ratio']:.2f}" if row["ratio"] is not None else "–")
            if has_cpu:
                cells.append(f"{row['cpu_ns']:,.0f} ns" if "cpu_ns" in row else "–")
                cells.append(f"{row['cpu_ratio']:.2f}" if "cpu_ratio" in row else "–")
            if has_user:
                cells.append(f"{row['user_ns']:,.0f} ns" if "user_ns" in row else "–")
                cells.append(f"{row['user_ratio']:.2f}" if "user_ratio" in row else "–")
            cells.append(str(row["n"]))
            lines.append("| " + " | ".join(cells) + " |")
    measured = sorted({r["measured"] for r in rows.values() if r["measured"]})
    if len(measured) > 1:
        footnotes.append(
            "rows come from separate invocations (started " + ", ".join(measured) + "); "
            "rerun the suite without --only/--contenders for a single-run table"
        )
    for problem in suite_data.get("notes", []):
        footnotes.append(problem)
    if any(row["busy"] for row in rows.values()):
        footnotes.append("⚠ marks medians that include runs measured while other work was using the "
                         "machine; rerun those rows (`--only`, `--contenders`) on a quiet machine")
    if footnotes:
        lines.append("")
        lines += [f"- {f}" for f in footnotes]
    lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- SVG


def suite_svg_panel(suite_data, top, width):
    """One grouped bar chart: a group per scenario/measure, a bar per contender, bar height =
    ratio to the baseline, labelled with the absolute median. Returns (svg fragments, height)."""
    meta = SUITES[suite_data["suite"]]
    rows, baseline, groups, contenders = aggregate(suite_data)
    height = 300
    left, right, head, foot = 56, 16, 52, 64
    plot_w = width - left - right
    plot_h = height - head - foot
    ratios = [r["ratio"] for r in rows.values() if r["ratio"] is not None]
    top_ratio = max(ratios + [1.0]) * 1.12
    step = nice_step(top_ratio)
    y0 = top + head + plot_h  # the pixel row of ratio 0

    def y(ratio):
        return y0 - plot_h * ratio / top_ratio

    out = []
    better = "higher is better" if meta["higher_is_better"] else "lower is better"
    out.append(text(left, top + 22, meta["title"], size=16, weight="bold"))
    out.append(text(left, top + 40, f"bar = median ÷ {baseline} ({better}); label = median {meta['value_label']}"
                    "; ⚠ = see the notes under the table in latest.md", size=11, fill="#495057"))
    # Grid lines and the y axis labels.
    tick = 0.0
    while tick <= top_ratio + 1e-9:
        colour = "#868e96" if abs(tick - 1.0) < 1e-9 else "#e9ecef"
        out.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" '
                   f'stroke="{colour}" stroke-width="1"/>')
        out.append(text(left - 6, y(tick) + 4, f"{tick:g}×", size=10, anchor="end", fill="#495057"))
        tick = round(tick + step, 6)

    slot = plot_w / max(len(groups), 1)
    bar_w = min(44.0, slot * 0.8 / max(len(contenders), 1))
    for gi, group in enumerate(groups):
        present = [c for c in contenders if (group, c) in rows]
        start = left + gi * slot + (slot - bar_w * len(present)) / 2
        for ci, contender in enumerate(present):
            row = rows[(group, contender)]
            ratio = row["ratio"] or 0.0
            x = start + ci * bar_w
            out.append(f'<rect x="{x + 1:.1f}" y="{y(ratio):.1f}" width="{bar_w - 2:.1f}" '
                       f'height="{y0 - y(ratio):.1f}" fill="{colour_of(contender, contenders)}">'
                       f'<title>{escape(contender)} {escape(group)}: {fmt_value(row["median"], row["unit"])} '
                       f'{escape(row["unit"])} ({ratio:.2f}×)</title></rect>')
            flagged = " ⚠" if row["problems"] or row["busy"] else ""
            out.append(text(x + bar_w / 2, y(ratio) - 4, short_value(row["median"], row["unit"]) + flagged,
                            size=9, anchor="middle", fill="#212529"))
        out.append(text(left + gi * slot + slot / 2, y0 + 16, group, size=11, anchor="middle"))
    # Legend under the axis.
    lx = left
    for contender in contenders:
        out.append(f'<rect x="{lx}" y="{y0 + 32}" width="12" height="12" '
                   f'fill="{colour_of(contender, contenders)}"/>')
        out.append(text(lx + 16, y0 + 42, contender, size=11))
        lx += 24 + 7 * len(contender)
    return out, height


def nice_step(top):
    for step in (0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100):
        if top / step <= 8:
            return step
    return top / 8


def colour_of(contender, contenders):
    if contender in COLOURS:
        return COLOURS[contender]
    return FALLBACK_COLOURS[contenders.index(contender) % len(FALLBACK_COLOURS)]


def text(x, y, content, size=12, anchor="start", weight="normal", fill="#212529"):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}">{escape(str(content))}</text>')


def render_svg(store):
    suites = [store["suites"][s] for s in SUITE_ORDER if s in store["suites"]]
    width = 760
    for data in suites:
        _, _, groups, contenders = aggregate(data)
        width = max(width, 56 + 16 + len(groups) * max(len(contenders), 1) * 30 + len(groups) * 24)
    parts, y = [], 0
    for data in suites:
        panel, height = suite_svg_panel(data, y, width)
        parts += panel
        y += height
    header = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{max(y, 40)}" '
              f'viewBox="0 0 {width} {max(y, 40)}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">')
    background = f'<rect x="0" y="0" width="{width}" height="{max(y, 40)}" fill="#ffffff"/>'
    return "\n".join([header, background] + parts + ["</svg>", ""])


# ----------------------------------------------------------------------------- store


def render_markdown(store):
    lines = ["# rasgi side-by-side benchmarks", ""]
    machine = store.get("machine")
    if machine:
        lines += [f"Machine: {machine}.", ""]
    lines += [
        "Generated by `benches/harness/run.sh`; medians over alternating rounds, spread is the "
        "min–max over rounds. Raw numbers: `benches/results/raw/`.",
        "",
    ]
    for suite in SUITE_ORDER:
        if suite in store["suites"]:
            lines.append(suite_markdown(store["suites"][suite]))
    return "\n".join(lines)


def record(result, results_dir=RESULTS):
    """Saves one suite's result, merges it into the store and re-renders. Returns the suite's
    markdown section."""
    raw_dir = results_dir / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (raw_dir / f"{stamp}-{result['suite']}.json").write_text(json.dumps(result, indent=1) + "\n")

    store_path = raw_dir / "latest.json"
    store = load_store(store_path)
    suite = result["suite"]
    old = store["suites"].get(suite)
    if old is not None and result.get("filtered"):
        replaced = {(r["group"], r["contender"]) for r in result["runs"]}
        kept = [r for r in old["runs"] if (r["group"], r["contender"]) not in replaced]
        merged = dict(result)
        merged["runs"] = kept + result["runs"]
        merged["skipped"] = {**old.get("skipped", {}), **result.get("skipped", {})}
        measured = {r["contender"] for r in merged["runs"]}
        merged["skipped"] = {k: v for k, v in merged["skipped"].items() if k not in measured}
        store["suites"][suite] = merged
    else:
        store["suites"][suite] = result
    if result.get("machine"):
        store["machine"] = result["machine"]
    if not result["runs"]:
        return f"## {SUITES[suite]['title']}\n\nNothing was measured.\n"
    store_path.write_text(json.dumps(store, indent=1) + "\n")
    write_outputs(store, results_dir)
    return suite_markdown(store["suites"][suite])


def load_store(path):
    try:
        store = json.loads(path.read_text())
        store.setdefault("suites", {})
        return store
    except (OSError, ValueError):
        return {"suites": {}}


def write_outputs(store, results_dir=RESULTS):
    store["suites"] = {k: v for k, v in store["suites"].items() if v.get("runs")}
    (results_dir / "latest.md").write_text(render_markdown(store))
    (results_dir / "latest.svg").write_text(render_svg(store))


if __name__ == "__main__":
    store = load_store(RESULTS / "raw" / "latest.json")
    if not store["suites"]:
        sys.exit(f"report.py: nothing recorded yet in {RESULTS / 'raw' / 'latest.json'}")
    write_outputs(store)
    print((RESULTS / "latest.md").read_text())
    print(f"wrote {RESULTS / 'latest.md'} and {RESULTS / 'latest.svg'}", file=sys.stderr)
