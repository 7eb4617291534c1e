"""Every script in examples/ runs, as a user would run it, on scikit-learn's digits.

The scripts run from a copy of examples/ in a temporary folder (they write their audits
to the working folder and their images to temporary folders), with the CPU recipes cut
to 5 epochs to keep this fast, and no shared data: hf_dataset.py takes its digits branch
(its CIFAR-10 branch, taken when $LABELCLEAN_DATA/cifar10 exists, is the same code on other data).
distributed.py runs under torchrun in test_distributed.py.
"""

import dataclasses
import re
import runpy
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_digits

from labelclean.noise import symmetric_noise
from labelclean.recipes import RECIPES

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DIGITS = load_digits().target
FLIPPED = int((symmetric_noise(DIGITS, 0.2, 10, 0) != DIGITS).sum())  # what the examples flip
REPORT = rf"flagged (\d+) of 1797; truly flipped {FLIPPED}; precision (0\.\d\d)"


@pytest.fixture
def run_example(tmp_path, monkeypatch, capsys):
    copy = shutil.copytree(EXAMPLES, tmp_path / "repo" / "examples")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    monkeypatch.syspath_prepend(str(copy))
    monkeypatch.setenv("LABELCLEAN_DATA", str(tmp_path / "no-shared-data"))
    for kind in ("scratch_cpu", "features"):  # the CPU's CNN recipe, and the MLP's for feature vectors
        monkeypatch.setitem(RECIPES, kind, dataclasses.replace(RECIPES[kind], epochs=5))

    def run(script: str) -> str:
        runpy.run_path(str(copy / script), run_name="__main__")
        printed = capsys.readouterr().out
        flagged, precision = re.search(REPORT, printed).groups()
        assert 100 < int(flagged) < 1000 and float(precision) > 0.3  # a weak 5-epoch model, but a model
        before, after = map(
            float, re.search(r"right before: ([\d.]+), after correct_labels\(\): ([\d.]+)", printed).groups()
        )
        assert before == pytest.approx(1 - FLIPPED / 1797, abs=1e-3) and after > 0.5
        return printed

    run.work = work
    return run


def test_arrays_example_finds_flips_and_keeps_thumbnails(run_example):
    printed = run_example("arrays.py")
    audit = pd.read_parquet(run_example.work / "audit.parquet")
    assert len(audit) == 1797 and "image" in audit  # arrays carry their thumbnails
    assert "suggested_label" in printed and "PNG" not in printed  # the table, not the thumbnails' bytes


def test_feature_vectors_example_finds_flips_with_an_mlp(run_example):
    assert "model: mlp" in run_example("feature_vectors.py")


def test_image_folder_example_audits_files_and_predicts_on_the_folder(run_example):
    printed = run_example("image_folder.py")
    (audit_path,) = run_example.work.glob("labelclean-folder-*/audit.parquet")
    audit = pd.read_parquet(audit_path)
    assert len(audit) == 1797 and audit["source"].str.endswith(".png").all()
    predicted = re.search(r"predict on the folder itself: \[([^]]*)\]", printed).group(1).split()
    assert len(predicted) == 10 and all(p.strip("'").startswith("digit_") for p in predicted)


def test_dataframe_example_reads_class_names_and_feature_columns(run_example):
    printed = run_example("dataframe.py")
    assert "classes_: ['eight' 'five' 'four' 'nine' 'one'" in printed
    assert float(re.search(r"features accuracy on the given labels: ([\d.]+)", printed).group(1)) > 0.5


def test_hf_dataset_example_takes_class_names_from_the_classlabel(run_example):
    printed = run_example("hf_dataset.py")
    assert "class names: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']" in printed
