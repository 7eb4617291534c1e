"""labelclean.bench: noise generators, baseline losses, table renderer, data loaders, end to end."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from appdata import true_label_reviews
from PIL import Image
from sklearn.metrics import roc_auc_score

from labelclean import SLNCleaner
from labelclean.auditfile import check_noise_rate, review_order
from labelclean.bench.cli import main as bench_main
from labelclean.bench.data import DataMissing, load_clothing1m_lists, noisy_labels
from labelclean.bench.methods import (
    BackwardTrainer,
    CoTeachingTrainer,
    ForwardTrainer,
    GCETrainer,
    LabelSmoothingTrainer,
    LogitNoiseTrainer,
    ParameterNoiseTrainer,
    PeerPair,
    PHuberTrainer,
)
from labelclean.bench.presets import PAPER_PRESET, QUICK_PRESET
from labelclean.bench.report import memorisation_row, render_table
from labelclean.metrics import detection_scores
from labelclean.noise import CIFAR10_ASYMMETRIC, asymmetric_noise, symmetric_noise, transition_matrix
from labelclean.training import Trainer, TrainingConfig

# --- noise -------------------------------------------------------------------------------


def test_symmetric_noise_rate_and_uniform_transitions():
    true = np.repeat(np.arange(10), 5000)
    noisy = symmetric_noise(true, 0.4, 10, seed=0)
    assert (noisy != true).mean() == pytest.approx(0.4, abs=0.01)
    t = transition_matrix(true, noisy, 10)
    assert np.allclose(np.diag(t), 0.6, atol=0.02)
    off = t[~np.eye(10, dtype=bool)]
    assert np.allclose(off, 0.4 / 9, atol=0.015)  # 5,000 draws a cell: ~0.003 standard error
    assert np.array_equal(symmetric_noise(true, 0.4, 10, seed=0), noisy)  # seeded


def test_cifar10_asymmetric_noise_flips_only_the_paper_pairs():
    true = np.repeat(np.arange(10), 5000)
    t = transition_matrix(true, asymmetric_noise(true, 0.4, 10, seed=1), 10)
    for source in range(10):
        if source in CIFAR10_ASYMMETRIC:
            assert t[source, CIFAR10_ASYMMETRIC[source]] == pytest.approx(0.4, abs=0.02)
            assert t[source, source] == pytest.approx(0.6, abs=0.02)
        else:
            assert t[source, source] == 1.0
    assert CIFAR10_ASYMMETRIC == {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}


def test_cifar100_asymmetric_noise_goes_to_the_next_class_circularly():
    true = np.repeat(np.arange(100), 1000)
    t = transition_matrix(true, asymmetric_noise(true, 0.4, 100, seed=2), 100)
    assert np.allclose(np.diag(t), 0.6, atol=0.07)  # ~0.015 standard error a class
    assert np.allclose(t[np.arange(100), (np.arange(100) + 1) % 100], 0.4, atol=0.07)
    assert ((t > 0).sum(axis=1) == 2).all()  # nothing else is reachable


def test_noise_files_are_used_when_present_and_checked(tmp_path):
    true = np.array([0, 1, 2, 3])
    pd.DataFrame({"label": true, "label_noisy": [1, 1, 2, 0]}).to_csv(
        tmp_path / "dependent0.4.csv", index=False
    )
    assert noisy_labels(true, "dependent", 10, 0, tmp_path).tolist() == [1, 1, 2, 0]
    with pytest.raises(ValueError, match="does not match the training labels"):
        noisy_labels(np.array([3, 3, 3, 3]), "dependent", 10, 0, tmp_path)
    with pytest.raises(DataMissing, match=r"openset0\.4\.csv"):
        noisy_labels(true, "openset", 10, 0, tmp_path)


# --- baseline losses --------------------------------------------------------------------


def _trainer(cls, labels, **options):
    config = TrainingConfig(
        epochs=1, lr=0.1, batch_size=4, weight_decay=0, sigma=0, momentum=0, correction_start=None
    )
    trainer = cls(torch.nn.Linear(3, 3), config, **options)
    trainer._setup(torch.zeros(len(labels), 3), torch.as_tensor(labels), 3)
    return trainer


def test_phuber_is_cross_entropy_above_one_over_tau_and_linear_below():
    trainer = _trainer(PHuberTrainer, [0, 0], tau=2.0)
    logits = torch.log(torch.tensor([[0.8, 0.1, 0.1], [0.2, 0.4, 0.4]]))
    loss = trainer.compute_loss(logits, None, torch.tensor([0, 1]))
    expected = (-math.log(0.8) + (-2 * 0.2 + math.log(2) + 1)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_gce_loss_matches_its_formula_and_pruned_samples_add_nothing():
    trainer = _trainer(GCETrainer, [0, 0], q=0.7)
    logits = torch.log(torch.tensor([[0.8, 0.1, 0.1], [0.2, 0.4, 0.4]]))
    loss = trainer.compute_loss(logits, None, torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(((1 - 0.8**0.7) + (1 - 0.2**0.7)) / 0.7 / 2, rel=1e-5)
    trainer.sample_weights = torch.tensor([1.0, 0.0])  # pruned sample contributes nothing
    assert trainer.compute_loss(logits, None, torch.tensor([0, 1])).item() == pytest.approx(
        (1 - 0.8**0.7) / 0.7 / 2
    )


def test_forward_and_backward_with_identity_transition_equal_cross_entropy():
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 1, 0])
    ce = F.cross_entropy(logits, labels)
    for cls in (ForwardTrainer, BackwardTrainer):
        trainer = _trainer(cls, labels, transition=np.eye(3))
        assert trainer.compute_loss(logits, None, torch.arange(5)).item() == pytest.approx(
            ce.item(), rel=1e-5
        )


def test_coteaching_keep_rate_ramps_down_to_one_minus_the_noise_rate():
    trainer = _trainer(CoTeachingTrainer, [0, 1], forget_rate=0.4, ramp_epochs=10)
    rates = []
    for epoch in (0, 5, 10, 20):
        trainer.epoch = epoch
        rates.append(trainer.keep_rate())
    assert rates == pytest.approx([1.0, 0.8, 0.6, 0.6])


# --- the step's pieces: baselines keep what they do not override --------------------------


def _one_step(cls, sigma, model=None, bf16=False, **options):
    """One training step on 8 digits-sized random images; returns the trainer and the step's logits."""
    config = TrainingConfig(
        epochs=1, lr=0.5, batch_size=8, weight_decay=0, sigma=sigma, momentum=0, correction_start=None,
        bf16=bf16,
    )  # fmt: skip
    torch.manual_seed(0)
    model = model or torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    trainer = cls(model, config, **options)
    inputs = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    trainer._setup(inputs, torch.tensor([0, 1, 2, 3] * 2), 4)
    _, logits = trainer.train_step(torch.arange(8))
    return trainer, logits


