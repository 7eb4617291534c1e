"""How fast the review app opens and answers: ``python -m labelclean.bench app [--browser]``.

Without ``--browser``: write a 1,000,000-row audit (the real schema and metadata) and time
reading it back with :func:`labelclean.auditfile.read_audit`, the reader the app opens it with
(every column but ``image``; the columns the app ranks).

With ``--browser``: the app itself (``app/main.py`` of this checkout, run by Streamlit) in
headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright; no browser is ever
downloaded), beside a hello-world Streamlit page served the same way and loaded in turn with
it, so that both see the same machine load. For the demo's audit and a 1,000,000-row audit
(24 cards a page), each measured ``--repeats`` times, median reported:

- first full grid: a fresh browser context opens the page, until the grid has drawn and
  every card's image is decoded (hello world: until its text shows);
- each kind of click or key: from the click until the app's answer is drawn (the grid marks
  every drawn run, images decoded, with ``data-lc-run``).

Each page's weight, from its last load: the DOM elements it built and the JavaScript files the
browser fetched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..auditfile import METADATA_KEY, decisions_path, read_audit
from ..fileio import atomic_write
from .data import DataMissing
from .report import write_table

CHECKOUT = Path(__file__).resolve().parents[2]
APP = CHECKOUT / "app" / "main.py"
CLASSES = [f"class_{k:02d}" for k in range(20)]
PER_PAGE = 24  # the app's default page: the benchmark keeps it
HELLO = 'import streamlit as st\n\nst.write("Hello, world")\n'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the large synthetic audit")
    parser.add_argument("--browser", action="store_true", help="time the app in headless Chromium")
    parser.add_argument("--repeats", type=int, default=5, help="measurements of each kind (median)")
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"), help="browser binary")
    parser.add_argument(
        "--demo-audit",
        type=Path,
        default=None,
        help="the demo's audit (default: run the demo once into --out)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results"))


def run(args: argparse.Namespace) -> int:
    work = args.out / "app-bench"
    work.mkdir(parents=True, exist_ok=True)
    large = work / f"audit-{args.rows}.parquet"
    if not large.exists():
        write_synthetic_audit(large, args.rows, image_files=5_000)
    if not args.browser:
        note = (
            "Reading a synthetic audit with labelclean.auditfile.read_audit: every column but image, "
            "then the columns the app ranks (all but source, labels as categoricals)."
        )
        print(write_table(args.out, "app_open", [time_reading(large)], note))
        return 0
    if not APP.is_file():
        raise DataMissing(f"the review app is not at {APP}: run this from a labelclean checkout")
    if not args.chromium.exists():
        raise DataMissing(f"no browser at {args.chromium} (apt-get install chromium)")
    audits = {
        "demo": args.demo_audit or _demo_audit(work / "demo" / "audit.parquet"),
        f"{args.rows:,} rows": large,
    }
    for path in audits.values():
        _check_pages(path, PER_PAGE * (args.repeats + 1) + 1)
    rows = browser_benchmark(audits, args.repeats, args.chromium)
    print(write_table(args.out, "app_browser", rows, _browser_note(args)))
    return 0


# --- audits ------------------------------------------------------------------------------------


def write_synthetic_audit(path: Path, rows: int, image_files: int = 0, seed: int = 0) -> Path:
    """A plausible audit of ``rows`` image files in 20 classes, about 8% flagged.

    The ``image_files`` most suspicious samples get a real 32x32 PNG (the pages a review
    opens on); the other paths name files that do not exist.
    """
    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    given = rng.integers(0, k, rows)
    wrong = rng.random(rows) < 0.08
    suggested = np.where(wrong, (given + rng.integers(1, k, rows)) % k, given)
    loss = np.where(wrong, rng.gamma(6.0, 0.6, rows), rng.gamma(1.0, 0.08, rows)).astype(np.float32)
    given_prob = np.exp(-loss).astype(np.float32)
    suggested_prob = np.where(wrong, rng.uniform(0.5, 1.0, rows), given_prob).astype(np.float32)
    mislabel = (1 / (1 + np.exp(-(loss - 1.5) * 6))).astype(np.float32)
    suspicious = (mislabel > 0.5) & (suggested != given)
    order = np.argsort(-loss, kind="stable")
    rank = np.empty(rows, dtype=np.int64)
    rank[order] = np.arange(1, rows + 1)
    names = np.asarray(CLASSES)
    root = path.parent / "images"
    sources = [f"{root}/{names[g]}/{i:07d}.png" for i, g in enumerate(given)]
    _write_pngs([sources[i] for i in order[:image_files]], rng)
    table = pa.table(
        {
            "sample_id": np.arange(rows, dtype=np.int64),
            "source": pa.array(sources, pa.large_string()),
            "given_label": names[given],
            "suggested_label": names[suggested],
            "corrected_label": names[np.where(suspicious, suggested, given)],
            "loss": loss,
            "given_prob": given_prob,
            "suggested_prob": suggested_prob,
            "mislabel_prob": mislabel,
            "suggested_true_prob": np.where(suggested != given, mislabel, 1 - mislabel).astype(np.float32),
            "rank": rank,
            "is_suspicious": suspicious,
        }
    )
    metadata = {
        "labelclean_version": "bench",
        "params": {},
        "classes": CLASSES,
        "class_names": CLASSES,
        "data_source": "DataFrame of image paths (column 'path')",
        "n_skipped": 0,
        "created": "2025-01-01T00:00:00+00:00",
    }
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(metadata).encode()})
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp, row_group_size=65536))


def _write_pngs(paths: list[str], rng: np.random.Generator) -> None:
    from PIL import Image

    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)


def _demo_audit(path: Path) -> Path:
    """The demo's audit (written once: the demo trains two networks)."""
    if not path.exists():
        from ..demo import run_demo

        run_demo(path)
    return path


