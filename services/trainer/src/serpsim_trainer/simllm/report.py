"""`eval-sim`'s report: JSON, a Markdown table and a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROWS: tuple[tuple[str, str, str], ...] = (
    # (metric key, row label, format)
    ("requests", "requests", "{:.0f}"),
    ("errors", "failed requests", "{:.0f}"),
    ("five_documents", "5 parseable documents", "{:.1%}"),
    ("documents_per_result", "documents per result", "{:.2f}"),
    ("containment", "answer containment", "{:.1%}"),
    ("words_per_document", "words per document", "{:.1f}"),
    ("duplicate_rate", "duplicate documents", "{:.1%}"),
    ("near_duplicate_rate", "near-duplicate documents", "{:.1%}"),
    ("distinct_1", "distinct-1", "{:.3f}"),
    ("distinct_2", "distinct-2", "{:.3f}"),
    ("latency_mean_s", "latency mean (s)", "{:.3f}"),
    ("latency_p95_s", "latency p95 (s)", "{:.3f}"),
)
CHARTED: tuple[tuple[str, str], ...] = (
    ("five_documents", "5 documents"),
    ("containment", "answer containment"),
    ("distinct_2", "distinct-2"),
    ("near_duplicate_rate", "near-duplicates"),
)


def markdown(summary: dict[str, Any]) -> str:
    modes = list(summary["modes"])
    lines = ["| metric | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
    for key, label, fmt in ROWS:
        lines.append(f"| {label} | " + " | ".join(fmt.format(summary["modes"][m][key]) for m in modes) + " |")
    lines.append("")
    lines.append(f"Controllability gap (useful − noisy answer containment): **{summary['controllability_gap']:+.1%}**")
    return "\n".join(lines) + "\n"


def chart(summary: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(summary["modes"])
    width = 0.8 / len(modes)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, mode in enumerate(modes):
        values = [summary["modes"][mode][key] for key, _ in CHARTED]
        xs = [x + (i - (len(modes) - 1) / 2) * width for x in range(len(CHARTED))]
        bars = ax.bar(xs, values, width, label=mode)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(CHARTED)), [label for _, label in CHARTED])
    ax.set_ylim(0, 1.1)
    ax.set_title(f"{title}: controllability gap {summary['controllability_gap']:+.2f}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out_dir: Path, summary: dict[str, Any], meta: dict[str, Any]) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "eval_sim.json", "markdown": out_dir / "eval_sim.md", "chart": out_dir / "eval_sim.png"}
    paths["json"].write_text(json.dumps({**summary, "meta": meta}, indent=2) + "\n")
    paths["markdown"].write_text(markdown(summary))
    chart(summary, paths["chart"], str(meta.get("model") or meta.get("simulator") or "simulator"))
    return paths