def test_label_smoothing_smooths_the_sln_targets_it_is_given():
    """Overriding the loss no longer drops SLN: the noisy targets arrive as an argument."""
    trainer, _ = _one_step(LabelSmoothingTrainer, sigma=0.5, alpha=0.2)
    noisy = trainer.make_targets(torch.arange(8))
    assert not torch.equal(noisy, trainer.targets)  # SLN is on for the baseline too
    logits = torch.zeros(8, 4)
    expected = -(F.log_softmax(logits, 1) * (0.8 * noisy + 0.2 / 4)).sum(1).mean()
    assert trainer.compute_loss(logits, noisy, torch.arange(8)).item() == pytest.approx(expected.item())


def test_coteaching_trains_both_networks_under_autocast():
    pair = PeerPair(
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4)),
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4)),
    )
    before = [p.detach().clone() for p in pair.parameters()]
    _, logits = _one_step(CoTeachingTrainer, sigma=0, model=pair, bf16=True)
    assert logits.dtype == torch.bfloat16 and logits.shape == (8, 4)  # the step kept autocast
    assert all(not torch.equal(a, b) for a, b in zip(before, pair.parameters(), strict=True))
    pair.eval()
    assert pair(torch.rand(2, 1, 8, 8)).shape == (2, 4)  # predictions come from the first network


@pytest.mark.parametrize("cls", [ParameterNoiseTrainer, LogitNoiseTrainer])
def test_sgd_noise_variants_move_the_weights_off_the_noiseless_step(cls):
    """Eq. 1 / Eq. 2 put the noise on the gradient, not on the targets; sigma 0 is plain CE."""
    plain, _ = _one_step(Trainer, sigma=0)
    noiseless, _ = _one_step(cls, sigma=0)
    noisy, _ = _one_step(cls, sigma=1.0)
    assert torch.equal(noisy.make_targets(torch.arange(8)), noisy.targets)
    weight = [t.model[1].weight for t in (plain, noiseless, noisy)]
    assert torch.allclose(weight[0], weight[1])
    assert (weight[2] - weight[0]).abs().max() > 1e-3


