"""The benchmarks' outputs: one writer for Markdown + JSON, the paper tables beside its numbers, a plot."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write
from . import paper

METHOD_NAMES = {
    "ce": "CE",
    "gce": "GCE",
    "coteaching": "Co-teaching",
    "phuber-ce": "PHuber-CE",
    "ls": "LS",
    "sln": "SLN",
    "sln-mo": "SLN-MO",
    "sln-mo-lc": "SLN-MO-LC",
    "forward": "Forward",
    "backward": "Backward",
    "noise-params": "SGD noise on θ (Eq. 1)",
    "noise-logits": "SGD noise on f (Eq. 2)",
}


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table with one column per key of the first row; None shows as an empty cell."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        cells = [_cell(row.get(k)) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as JSON at ``path``, atomically: a kill never leaves half a file."""
    text = json.dumps(obj, indent=1)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_results(stem: Path, markdown: str, records: list[dict[str, Any]]) -> str:
    """Write ``stem``.md and ``stem``.json (atomically, so partial results can be rewritten often)."""
    atomic_write(stem.with_suffix(".md"), lambda tmp: Path(tmp).write_text(markdown))
    write_json(stem.with_suffix(".json"), records)
    return markdown


def write_table(out: Path, name: str, rows: list[dict[str, Any]], note: str) -> str:
    """A benchmark's one table: ``out/name``.md (title, note, table) and .json (the rows)."""
    return write_results(Path(out) / name, f"# {name}\n\n{note}\n\n{markdown_table(rows)}\n", rows)


def _mean_std(values: list[float], seeds: int) -> str:
    """Mean ± std in percent; the run count is shown when this cell has fewer than others."""
    values = [100 * v for v in values]
    text = f"{values[0]:.2f}" if len(values) == 1 else f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"
    return text if len(values) == seeds else f"{text} (n={len(values)})"


def render_table(results: list[dict[str, Any]], dataset: str, columns: list[str]) -> str:
    """Markdown: one row per method, one column per noise, ours next to the paper's number."""
    cells: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in results:
        cells[(r["method"], r["noise"])].append(r)
    methods = [m for m in METHOD_NAMES if any(key[0] == m for key in cells)]
    seeds = max(len(runs) for runs in cells.values())
    header = ["Method", *[f"{c} (ours / paper)" for c in columns], "time per run (ours / paper)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in methods:
        row = [METHOD_NAMES[method]]
        seconds = []
        for noise in columns:
            runs = cells.get((method, noise), [])
            seconds += [r["seconds"] for r in runs]
            ours = _mean_std([r["final_test_acc"] for r in runs], seeds) if runs else "—"
            published = paper.published(dataset, method, noise)
            theirs = (
                "—"
                if published is None
                else (f"{published[0]:.2f}" + (f" ± {published[1]:.2f}" if published[1] is not None else ""))
            )
            row.append(f"{ours} / {theirs}")
        hours = paper.HOURS.get(dataset, {}).get(method)
        ours_time = f"{np.mean(seconds) / 60:.1f} min" if seconds else "—"
        row.append(f"{ours_time} / {hours:.2f} h" if hours else ours_time)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def describe_runs(results: list[dict[str, Any]]) -> str:
    devices = sorted({r["device"] for r in results})
    seeds = sorted({r["seed"] for r in results})
    n_train = sorted({r["n_train"] for r in results})
    return (
        f"Test accuracy (%) at the last epoch, mean ± std over seeds {seeds}; "
        f"{n_train[0] if len(n_train) == 1 else n_train} training images; device: {', '.join(devices)}."
    )


WINDOW = 5  # epochs averaged for the smoothed drop


def memorisation_row(run: dict[str, Any]) -> dict[str, Any]:
    """Last epoch against peak, raw and as means over WINDOW consecutive epochs.

    The column names are fixed, so runs of different lengths share one table; a run
    shorter than WINDOW is averaged over all its epochs.
    """
    curve = np.array([100 * h["test_acc"] for h in run["history"]])
    span = min(WINDOW, len(curve))
    means = np.convolve(curve, np.ones(span) / span, mode="valid")
    return {
        "method": METHOD_NAMES[run["method"]],
        "noise": run["noise"],
        "seed": run["seed"],
        "last epoch (%)": round(float(curve[-1]), 2),
        "peak (%)": round(float(curve.max()), 2),
        "peak epoch": int(curve.argmax()) + 1,
        "last - peak": round(float(curve[-1] - curve.max()), 2),
        f"last {WINDOW} (%)": round(float(means[-1]), 2),
        f"best {WINDOW} (%)": round(float(means.max()), 2),
        f"last {WINDOW} - best {WINDOW}": round(float(means[-1] - means.max()), 2),
    }


def write_outputs(
    results: list[dict[str, Any]], dataset: str, columns: list[str], stem: Path, preamble: str
) -> str:
    """Write ``stem``.md / .json / .png and return the Markdown."""
    table = render_table(results, dataset, columns)
    drops = markdown_table([memorisation_row(r) for r in results])
    markdown = (
        f"# {dataset} ({stem.name})\n\n{preamble}\n\n{describe_runs(results)}\n\n{table}\n\n"
        f"Does accuracy fall from its peak (memorisation)? A single epoch's test accuracy swings "
        f"by a few points, so the trend is also shown as means over "
        f"{WINDOW} consecutive epochs: the last {WINDOW} against the best {WINDOW}.\n\n{drops}\n"
    )
    write_results(stem, markdown, results)
    plot_curves(results, columns, stem.with_suffix(".png"))
    return markdown


def plot_curves(results: list[dict[str, Any]], columns: list[str], path: Path) -> None:
    """Fig. 1 style: test accuracy per epoch (top) and training loss on clean vs noisy labels (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(columns), figsize=(5 * len(columns), 7), squeeze=False)
    colors = dict(zip(METHOD_NAMES, plt.cm.tab10.colors, strict=False))
    for col, noise in enumerate(columns):
        top, bottom = axes[0, col], axes[1, col]
        for r in (r for r in results if r["noise"] == noise and r["seed"] == min(x["seed"] for x in results)):
            epochs = [h["epoch"] for h in r["history"]]
            label = METHOD_NAMES[r["method"]]
            top.plot(
                epochs, [100 * h["test_acc"] for h in r["history"]], label=label, color=colors[r["method"]]
            )
            if r["method"] in ("ce", "sln", "sln-mo-lc"):
                bottom.plot(
                    epochs,
                    [h["loss_clean"] for h in r["history"]],
                    color=colors[r["method"]],
                    label=f"{label}, clean labels",
                )
                bottom.plot(
                    epochs,
                    [h["loss_noisy"] for h in r["history"]],
                    color=colors[r["method"]],
                    linestyle="--",
                    label=f"{label}, wrong labels",
                )
        top.set(title=f"{noise} noise", xlabel="epoch", ylabel="test accuracy (%)")
        bottom.set(xlabel="epoch", ylabel="training loss")
        top.grid(alpha=0.3)
        bottom.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
