"""Checkpoint and resume: a fit killed with SIGKILL resumes to the same audit, bit for bit."""

import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from labelclean import SLNCleaner
from labelclean.noise import symmetric_noise
from labelclean.training import Callback

PARAMS = dict(epochs=12, random_state=3)

FIT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import torch
    from sklearn.datasets import load_digits
    from labelclean import SLNCleaner
    from labelclean.noise import symmetric_noise
    from labelclean.training import Callback

    torch.set_num_threads(1)

    class Announce(Callback):
        def on_epoch_end(self, trainer, record):
            print("epoch", record["epoch"], flush=True)
            if record["epoch"] >= 6:
                time.sleep(60)  # killed here, by the test

    X, y = load_digits(return_X_y=True)
    SLNCleaner(checkpoint_dir=sys.argv[1], callbacks=[Announce()], epochs=12, random_state=3).fit(
        X, symmetric_noise(y, 0.2, 10, 0)
    )
    """
)


@pytest.fixture
def digits():
    X, y = load_digits(return_X_y=True)
    return X, symmetric_noise(y, 0.2, 10, 0)


def test_killed_fit_resumes_to_the_uninterrupted_audit(tmp_path, digits):
    X, noisy = digits
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # same kernels as the subprocess, for bit-exact results
    try:
        reference = SLNCleaner(**PARAMS).fit(X, noisy)
        process = subprocess.Popen(
            [sys.executable, "-c", FIT_SCRIPT, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        for line in process.stdout:
            if line.strip() == "epoch 6":  # epoch 5's checkpoint is on disk
                break
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
        assert len(saved["history"]) == 5  # epoch 6 was never saved

        resumed = SLNCleaner(checkpoint_dir=tmp_path, **PARAMS).fit(X, noisy)
    finally:
        torch.set_num_threads(threads)
    assert [r["epoch"] for r in resumed.history_] == list(range(1, 13))
    pd.testing.assert_frame_equal(resumed.audit(), reference.audit(), check_exact=True)
    for a, b in zip(
        resumed.model_.state_dict().values(), reference.model_.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def _other_run(change, X, labels):
    """The first run's data and settings with one thing changed."""
    params = dict(epochs=3, random_state=0, sigma=0.5)  # a fixed sigma: "auto" chooses one per data set
    if change == "data":  # same shape and labels, other samples
        X = np.random.default_rng(0).uniform(0, 16, X.shape)
    elif change == "swapped labels":  # same label sum and class count
        i, j = 0, int(np.flatnonzero(labels != labels[0])[0])
        labels = labels.copy()
        labels[[i, j]] = labels[[j, i]]
    elif change == "seed":
        params["random_state"] = 7
    else:
        params["epochs"] = 4
    return X, labels, params


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ("data", "the samples differ"),
        ("swapped labels", "the labels differ"),
        ("seed", r"the random seed differs \(random_state\)"),
        ("epochs", r"the settings differ: correction_start 2 -> 3, epochs 3 -> 4"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused_and_kept(tmp_path, digits, change, differs):
    X, noisy = digits[0][:300], digits[1][:300]
    SLNCleaner(epochs=3, random_state=0, sigma=0.5, checkpoint_dir=tmp_path).fit(X, noisy)
    saved = {path: path.read_bytes() for path in tmp_path.rglob("checkpoint.pt")}
    assert len(saved) == 16  # each of the 15 cross-fitting networks (5 folds, 3 splits) and the final one
    # The first run of the next fit; its fold holds other samples where the folds follow the labels or seed.
    first = tmp_path / "fold0-sigma0.5" / "checkpoint.pt"
    X, noisy, params = _other_run(change, X, noisy)
    message = (
        rf"cannot resume from {re.escape(str(first))}: it was written by another run: "
        rf"(.*; )?{differs}\. Nothing was trained or deleted; to start afresh, use a new checkpoint_dir or delete "
    )
    with pytest.raises(ValueError, match=message):
        SLNCleaner(checkpoint_dir=tmp_path, **params).fit(X, noisy)
    assert {path: path.read_bytes() for path in tmp_path.rglob("checkpoint.pt")} == saved
    fresh = SLNCleaner(checkpoint_dir=tmp_path / "new", **params).fit(X, noisy)  # the advice works
    assert len(fresh.history_) == params["epochs"]


def test_a_checkpoint_of_streamed_images_is_refused_when_a_file_changes(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(24):
        (tmp_path / "data" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
            tmp_path / "data" / f"c{i % 2}" / f"{i}.png"
        )
    params = dict(epochs=2, random_state=0, memory_limit_gb=1e-6, checkpoint_dir=tmp_path / "ckpt")
    SLNCleaner(**params).fit(tmp_path / "data")
    changed = tmp_path / "data" / "c1" / "5.png"
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(changed)
    os.utime(changed, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    with pytest.raises(ValueError, match=r"another run: the samples differ\."):
        SLNCleaner(**params).fit(tmp_path / "data")


class _Interrupt(Exception):
    pass


class _StopBefore(Callback):
    """Interrupts the fit when ``epoch`` (0-based) begins: the checkpoint holds the epochs before it."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_begin(self, trainer, epoch):
        if epoch == self.epoch:
            raise _Interrupt


@pytest.mark.parametrize("kind", ["features", "images with augmentation"])
def test_resuming_during_label_correction_gives_the_uninterrupted_result(tmp_path, digits, kind):
    X, noisy = digits
    X = X[:400] if kind == "features" else X[:400].reshape(-1, 8, 8)
    params = dict(epochs=5, correction_start=2, sigma=0.5, random_state=1)
    reference = SLNCleaner(**params).fit(X, noisy[:400])
    with pytest.raises(_Interrupt):
        SLNCleaner(**params, checkpoint_dir=tmp_path, callbacks=[_StopBefore(4)]).fit(X, noisy[:400])
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert [r["correcting"] for r in saved["history"]] == [False, False, True, True]
    assert not torch.equal(
        saved["targets"], torch.nn.functional.one_hot(torch.as_tensor(noisy[:400])).float()
    )
    resumed = SLNCleaner(**params, checkpoint_dir=tmp_path).fit(X, noisy[:400])
    assert reference.config_["crop_padding"] == (1 if kind != "features" else 0)
    assert [r["epoch"] for r in resumed.history_] == [1, 2, 3, 4, 5]
    pd.testing.assert_frame_equal(resumed.audit(), reference.audit(), check_exact=True)


def test_a_finished_checkpoint_refits_without_training(tmp_path, digits):
    X, noisy = digits
    first = SLNCleaner(epochs=3, random_state=0, checkpoint_dir=tmp_path).fit(X[:300], noisy[:300])
    again = SLNCleaner(epochs=3, random_state=0, checkpoint_dir=tmp_path).fit(X[:300], noisy[:300])
    assert again.history_ == first.history_
    pd.testing.assert_frame_equal(again.audit(), first.audit())