def _check_pages(path: Path, need: int) -> None:
    """The clicks page through the samples the app shows first: say so at once when there are
    too few. An audit with calibrated columns opens on every sample (most valuable review
    first), an older one on its flagged samples (highest loss first)."""
    if "suggested_true_prob" in pq.read_schema(path).names:
        shown = pq.read_metadata(path).num_rows
    else:
        shown = int(read_audit(path, columns=["is_suspicious"])[0]["is_suspicious"].sum())
    if shown < need:
        raise DataMissing(
            f"{path}: the app opens on {shown} samples; the clicks need {need} (pages of {PER_PAGE})"
        )


def time_reading(path: Path) -> dict[str, Any]:
    """Seconds to read every column but ``image``, and the columns the app ranks (no paths,
    labels as categoricals)."""
    started = time.perf_counter()
    frame, _ = read_audit(path)
    read_s = time.perf_counter() - started
    light = [c for c in frame.columns if c != "source"]
    started = time.perf_counter()
    read_audit(path, columns=light, label_categories=True)
    return {
        "rows": len(frame),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "read_s": round(read_s, 3),
        "read_ranked_columns_s": round(time.perf_counter() - started, 3),
    }


# --- servers and the browser -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(script: Path, log: Path, *script_args: str) -> Iterator[str]:
    """A Streamlit server for ``script`` on a free local port; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("LABELCLEAN_AUDIT", None)
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true"]
    command += ["--server.address", "127.0.0.1", "--server.port", str(port)]
    command += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [*command, "--", *script_args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "_stcore/health", timeout=1).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


GRID_DRAWN = "(before) => { const r = document.querySelector('[data-lc-run]'); return !!r && +r.dataset.lcRun > before; }"


def run_drawn(page: Any) -> int:
    """The last run the grid finished drawing (0 before the first)."""
    return int(page.evaluate("() => +(document.querySelector('[data-lc-run]')?.dataset.lcRun || 0)"))


def _timed(page: Any, act: Callable[[], None], timeout_ms: int = 120_000) -> float:
    """Seconds from ``act()`` until the grid has drawn the run it caused, images decoded."""
    before = run_drawn(page)
    started = time.perf_counter()
    act()
    page.wait_for_function(GRID_DRAWN, arg=before, timeout=timeout_ms, polling=20)
    return time.perf_counter() - started


def _load(browser: Any, url: str, ready: Callable[[Any], None]) -> tuple[float, Any, Any]:
    """Seconds to open ``url`` in a fresh context until ``ready(page)`` returns; the page."""
    context = browser.new_context(viewport={"width": 1600, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(120_000)
    started = time.perf_counter()
    page.goto(url)
    ready(page)
    return time.perf_counter() - started, page, context


PAGE_WEIGHT = """() => ({
    nodes: document.querySelectorAll("*").length,
    scripts: performance.getEntriesByType("resource").filter((e) => new URL(e.name).pathname.endsWith(".js")).length,
})"""


def _grid_ready(page: Any) -> None:
    page.wait_for_function(GRID_DRAWN, arg=0, timeout=120_000, polling=20)


def _hello_ready(page: Any) -> None:
    page.get_by_text("Hello, world").wait_for()


def card(page: Any, i: int) -> Any:
    return page.locator(".lc-card").nth(i)


def _card_listing_two(page: Any, i: int) -> Any:
    """The ``i``-th card of the page that lists a second class (an audit without top_classes
    lists only the given label where it is not flagged)."""
    at = page.evaluate(
        "(i) => [...document.querySelectorAll('.lc-card')].map((card, k) => [card, k])"
        ".filter(([card]) => card.querySelectorAll('.lc-class').length > 1).map(([, k]) => k)[i] ?? -1",
        i,
    )
    if at < 0:
        raise DataMissing(f"fewer than {i + 1} cards of the first page list a second class for the S key")
    return card(page, at)


@dataclass(frozen=True)
class Click:
    """One kind of click or key: ``act(page, i)`` is timed; ``prepare`` runs untimed before it
    (open a menu, focus a card) and ``restore`` after it (close the larger view)."""

    name: str
    act: Callable[[Any, int], None]
    prepare: Callable[[Any, int], None] | None = None
    restore: Callable[[Any], None] | None = None
    reload_after: bool = False  # the kind leaves the view changed (page, filters)


def _pick_class(page: Any, i: int) -> None:
    names = page.evaluate("() => window.__labelcleanGrid.latest.data.classes")
    box = page.locator(".lc-filters [name=class_add]")
    box.fill(names[i % len(names)])
    box.press("Enter")


def _per_page(page: Any, count: int) -> None:
    page.locator(".lc-filters select[name=per_page]").select_option(str(count))


CLICKS = [
    Click("accept (button)", lambda page, i: card(page, i).locator("[data-act=accept]").click()),
    Click("keep (button)", lambda page, i: card(page, 5 + i).locator("[data-act=keep]").click()),
    Click(
        "relabel (menu, class button)",
        lambda page, i: page.locator(".lc-menu [data-act=relabel]").first.click(),
        prepare=lambda page, i: card(page, 10 + i).locator("[data-act=menu]").click(),
    ),
    Click(
        "accept (key A)",
        lambda page, i: page.keyboard.press("a"),
        prepare=lambda page, i: card(page, 15 + i).locator(".lc-meta").first.click(),
    ),
    Click(
        "2nd class (key S)",
        lambda page, i: page.keyboard.press("s"),
        prepare=lambda page, i: _card_listing_two(page, i).locator(".lc-meta").first.click(),
    ),
    Click("undo (key U)", lambda page, i: page.keyboard.press("u")),
    Click(
        "next page (button)",
        lambda page, i: page.locator(".lc-headbar [data-act=next]").click(),
        reload_after=True,
    ),
    Click(
        "larger view (click image)",
        lambda page, i: card(page, i).locator(".lc-pic").click(),
        restore=lambda page: _timed(page, lambda: page.keyboard.press("Escape")),
    ),
    Click(
        "accept in the larger view (key A)",
        lambda page, i: page.keyboard.press("a"),
        prepare=lambda page, i: _timed(page, lambda: card(page, i).locator(".lc-pic").click()),
        restore=lambda page: _timed(page, lambda: page.keyboard.press("Escape")),
    ),
    Click("class filter (sidebar)", _pick_class, reload_after=True),
    Click(
        "96 per page (sidebar)",
        lambda page, i: _per_page(page, 96),
        restore=lambda page: _timed(page, lambda: _per_page(page, 24)),
    ),
]


def measure_app(browser: Any, url: str, audit: Path, repeats: int) -> dict[str, list[float]]:
    """Each click kind ``repeats`` times on one page of the app (decisions file removed first)."""
    decisions_path(audit).unlink(missing_ok=True)
    _, page, context = _load(browser, url, _grid_ready)
    times: dict[str, list[float]] = {}
    try:
        for click in CLICKS:
            for i in range(repeats):
                if click.prepare:
                    click.prepare(page, i)
                times.setdefault(click.name, []).append(
                    _timed(page, lambda click=click, i=i: click.act(page, i))
                )
                if click.restore:
                    click.restore(page)
            if click.reload_after:
                page.reload()
                _grid_ready(page)
    finally:
        context.close()
        decisions_path(audit).unlink(missing_ok=True)
    return times


def browser_benchmark(audits: dict[str, Path], repeats: int, chromium: Path) -> list[dict[str, Any]]:
    """First full grid (beside hello world) and every click kind, for each audit."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="labelclean-bench-app-") as folder, ExitStack() as stack:
        hello = Path(folder) / "hello.py"
        hello.write_text(HELLO)
        urls = {"hello world": stack.enter_context(streamlit_server(hello, Path(folder) / "hello.log"))}
        for name, audit in audits.items():
            log = Path(folder) / f"{name.replace(' ', '_').replace(',', '')}.log"
            urls[name] = stack.enter_context(streamlit_server(APP, log, "--audit", str(audit)))
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=str(chromium))
        loads = _loads(browser, urls, repeats)
        clicks = {name: measure_app(browser, urls[name], audit, repeats) for name, audit in audits.items()}
        browser.close()
    return _rows(loads, clicks)


