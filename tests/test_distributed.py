"""torch.distributed: 2 gloo processes on the CPU follow a single-process run with the same global batch."""

import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "distributed.py"

# The same fit, in one process or under torchrun. The network has no BatchNorm: with
# it, each rank normalises with its half-batch statistics, a real (small) difference.
FIT = textwrap.dedent(
    """
    import sys
    import torch
    from sklearn.datasets import load_digits
    from labelclean import SLNCleaner
    from labelclean.noise import symmetric_noise

    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    cleaner = SLNCleaner(model=net, epochs=15, batch_size=128, random_state=0)
    cleaner.fit(X, symmetric_noise(y, 0.2, 10, seed=0)).save_audit(sys.argv[1])
    """
)


def _run(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _free_port() -> int:
    with socket.socket() as probe:  # a fixed port can still be held by the previous launch
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _torchrun(*args):
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    return [*launch, f"--master_port={_free_port()}", *args]


def test_two_gloo_processes_match_one_process(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(FIT)
    _run([sys.executable, str(script), str(tmp_path / "single.parquet")], tmp_path)
    _run(_torchrun(str(script), str(tmp_path / "ddp.parquet")), tmp_path)
    single, ddp = pd.read_parquet(tmp_path / "single.parquet"), pd.read_parquet(tmp_path / "ddp.parquet")
    # Same batches, label noise and starting weights; the gradients are averaged over
    # two half-batches instead of one batch, so only float rounding (and the 5-sample
    # last batch, split 3/2) separates the runs. Tolerance: 0.2% (+1e-3) in every loss.
    assert np.allclose(ddp["loss"], single["loss"], rtol=2e-3, atol=1e-3)
    assert (ddp["suggested_label"] == single["suggested_label"]).all()
    assert (ddp["is_suspicious"] == single["is_suspicious"]).all()


def test_readme_command_runs_on_two_cpu_processes(tmp_path):
    done = _run(_torchrun(str(EXAMPLE), str(tmp_path / "audit.parquet")), tmp_path)
    # The two ranks share one stdout pipe, so their lines can run together: match, don't split.
    finished = re.findall(r"flagged \d+, of which truly flipped \d+", done.stdout)
    assert len(finished) == 2 and finished[0] == finished[1]  # every rank ends with the same audit
    assert len(pd.read_parquet(tmp_path / "audit.parquet")) == 1797


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_ranks_shard_and_gather_rows():
    from labelclean import distributed

    assert distributed.shard(10) == slice(0, 10)  # one process: everything
    rows = torch.arange(6).reshape(3, 2)
    assert torch.equal(distributed.gather_rows(rows, 3), rows)