# --- report -------------------------------------------------------------------------------


def test_table_puts_mean_and_std_next_to_the_paper():
    runs = [
        {"method": m, "noise": "sym", "seed": s, "final_test_acc": acc, "seconds": 60.0}
        for m, s, acc in [("ce", 0, 0.50), ("ce", 1, 0.52), ("sln-mo-lc", 0, 0.80), ("sln-mo-lc", 1, 0.82)]
    ]
    table = render_table(runs, "cifar10", ["sym"])
    lines = table.splitlines()
    assert lines[0].startswith("| Method | sym (ours / paper)")
    assert "| CE | 51.00 ± 1.41 / 53.16 ± 1.64 | 1.0 min / 1.18 h |" in lines
    assert "| SLN-MO-LC | 81.00 ± 1.41 / 87.00 ± 0.27 | 1.0 min / 1.31 h |" in lines
    fewer = render_table(runs[1:], "cifar10", ["sym"]).splitlines()  # CE has one run of two
    assert "| CE | 52.00 (n=1) / 53.16 ± 1.64 | 1.0 min / 1.18 h |" in fewer


def test_memorisation_row_compares_raw_and_smoothed_drops():
    curve = [0.50, 0.60, 0.62, 0.58, 0.61, 0.59, 0.60, 0.55, 0.57, 0.56]
    run = {"method": "ce", "noise": "sym", "seed": 0, "history": [{"test_acc": a} for a in curve]}
    row = memorisation_row(run)
    assert row["peak epoch"] == 3 and row["last - peak"] == pytest.approx(-6.0)
    assert row["best 5 (%)"] == pytest.approx(60.0)  # epochs 2-6 and 3-7
    assert row["last 5 (%)"] == pytest.approx(57.4) and row["last 5 - best 5"] == pytest.approx(-2.6)
    short = memorisation_row({**run, "history": run["history"][:2]})  # fewer epochs than the window
    assert list(short) == list(row) and short["last 5 (%)"] == pytest.approx(55.0)


# --- Clothing1M layout ---------------------------------------------------------------------


def _clothing_tree(root: Path, key_lists: bool) -> None:
    rng = np.random.default_rng(0)
    entries = {"train": [], "val": [], "test": []}
    for split, n in (("train", 12), ("val", 4), ("test", 4)):
        for i in range(n):
            rel = f"images/{i % 3}/{split}_{i}.jpg"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(root / rel)
            entries[split].append((rel, i % 14))
    entries["val"].append((entries["train"][0][0], 5))  # one image with both labels
    if key_lists:
        (root / "noisy_train_key_list.txt").write_text("\n".join(p for p, _ in entries["train"]))
        (root / "noisy_label_kv.txt").write_text("\n".join(f"{p} {y}" for p, y in entries["train"]))
        for split in ("val", "test"):
            (root / f"clean_{split}_key_list.txt").write_text("\n".join(p for p, _ in entries[split]))
        clean = entries["val"] + entries["test"]
        (root / "clean_label_kv.txt").write_text("\n".join(f"{p} {y}" for p, y in clean))
    else:
        (root / "annotations").mkdir()
        for split, name in (("train", "noisy_train"), ("val", "clean_val"), ("test", "clean_test")):
            (root / "annotations" / f"{name}.txt").write_text(
                "\n".join(f"{p} {y}" for p, y in entries[split])
            )


@pytest.mark.parametrize("key_lists", [False, True])
def test_clothing1m_lists_in_both_official_layouts(tmp_path, key_lists):
    _clothing_tree(tmp_path, key_lists)
    splits = load_clothing1m_lists(tmp_path)
    assert {k: len(v) for k, v in splits.items()} == {"train": 12, "val": 5, "test": 4}
    assert all(Path(p).exists() for p in splits["train"]["path"])
    assert splits["val"]["label"].iloc[-1] == 5