def _loads(browser: Any, urls: dict[str, str], repeats: int) -> dict[str, dict[str, Any]]:
    """First full grid per page: once on a cold server, then ``repeats`` times in turn."""
    loads: dict[str, dict[str, Any]] = {name: {"cold": None, "warm": []} for name in urls}
    for round_ in range(repeats + 1):
        for name, url in urls.items():
            seconds, page, context = _load(
                browser, url, _hello_ready if name == "hello world" else _grid_ready
            )
            loads[name].update(page.evaluate(PAGE_WEIGHT))  # DOM elements and scripts fetched
            context.close()
            if round_ == 0:
                loads[name]["cold"] = seconds
            else:
                loads[name]["warm"].append(seconds)
    return loads


def _rows(
    loads: dict[str, dict[str, Any]], clicks: dict[str, dict[str, list[float]]]
) -> list[dict[str, Any]]:
    hello = statistics.median(loads["hello world"]["warm"])
    rows = []
    for name, load in loads.items():
        median = statistics.median(load["warm"])
        rows.append(
            {
                "page": name,
                "measure": "first full grid" if name != "hello world" else "page shown",
                "median_s": round(median, 3),
                "vs_hello": round(median / hello, 2),
                "cold_s": round(load["cold"], 3),
                "nodes": load["nodes"],
                "scripts": load["scripts"],
                "runs_s": [round(s, 3) for s in load["warm"]],
            }
        )
    for name, kinds in clicks.items():
        for kind, seconds in kinds.items():
            rows.append(
                {
                    "page": name,
                    "measure": kind,
                    "median_s": round(statistics.median(seconds), 3),
                    "vs_hello": "",
                    "cold_s": "",
                    "nodes": "",
                    "scripts": "",
                    "runs_s": [round(s, 3) for s in seconds],
                }
            )
    return rows


def _browser_note(args: argparse.Namespace) -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
        platform.processor(),
    )
    return (
        f"{__doc__.split(chr(10) + chr(10), 2)[2].strip()}\n\nCPU: {cpu} ({os.cpu_count()} cores); "
        f"median of {args.repeats}; cold_s: the first load after the server started. "
        "The large audit's first pages show real 32x32 PNG files."
    )


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []
