"""python -m labelclean.bench app: reading a large audit, and the app timed in a real browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from appdata import make_audit

from labelclean.auditfile import decisions_path, read_audit
from labelclean.bench.app import CLICKS, write_synthetic_audit
from labelclean.bench.cli import main as bench_main

CHROMIUM = Path("/usr/bin/chromium")


def test_synthetic_audit_has_real_images_on_its_first_pages(tmp_path):
    path = write_synthetic_audit(tmp_path / "audit.parquet", 3_000, image_files=50)
    frame, metadata = read_audit(path)
    assert len(frame) == 3_000 and metadata["classes"][0] == "class_00"
    top = frame.sort_values("rank")["source"]
    assert all(Path(p).is_file() for p in top[:50]) and not any(Path(p).exists() for p in top[50:100])
    assert 0.03 < frame["is_suspicious"].mean() < 0.15


def test_reading_benchmark_times_reading_an_audit(tmp_path, capsys):
    assert bench_main(["app", "--rows", "5000", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "app_open.json").read_text())
    assert row["rows"] == 5_000 and row["read_s"] > 0 and row["read_ranked_columns_s"] > 0
    assert "| rows |" in (tmp_path / "app_open.md").read_text()


def test_browser_benchmark_times_every_kind_of_click(tmp_path, capsys):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    demo = make_audit(tmp_path / "demo", n=300, images=True)  # pages enough for "next page"
    argv = [
        "app",
        "--browser",
        "--rows",
        "3000",
        "--repeats",
        "1",
        "--demo-audit",
        str(demo),
        "--out",
        str(tmp_path),
    ]
    assert bench_main(argv) == 0
    rows = json.loads((tmp_path / "app_browser.json").read_text())
    loads = {r["page"]: r for r in rows if r["measure"] in ("page shown", "first full grid")}
    assert set(loads) == {"hello world", "demo", "3,000 rows"} and loads["hello world"]["vs_hello"] == 1
    assert all(r["median_s"] > 0 and r["cold_s"] > 0 for r in loads.values())
    assert all(r["nodes"] > 10 and r["scripts"] > 0 for r in loads.values())  # what the browser built
    for page in ("demo", "3,000 rows"):
        clicks = {r["measure"]: r["median_s"] for r in rows if r["page"] == page and r["vs_hello"] == ""}
        assert set(clicks) == {c.name for c in CLICKS} and all(s > 0 for s in clicks.values())
    assert not decisions_path(demo).exists()  # the benchmark leaves no decisions behind
    assert "first full grid" in (tmp_path / "app_browser.md").read_text()


def test_browser_benchmark_refuses_an_audit_with_too_few_samples_to_page_through(tmp_path, capsys):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    demo = make_audit(tmp_path / "demo", n=40)
    argv = ["app", "--browser", "--rows", "3000", "--demo-audit", str(demo), "--out", str(tmp_path)]
    assert bench_main(argv) == 2
    assert f"{demo}: the app opens on 40 samples; the clicks need 145" in capsys.readouterr().err