def test_clothing1m_malformed_line_and_missing_lists_are_named(tmp_path):
    with pytest.raises(DataMissing, match=r"noisy_train\.txt or noisy_train_key_list\.txt"):
        load_clothing1m_lists(tmp_path)
    _clothing_tree(tmp_path, key_lists=False)
    bad = tmp_path / "annotations" / "clean_test.txt"
    bad.write_text(bad.read_text() + "\nimages/0/x.jpg not-a-label")
    with pytest.raises(ValueError, match=r"clean_test.txt, line 5: expected 'relative/path label'"):
        load_clothing1m_lists(tmp_path)


def test_clothing1m_benchmark_runs_end_to_end_on_a_tiny_tree(tmp_path, capsys):
    _clothing_tree(tmp_path / "data", key_lists=True)
    args = [
        "clothing1m",
        "--data-dir",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "out"),
        "--epochs",
        "1",
    ]
    args += ["--image-size", "32", "--methods", "ce", "forward", "sln-mo-lc", "--sampling", "balanced"]
    args += ["--memory-limit-gb", "1e-6"]  # stream the images from disk, as for the real 1M
    assert bench_main([*args, "--per-class", "2"]) == 0
    markdown = capsys.readouterr().out
    assert "RANDOM INIT" in markdown and "| Forward |" in markdown and "74.08 ± 0.18" in markdown
    assert (tmp_path / "out" / "clothing1m.png").exists()
    runs = {
        path.name.split("_")[2]: json.loads(path.read_text())
        for path in (tmp_path / "out" / "runs").glob("*.json")
    }
    assert sorted(runs) == ["ce", "forward", "sln-mo-lc"]
    # Patrini's transition from the one image with both labels: clean 5 was labelled 0 in the noisy list;
    # classes without such an image are taken as noise-free.
    transition = np.array(runs["forward"]["method_options"]["transition"])
    expected = np.eye(14)
    expected[5] = np.eye(14)[0]
    np.testing.assert_array_equal(transition, expected)
    for method, run in runs.items():
        config = run["config"]
        assert (config["lr"], config["batch_size"], config["weight_decay"], config["lr_drops"]) == (
            1e-3,
            32,
            1e-3,
            [5],
        )
        assert config["samples_per_class"] == 2 and config["crop_padding"] == 4  # 1/8 of 32 pixels
        assert config["sigma"] == (0.2 if method == "sln-mo-lc" else 0.0)
        assert run["n_train"] == 12
        # 12 train classes present, 2 drawn from each per epoch; 4 test images.
        (epoch,) = run["history"]
        assert round(epoch["train_acc"] * 24, 6).is_integer() and (run["final_test_acc"] * 4).is_integer()


# --- CIFAR end to end ------------------------------------------------------------------------


@pytest.fixture
def tiny_cifar(tmp_path, shared_data):
    """64 training and 64 test images: the real CIFAR-10 from the shared data when present, else synthetic.

    The first 64 training images, and 64 test images spread over the file (it is sorted by class).
    """
    data = tmp_path / "cifar10"
    (data / "noise").mkdir(parents=True)
    shared = shared_data("cifar10", required=False)
    if shared is not None and (shared / "train.parquet").exists():
        pq.write_table(pq.read_table(shared / "train.parquet").slice(0, 64), data / "train.parquet")
        test = pq.read_table(shared / "test.parquet")
        pq.write_table(test.take(np.linspace(0, len(test) - 1, 64).astype(int)), data / "test.parquet")
        noise = pd.read_csv(shared / "noise" / "sym0.4.csv").iloc[:64]
        noise.to_csv(data / "noise" / "sym0.4.csv", index=False)
    else:
        import datasets

        rng = np.random.default_rng(0)
        features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)})
        for split in ("train", "test"):
            images = [Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) for _ in range(64)]
            labels = list(np.arange(64) % 10)
            datasets.Dataset.from_dict({"img": images, "label": labels}, features=features).to_parquet(
                str(data / f"{split}.parquet")
            )
        true = np.arange(64) % 10  # a label file like the paper's: 40% flipped to another class
        noisy = np.where(rng.random(64) < 0.4, (true + rng.integers(1, 10, 64)) % 10, true)
        pd.DataFrame({"label": true, "label_noisy": noisy}).to_csv(data / "noise" / "sym0.4.csv", index=False)
    return data


