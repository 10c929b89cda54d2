"""The targets of issue #8, checked against one run's results, and the printed table."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from common import NPM


@dataclass
class Row:
    """One line of the table: our figure, its raw baseline, the ratio, the target."""

    backend: str
    figure: str
    unit: str
    ours: float
    raw: float | None = None
    ratio: str = ""
    target: str = ""
    met: bool | None = None
    npm: float | None = None
    ahead: bool | None = None


LOWER = {"ms", "s", "cores"}  # units where smaller is better


def _npm_row(row: Row, npm_key: str | None) -> Row:
    ref = NPM.get(row.backend, {}).get(npm_key or "")
    if ref is not None:
        row.npm = ref
        row.ahead = row.ours < ref if row.unit in LOWER else row.ours > ref
    return row


def _times(row: Row, limit: float) -> Row:
    """Target: ours <= ``limit`` x raw (times)."""
    assert row.raw is not None
    ratio = row.ours / row.raw
    row.ratio, row.target, row.met = f"{ratio:.2f}x", f"<= {limit:g}x raw", ratio <= limit
    return row


def _rates(row: Row, limit: float, what: str = "raw") -> Row:
    """Target: ours >= ``limit`` x raw (rates)."""
    assert row.raw is not None
    ratio = row.ours / row.raw
    row.ratio, row.target, row.met = f"{ratio:.2f}x", f">= {limit:g}x {what}", ratio >= limit
    return row


def _below(row: Row, limit: float | None, floor: float | None = None) -> Row:
    """Target: ours < ``limit`` (ms), or within ``limit`` of ``floor`` when given."""
    if row.raw is not None:
        row.ratio = f"{row.ours - row.raw:+.2f} ms"
    if limit is None:
        return row
    if floor is None:
        row.target, row.met = f"< {limit:g} {row.unit}", row.ours < limit
    else:
        row.target, row.met = f"< raw + {limit:g} ms", row.ours < floor + limit
    return row


DELIVERY = {  # backend -> (where, stat) -> (limit ms, relative to the raw write round trip?)
    "redis": {"p50": (1.0, False), "p99": (5.0, False)},
    "postgresql": {"p50": (1.0, True), "p99": (5.0, True)},
    "sqlite": {"p50": (1.0, False), "p99": (5.0, False), "remote p50": (2.0, False)},
}


def rows_of(name: str, result: dict[str, Any]) -> list[Row]:
    """The table rows of one backend's results."""
    ours, raw = result["ours"], result.get("raw") or {}
    rows: list[Row] = []
    if "seq" in raw:
        rows.append(_rates(Row(name, "sequential append", "/s", ours["seq"], raw["seq"]), 0.85))
    else:
        rows.append(Row(name, "sequential append", "/s", ours["seq"]))
    rows[-1] = _npm_row(rows[-1], "seq")
    conc = Row(
        name, f"{result['streams']}x{result['per_stream']} concurrent append", "/s", ours["conc"]
    )
    conc.raw = ours["seq"]
    conc.ratio = f"{conc.ours / conc.raw:.2f}x"
    limit = {"redis": 5.0, "postgresql": 3.0}.get(name)
    if limit is not None:
        _rates(conc, limit, "our seq")
    rows.append(_npm_row(conc, "conc"))
    # the floor of a delivery: a raw write on the delivery workload's schedule (older result
    # files: the raw write in the tight append loop)
    write = raw.get("write_paced") or raw.get("write", {})
    for where in ("local", "remote"):
        found = ours.get("delivery", {}).get(where)
        if found is None:
            continue
        for stat in ("p50", "p99"):
            row = Row(name, f"delivery {stat}, writer {where}", "ms", found[stat], write.get(stat))
            key = f"{where} {stat}" if f"{where} {stat}" in DELIVERY.get(name, {}) else stat
            limit_ms, relative = DELIVERY.get(name, {}).get(key, (None, False))
            if where == "remote" and name == "sqlite" and stat == "p99":
                limit_ms = None  # the issue sets only p50 across processes for SQLite
            _below(row, limit_ms, write.get(stat) if relative else None)
            rows.append(_npm_row(row, stat))
    for key, label, limit, npm_key in (
        ("replay0", "replay 10k from 0 (median)", 2.0, "replay0"),
        ("replay_tail", "replay 10k from 9,000 (median)", 2.0, None),
        ("big", "replay 500 x 64 KB (median)", 1.5, None),
        ("replay0_pages", "read_pages 10k from 0 (median)", 2.0, None),
        ("replay_tail_pages", "read_pages 10k from 9,000 (median)", 2.0, None),
        ("big_pages", "read_pages 500 x 64 KB (median)", 1.5, None),
    ):
        if key not in ours:
            continue
        label = (
            label.replace("10k", f"{result['replay_chunks']:,}")
            .replace("9,000", f"{result['replay_from']:,}")
            .replace("500 x", f"{result['big_chunks']:,} x")
        )
        row = Row(name, label, "ms", ours[key]["median"])
        if key in raw:
            row.raw = raw[key]["median"]
            _times(row, limit)
        rows.append(_npm_row(row, npm_key))
        cold = Row(name, label.replace("(median)", "(cold first)"), "ms", ours[key]["cold"])
        if key in raw:
            cold.raw = raw[key]["cold"]
            cold.ratio = f"{cold.ours / cold.raw:.2f}x"
        rows.append(cold)
    resume = ours.get("http_resume")
    if resume is not None:  # the raw column: the same bytes, one write per message
        label = f"HTTP resume {result['replay_chunks']:,} (vs a write a message)"
        row = Row(name, f"{label} (median)", "ms", resume["pages"]["median"])
        row.raw = resume["messages"]["median"]
        row.ratio = f"{row.ours / row.raw:.2f}x"
        rows.append(row)
    conv = Row(name, "conversation save+load p50", "ms", ours["conv"]["p50"])
    if "conv" in raw:
        conv.raw = raw["conv"]["p50"]
        _times(conv, 1.5)
    rows.append(_npm_row(conv, "conv"))
    scale = ours.get("scale")
    if scale is not None:
        n = scale["streams"]
        rows.append(
            _check_time(Row(name, f"{n:,} followers subscribed", "s", scale["subscribe_s"]), name)
        )
        p99 = Row(name, f"{n:,} streams, delivery p99", "ms", scale["p99"])
        rows.append(_below(p99, 100.0))
        cpu = Row(name, f"{n:,} streams, follower CPU", "cores", scale["cpu"])
        if name == "redis":
            cpu.target, cpu.met = "< 1 core", scale["cpu"] < 1.0
        rows.append(cpu)
        wrote = scale["writer"]["rate"]
        rate = Row(name, f"{n:,} streams, appends/s (other process)", "/s", wrote)
        rate.raw = scale["rate"]
        _rates(rate, 0.95, "asked")
        rows.append(rate)
    return rows


