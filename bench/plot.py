"""The bench's picture: per backend, the delivery latency distributions, the append
throughput and the read / conversation times, ours beside the raw driver and the npm packages'
reference figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import NPM

COLORS = {"ours": "#1f77b4", "raw": "#7f7f7f", "npm": "#d62728"}


def draw(results: dict[str, dict[str, Any]], path: Path, title: str) -> bool:
    """Write the PNG to ``path``; ``False`` (and nothing written) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [n for n in ("sqlite", "redis", "postgresql") if n in results]
    if not names:
        return False
    fig, axes = plt.subplots(3, len(names), figsize=(5.2 * len(names), 12), squeeze=False)
    for col, name in enumerate(names):
        res = results[name]
        _latency(axes[0][col], name, res)
        _throughput(axes[1][col], name, res)
        _times(axes[2][col], name, res)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _cdf(ax: Any, samples: list[float], label: str, style: str) -> None:
    if not samples:
        return
    ordered = sorted(samples)
    n = len(ordered)
    ax.plot(ordered, [(i + 1) / n for i in range(n)], style, label=label, linewidth=1.5)


def _latency(ax: Any, name: str, res: dict[str, Any]) -> None:
    ours = res["ours"]
    delivery = ours.get("delivery", {})
    _cdf(ax, delivery.get("local", {}).get("samples", []), "ours, writer in process", "-")
    _cdf(ax, delivery.get("remote", {}).get("samples", []), "ours, writer in another process", "--")
    scale = ours.get("scale")
    if scale is not None:
        label = f"ours, {scale['streams']:,} streams at {scale['rate']:,.0f}/s"
        _cdf(ax, scale.get("samples", []), label, ":")
    write = (res.get("raw") or {}).get("write")
    if write:
        ax.axvline(write["p50"], color=COLORS["raw"], linestyle="-.", label="raw write p50")
    ref = NPM.get(name, {})
    if ref:
        ax.plot(
            [ref["p50"], ref["p99"]], [0.5, 0.99], "o", color=COLORS["npm"], label="npm p50/p99"
        )
    ax.set_xscale("log")
    ax.set_xlabel("delivery latency, ms (log)")
    ax.set_ylabel("fraction of chunks")
    ax.set_title(f"{name}: delivery latency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def _bars(ax: Any, labels: list[str], groups: dict[str, list[float | None]]) -> None:
    width = 0.8 / len(groups)
    for k, (group, values) in enumerate(groups.items()):
        xs = [i + (k - (len(groups) - 1) / 2) * width for i in range(len(labels))]
        heights = [v if v is not None else 0 for v in values]
        bars = ax.bar(xs, heights, width, label=group, color=COLORS[group])
        for bar, value in zip(bars, values, strict=True):
            if value is not None:
                text = f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
                ax.annotate(
                    text,
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)


def _throughput(ax: Any, name: str, res: dict[str, Any]) -> None:
    ours, raw, ref = res["ours"], res.get("raw") or {}, NPM.get(name, {})
    _bars(
        ax,
        ["sequential", "concurrent"],
        {
            "ours": [ours["seq"], ours["conc"]],
            "raw": [raw.get("seq"), None],
            "npm": [ref.get("seq"), ref.get("conc")],
        },
    )
    ax.set_ylabel("appends/s")
    ax.set_title(f"{name}: append throughput")


def _times(ax: Any, name: str, res: dict[str, Any]) -> None:
    ours, raw, ref = res["ours"], res.get("raw") or {}, NPM.get(name, {})
    keys = [
        ("replay0", "replay 10k"),
        ("replay0_pages", "pages 10k"),
        ("replay_tail", "last 1k"),
        ("big", "500x64KB"),
        ("conv", "conv"),
    ]

    def value(part: dict[str, Any], key: str) -> float | None:
        found = part.get(key)
        if found is None:
            return None
        return found["p50"] if key == "conv" else found["median"]

    _bars(
        ax,
        [label for _, label in keys],
        {
            "ours": [value(ours, k) for k, _ in keys],
            "raw": [value(raw, k) for k, _ in keys],
            "npm": [ref.get(k) for k, _ in keys],
        },
    )
    ax.set_yscale("log")
    ax.set_ylabel("ms (log)")
    ax.set_title(f"{name}: read and conversation times")