def test_cifar_benchmark_end_to_end_and_resume(tiny_cifar, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["cifar10", "--data-dir", str(tiny_cifar), "--out", str(out), "--epochs", "2", "--subset", "64"]
    args += ["--noise", "sym", "asym", "--methods", "ce", "gce", "coteaching", "sln-mo-lc"]
    assert bench_main(args) == 0
    markdown = capsys.readouterr().out
    for name in ("| CE |", "| GCE |", "| Co-teaching |", "| SLN-MO-LC |", "53.16 ± 1.64", "87.85 ± 0.41"):
        assert name in markdown
    runs = sorted((out / "runs").glob("*.json"))
    assert len(runs) == 8
    run = json.loads(runs[0].read_text())
    assert len(run["history"]) == 2 and {"test_acc", "loss_clean", "loss_noisy"} <= set(run["history"][0])
    assert run["config"]["epochs"] == 2 and run["n_train"] == 64
    assert json.loads((out / "cifar10_quick.json").read_text())[0]["method"] == "ce"
    assert (out / "cifar10_quick.png").stat().st_size > 10_000
    stamps = {p: p.stat().st_mtime_ns for p in runs}
    assert bench_main(args) == 0  # resumes: nothing is trained again
    assert {p: p.stat().st_mtime_ns for p in runs} == stamps
    assert capsys.readouterr().out == markdown
    assert bench_main([*args, "--report-only"]) == 0  # the table from the finished runs alone
    assert capsys.readouterr().out == markdown
    assert "| CE | sym | 0 |" in markdown  # the last-vs-peak table


def test_openset_without_cifar100_says_what_is_missing(tiny_cifar, tmp_path, capsys):
    args = ["cifar10", "--data-dir", str(tiny_cifar), "--out", str(tmp_path), "--noise", "openset"]
    args += ["--cifar100-dir", str(tmp_path / "nope"), "--subset", "64", "--epochs", "1", "--methods", "ce"]
    assert bench_main(args) == 2
    assert "cifar100 not found" in capsys.readouterr().err


def test_detect_benchmark_compares_labelclean_and_cleanlab(tiny_cifar, tmp_path, capsys):
    pytest.importorskip("cleanlab")
    args = ["detect", "--data-dir", str(tiny_cifar), "--n", "64", "--folds", "2", "--epochs", "2"]
    assert bench_main([*args, "--noise", "sym", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "detect.json").read_text())
    assert [r["method"] for r in rows] == ["labelclean", "cleanlab"]
    # Every reported number follows from what the run kept and the label file's true flips.
    noise = pd.read_csv(tiny_cifar / "noise" / "sym0.4.csv").iloc[:64]
    true, noisy = noise["label"].to_numpy(), noise["label_noisy"].to_numpy()
    flipped = noisy != true
    runs = tmp_path / "detect-runs"
    audit = pd.read_parquet(next(runs.glob("*.parquet")))
    probs = np.load(next(runs.glob("*.npy")))
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    kept = {
        "labelclean": (
            audit["is_suspicious"].to_numpy(),
            -audit["rank"].to_numpy(),
            audit["suggested_label"].to_numpy(),
        ),
        "cleanlab": (
            find_label_issues(noisy, probs),
            -get_label_quality_scores(noisy, probs),
            probs.argmax(1),
        ),
    }
    for row in rows:
        flagged, ranking, suggested = kept[row["method"]]
        scores = detection_scores(flagged, flipped)
        assert row["flagged"] == flagged.sum() and row["seconds"] > 0
        assert row["precision"] == round(scores["precision"], 4) and row["recall"] == round(
            scores["recall"], 4
        )
        assert row["auroc"] == round(roc_auc_score(flipped, ranking), 4)
        assert row["suggested_right_on_flipped"] == round((suggested[flipped] == true[flipped]).mean(), 4)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)  # every sample got an out-of-fold prediction
    assert (
        "| noise | true_rate | method | flagged | precision | recall | f1 | oracle_f1 | auroc |"
        in capsys.readouterr().out
    )
    kept = sorted(p.suffix for p in (tmp_path / "detect-runs").iterdir())
    assert kept == [
        ".json",
        ".json",
        ".npy",
        ".npz",
        ".npz",
        ".parquet",
    ]  # rows, probabilities, scores, audit
    # A second call resumes: finished (noise, method) rows are read back, not trained again.
    assert bench_main([*args, "--noise", "sym", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "detect.json").read_text()) == rows