def _check_time(row: Row, name: str) -> Row:
    if name == "redis":
        row.target, row.met = "< 2 s", row.ours < 2.0
    return row


def _fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "/s":
        return f"{value:,.0f}"
    if unit == "cores":
        return f"{value:.2f}"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


HEADER = ("backend", "figure", "unit", "ours", "raw", "ratio", "target", "met?", "npm", "vs npm")


def table(rows: list[Row]) -> str:
    """The rows as one aligned text table."""
    cells = [HEADER]
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        ahead = "-" if r.ahead is None else ("ahead" if r.ahead else "BEHIND")
        cells.append(
            (
                r.backend,
                r.figure,
                r.unit,
                _fmt(r.ours, r.unit),
                _fmt(r.raw, r.unit if r.unit != "cores" else "ms"),
                r.ratio,
                r.target,
                met,
                _fmt(r.npm, r.unit),
                ahead,
            )
        )
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    right = {3, 4, 5, 8}
    lines = []
    for row in cells:
        pairs = enumerate(zip(row, widths, strict=True))
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in pairs]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table (for docs/performance.md)."""
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        ahead = "-" if r.ahead is None else ("ahead" if r.ahead else "**behind**")
        raw = _fmt(r.raw, r.unit if r.unit != "cores" else "ms")
        out.append(
            f"| {r.backend} | {r.figure} | {r.unit} | {_fmt(r.ours, r.unit)} | {raw} | "
            f"{r.ratio or '-'} | {r.target or '-'} | {met} | {_fmt(r.npm, r.unit)} | {ahead} |"
        )
    return "\n".join(out)


def as_json(rows: list[Row]) -> list[dict[str, Any]]:
    """The rows as JSON-able dicts."""
    return [asdict(r) for r in rows]
