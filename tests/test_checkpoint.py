"""Checkpoint and resume: a fit killed with SIGKILL resumes to the same audit, bit for bit."""

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits

from labelclean import SLNCleaner
from labelclean.noise import symmetric_noise

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


def test_a_checkpoint_of_another_run_is_refused(tmp_path, digits):
    X, noisy = digits
    SLNCleaner(epochs=2, random_state=0, checkpoint_dir=tmp_path).fit(X[:300], noisy[:300])
    with pytest.raises(ValueError, match=r"cannot resume from .*checkpoint\.pt.*another run"):
        SLNCleaner(epochs=3, random_state=0, checkpoint_dir=tmp_path).fit(X[:300], noisy[:300])


def test_a_finished_checkpoint_refits_without_training(tmp_path, digits):
    X, noisy = digits
    first = SLNCleaner(epochs=3, random_state=0, checkpoint_dir=tmp_path).fit(X[:300], noisy[:300])
    again = SLNCleaner(epochs=3, random_state=0, checkpoint_dir=tmp_path).fit(X[:300], noisy[:300])
    assert again.history_ == first.history_
    pd.testing.assert_frame_equal(again.audit(), first.audit())