def test_decisions_benchmark_scores_every_cell_from_what_it_kept(tmp_path):
    """Digits from scratch, one noisy cell and the long-tailed clean one: each row follows from
    the kept audit and the true labels, the goals missed are named, and a rerun resumes."""
    pytest.importorskip("cleanlab")
    from sklearn.datasets import load_digits

    from labelclean.bench.decisions import long_tail_rows

    args = ["decisions", "--suite", "digits", "--cells", "sym20", "lt-clean", "--epochs", "2"]
    assert bench_main([*args, "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "decisions-digits.json").read_text())
    assert [(r["cell"], r["method"]) for r in rows] == [
        ("sym20", "labelclean"), ("sym20", "cleanlab"), ("lt-clean", "labelclean"), ("lt-clean", "cleanlab")
    ]  # fmt: skip
    true = load_digits().target
    for row in rows[::2]:
        n = len(true) if row["cell"] == "sym20" else len(long_tail_rows(true))
        audit = pd.read_parquet(
            tmp_path / "decisions-runs" / f"digits-{row['cell']}-labelclean-n{n}-e2-s0.parquet"
        )
        truth = true if row["cell"] == "sym20" else true[long_tail_rows(true)]
        given = audit["given_label"].to_numpy()
        assert row["wrong"] == pytest.approx((given != truth).mean(), abs=1e-4)
        assert row["flagged"] == audit["is_suspicious"].sum()
        assert row["changed"] == pytest.approx((audit["corrected_label"] != given).mean(), abs=1e-4)
        assert row["corrected_accuracy"] == pytest.approx(
            (audit["corrected_label"] == truth).mean(), abs=1e-4
        )
        assert isinstance(row["missed"], str) and rows[rows.index(row) + 1]["missed"] is None
        check = check_noise_rate(audit, true_label_reviews(audit, truth, review_order(audit, "check")[:100]))
        assert row["check"] == f"{check.estimate:.3f} [{check.low:.3f}, {check.high:.3f}]"
        applied = check.apply(audit)
        assert row["check_overrules"] == check.overrules(audit)
        assert row["check_corrected_accuracy"] == pytest.approx(
            (applied["corrected_label"] == truth).mean(), abs=1e-4
        )
    assert (tmp_path / "decisions-digits-reliability.png").stat().st_size > 10_000
    assert bench_main([*args, "--out", str(tmp_path)]) == 0  # resumes: nothing is trained again
    assert json.loads((tmp_path / "decisions-digits.json").read_text()) == rows


def test_human_like_noise_is_half_ambiguous_samples_half_random_slips():
    """The decisions bench's ``mixed`` cells: the instance-dependent cell at half the rate, every
    flip kept, and as many random slips again on samples it labels right."""
    import argparse

    from sklearn.datasets import load_digits

    from labelclean.bench.decisions import label_sets

    digits = load_digits()
    true = digits.target
    args = argparse.Namespace(rates=[0.1, 0.2], data_dir=None)
    cells = {cell: given for cell, _, given in label_sets("digits", digits.images, true, 0, args)}
    mixed, ambiguous, slips = cells["mixed20"], cells["dependent10"], cells["sym20"]
    assert (mixed != true).mean() == pytest.approx(0.2, abs=1 / len(true))
    assert (mixed[ambiguous != true] == ambiguous[ambiguous != true]).all()
    added = (mixed != true) & (ambiguous == true)
    assert added.sum() == pytest.approx((ambiguous != true).sum(), abs=1)
    assert (mixed[added] == slips[added]).all()


def test_detect_on_feature_vectors_at_lower_noise_rates(tmp_path, shared_data):
    """--features with --noise-rate: every number in a row follows from the kept audit and the true labels."""
    pytest.importorskip("cleanlab")
    features = shared_data("cifar10", "embeddings", "efficientnet_lite0_160px_train_first10k.npy")
    train = shared_data("cifar10", "train.parquet")
    args = [
        "detect",
        "--data-dir",
        str(train.parent),
        "--features",
        str(features),
        "--n",
        "600",
        "--noise",
        "sym",
        "--noise-rate",
        "0.1",
        "0.3",
    ]
    assert bench_main([*args, "--epochs", "3", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "detect.json").read_text())
    assert [(r["method"], r["true_rate"]) for r in rows] == [
        ("labelclean", 0.1), ("cleanlab", 0.1), ("labelclean", 0.3), ("cleanlab", 0.3)
    ]  # fmt: skip
    true = pq.read_table(train, columns=["label"])["label"].to_numpy()[:600]
    for row in rows[::2]:
        audit = pd.read_parquet(
            tmp_path
            / "detect-runs"
            / f"sym-rate{round(row['true_rate'] * 100)}-labelclean-features-n600-e3-k5-s0.parquet"
        )
        wrong = audit["given_label"].to_numpy() != true
        assert wrong.mean() == pytest.approx(row["true_rate"]) and row["given_accuracy"] == pytest.approx(
            1 - wrong.mean()
        )
        assert row["flagged"] == audit["is_suspicious"].sum()
        assert row["corrected_accuracy"] == pytest.approx((audit["corrected_label"] == true).mean(), abs=1e-4)
        estimate, low, high = (
            float(v) for v in row["estimated_rate"].replace("[", "").replace("]", "").replace(",", "").split()
        )
        assert low <= estimate <= high
    assert (tmp_path / "detect-reliability.png").stat().st_size > 10_000


def test_throughput_benchmark_times_both_loops_and_bf16_on_the_cpu(tmp_path):
    args = ["throughput", "--data-dir", str(tmp_path / "none"), "--images", "128", "--models", "cnn_small"]
    assert (
        bench_main([*args, "--repeats", "2", "--workers", "0", "--device", "cpu", "--out", str(tmp_path)])
        == 0
    )
    (row,) = json.loads((tmp_path / "throughput.json").read_text())
    assert (row["model"], row["device"], row["images"], row["reference_workers"]) == (
        "cnn_small",
        "cpu",
        128,
        0,
    )
    for loop in ("labelclean", "labelclean_bf16", "reference"):
        runs = row[f"{loop}_runs"]
        assert len(runs) == 2  # both repeats ran, alternating with the other loops
        # a timed epoch of real training: not the set-up alone, not an empty loop (which reads as ~1e6+)
        assert all(1 < r < 20_000 for r in runs)
        assert row[f"{loop}_img_s"] == pytest.approx(sum(runs) / 2, abs=0.1)  # the median of two
    assert math.isclose(row["ratio"], row["labelclean_img_s"] / row["reference_img_s"])
    assert math.isclose(row["ratio_bf16"], row["labelclean_bf16_img_s"] / row["reference_img_s"])


# --- the one-shot GPU check, on the CPU with tiny sizes --------------------------------------


@pytest.fixture
def one_thread():
    """WRN-28-2 steps on one thread: two threads on a shared 2-core machine thrash."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


GPU_TINY = ["--device", "cpu", "--images", "32", "--test-images", "48", "--steps", "2", "--warmup-steps", "1"]
GPU_TINY += ["--batch-size", "8", "--workers", "0", "--no-compile"]


def test_gpu_check_on_the_cpu_writes_one_consistent_table(tiny_cifar, tmp_path, capsys, one_thread):
    assert (
        bench_main(["gpu", "--data-dir", str(tiny_cifar), "--out", str(tmp_path), "--epochs", "3", *GPU_TINY])
        == 0
    )
    markdown = capsys.readouterr().out
    assert (
        "CPU NUMBERS, NOT A GPU" in markdown and markdown.strip() == (tmp_path / "gpu.md").read_text().strip()
    )
    rows = {row["id"]: row for row in json.loads((tmp_path / "gpu.json").read_text())}
    reference = rows["throughput/reference-fp32"]["value"]
    for loop in ("reference-fp32", "reference-bf16", "labelclean-fp32", "labelclean-bf16"):
        row = rows[f"throughput/{loop}"]
        assert row["value"] > 0 and row["unit"] == "img/s" and row["detail"].startswith("2 timed steps")
        assert row["ratio"] == pytest.approx(row["value"] / reference, rel=0.01)
    for loop in ("labelclean-bf16-compile", "labelclean-fp32-compile"):
        assert (
            rows[f"throughput/{loop}"]["value"] is None
            and "--no-compile" in rows[f"throughput/{loop}"]["detail"]
        )
    # 3 epochs: label correction from round(3 * 5/6) = epoch index 2, so epochs 1-2 SLN, epoch 3 correcting.
    sln, correction = rows["epoch/sln"]["value"], rows["epoch/correction"]["value"]
    assert sln > 0 and correction > 0 and rows["epoch/sln"]["detail"] == "median of epoch 2"
    projected = rows["projection/300"]["value"]
    # The table shows seconds to 3 decimals but projects from the unrounded ones: up to
    # 300 epochs x 0.0005 s apart, which matters when a fast machine makes the epochs short.
    assert projected == pytest.approx((250 * sln + 50 * correction) / 3600, rel=1e-3, abs=300 * 0.0005 / 3600)
    assert rows["paper/v100"]["value"] == 1.31
    assert rows["projection/300"]["ratio"] == pytest.approx(1.31 / projected, rel=1e-2)
    assert rows["memory/peak"]["value"] > 0 and "peak RSS" in rows["memory/peak"]["measure"]
    accuracy = rows["accuracy/final"]
    assert 0 <= accuracy["value"] <= 1 and accuracy["detail"] == "after epoch 3 of 3"
    assert accuracy["value"] * 48 == pytest.approx(round(accuracy["value"] * 48))  # on the 48 test images


def test_gpu_check_keeps_its_time_box_and_refuses_a_missing_gpu(tiny_cifar, tmp_path, capsys, one_thread):
    args = ["gpu", "--data-dir", str(tiny_cifar), "--out", str(tmp_path), "--epochs", "3"]
    assert bench_main([*args, *GPU_TINY, "--budget", "0"]) == 0  # every part out of time at once
    rows = {row["id"]: row for row in json.loads((tmp_path / "gpu.json").read_text())}
    assert all(
        row["value"] is None and "time box" in row["detail"]
        for key, row in rows.items()
        if key.startswith("throughput/") and "compile" not in key
    )
    # The run stops after its first epoch, whose numbers stay in the table.
    assert rows["accuracy/final"]["detail"] == "after epoch 1 of 3: stopped by the time box"
    assert rows["epoch/sln"]["value"] > 0 and rows["epoch/correction"]["value"] is None
    if not torch.cuda.is_available():
        capsys.readouterr()
        assert bench_main(args) == 2
        assert "no CUDA device" in capsys.readouterr().err


def test_presets_plan_their_runs_as_the_estimator_does():
    """The presets are labelclean's recipes: a 28-pixel image is padded by round(28 / 8) = 4 pixels, as
    SLNCleaner pads it, and the quick preset's momentum is sized to the run as SLNCleaner's "auto" is."""
    images = torch.zeros(64, 3, 28, 28, dtype=torch.uint8)
    labels = np.arange(64) % 4
    cleaner = SLNCleaner(epochs=2, sigma=0.2, device="cpu", random_state=0).fit(images.numpy(), labels)
    plan = QUICK_PRESET.plan(epochs=2, sigma=0.2, device=torch.device("cpu"))
    config = plan.training_config(64, (3, 28, 28), plan.sigma).to_dict()
    assert config == {k: v for k, v in cleaner.config_.items() if k not in ("model", "recipe")}
    assert config["crop_padding"] == 4 and plan.model == cleaner.config_["model"] == "cnn_small"
    paper = PAPER_PRESET.plan(epochs=300, sigma=0.5, device=torch.device("cpu"))
    assert (paper.model, paper.lr, paper.momentum, paper.correction_start) == ("wrn28_2", 0.001, 0.999, 250)


def test_benchmark_data_comes_from_labelclean_data_or_is_named_missing(
    tiny_cifar, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("LABELCLEAN_DATA", str(tmp_path / "nothing-here"))
    assert bench_main(["memory", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nothing-here/cifar10/train.parquet not found" in err and "LABELCLEAN_DATA" in err
    monkeypatch.setenv("LABELCLEAN_DATA", str(tiny_cifar.parent))  # the folder holding cifar10/
    assert bench_main(["memory", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "memory.json").read_text())
    assert row["images"] == 64


# --- scale benchmarks ---------------------------------------------------------------------------


def test_index_and_memory_benchmarks_on_small_inputs(tiny_cifar, tmp_path):
    assert bench_main(["index", "--entries", "500", "--workdir", str(tmp_path), "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "index.json").read_text())
    assert row["entries"] == 500 and row["row_groups"] == 1
    assert bench_main(["memory", "--data-dir", str(tiny_cifar), "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "memory.json").read_text())
    assert row["images"] == row["audit_rows"] == 64 and row["peak_rss_gib"] > 0
