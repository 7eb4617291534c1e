"""python -m labelclean.bench review: simulated reviews, a second fit, the wrong labels left."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from labelclean.auditfile import review_order
from labelclean.bench.cli import main as bench_main
from labelclean.bench.review import demo_data, simulated_review


def test_the_simulated_reviewer_answers_from_the_true_labels_in_the_apps_order():
    X, noisy, true = demo_data(0)
    assert len(X) == 1347 and (noisy != true).mean() > 0.15
    rng = np.random.default_rng(0)
    suggested = np.where(rng.random(len(true)) < 0.7, true, noisy)
    audit = pd.DataFrame(
        {
            "sample_id": np.arange(len(true)),
            "given_label": noisy,
            "suggested_label": suggested,
            "corrected_label": np.where(rng.random(len(true)) < 0.5, suggested, noisy),
            "is_suspicious": suggested != noisy,
            "mislabel_prob": rng.random(len(true)),
            "suggested_true_prob": rng.random(len(true)),
            "rank": rng.permutation(len(true)) + 1,
        }
    )
    review = simulated_review(audit, true, "gain", 40)
    assert review["sample_id"].tolist() == audit["sample_id"].iloc[review_order(audit, "gain")[:40]].tolist()
    assert (review["final_label"].to_numpy() == true[review["sample_id"]]).all()
    decided = dict(zip(review["sample_id"], review["decided_by"], strict=True))
    for sample_id, by in decided.items():
        expected = (
            "accept"
            if true[sample_id] == suggested[sample_id]
            else "keep"
            if true[sample_id] == noisy[sample_id]
            else "relabel"
        )
        assert by == f"reviewer: {expected}"


def test_bench_review_runs_resumes_and_prints_the_table(tmp_path, capsys):
    argv = [
        "review",
        "--data",
        "demo",
        "--reviews",
        "30",
        "--seeds",
        "0",
        "--epochs",
        "10",  # fewer, and the networks are too weak to judge: their corrections make labels worse
        "--out",
        str(tmp_path),
    ]
    assert bench_main(argv) == 0
    rows = {r["order"]: r for r in json.loads((tmp_path / "review.json").read_text())}
    assert set(rows) == {"gain", "loss"}
    cells = [json.loads(p.read_text()) for p in sorted((tmp_path / "review-runs").glob("*.json"))]
    assert len(cells) == 2
    for cell in cells:  # pasting the reviews fixes exactly the reviewed labels that were wrong
        assert cell["wrong_none"] - cell["wrong_pasted"] == cell["changed_by_review"] <= 30
        assert cell["removed_per_review"] == round((cell["wrong_none"] - cell["wrong_refit"]) / 30, 3)
    by_order = {c["order"]: c for c in cells}
    assert by_order["gain"]["changed_by_review"] > by_order["loss"]["changed_by_review"]
    table = (tmp_path / "review.md").read_text()
    assert "| demo | 20% | gain | 30 | 1 |" in table
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "review-runs").iterdir()}
    capsys.readouterr()
    assert bench_main(argv) == 0  # every cell kept: nothing trains again
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "review-runs").iterdir()} == stamps
    assert ": first fit " not in capsys.readouterr().out
