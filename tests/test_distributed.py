"""torch.distributed: 2 gloo processes on the CPU follow a single-process run with the same global batch."""

import json
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
from sklearn.datasets import load_digits
from sklearn.metrics import f1_score, precision_score, roc_auc_score

from labelclean.noise import symmetric_noise

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "distributed.py"

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
    # One split (repeats=1): what is compared is the arithmetic of one run on one or two processes.
    cleaner = SLNCleaner(model=net, epochs=15, batch_size=128, random_state=0, repeats=1)
    cleaner.fit(X, symmetric_noise(y, 0.2, 10, seed=0)).save_audit(sys.argv[1])
    """
)


def _run(args, tmp_path):
    # This checkout's labelclean, whatever is installed; one thread per process, as in the README.
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": pythonpath}
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
    # What follows from the losses may flip where two outcomes are near-tied (a flag at the
    # count's edge, two runner-up classes of equal probability), so it is compared with the
    # tolerance those ties need, on any CPU: probabilities to 0.02, decisions on all but 1%.
    assert np.allclose(ddp["mislabel_prob"], single["mislabel_prob"], atol=0.02)
    assert (ddp["is_suspicious"] != single["is_suspicious"]).mean() <= 0.01
    assert (ddp["corrected_label"] != single["corrected_label"]).mean() <= 0.01
    decisive = single["suggested_true_prob"] > 0.52  # no other class can be within 0.04 of it
    assert (ddp["suggested_label"] == single["suggested_label"])[decisive].all()


def test_readme_command_on_two_processes_finds_the_flips(tmp_path):
    """The README's example (an MLP with BatchNorm) under torchrun.

    Each rank normalises its half-batch with that half's statistics, so the run is not the
    one-process run to the last digit (the test above compares those without BatchNorm); it
    must find the flips about as well as one process does (F1 0.958 there) and change mostly wrong labels.
    """
    done = _run(_torchrun(str(EXAMPLE), str(tmp_path / "ddp.parquet")), tmp_path)
    # The two ranks share one stdout pipe, so their lines can run together: match, don't split.
    finished = re.findall(r"flagged \d+, of which truly flipped \d+", done.stdout)
    assert len(finished) == 2 and finished[0] == finished[1]  # every rank ends with the same audit
    y = load_digits().target
    flipped = symmetric_noise(y, 0.2, 10, seed=0) != y
    audit = pd.read_parquet(tmp_path / "ddp.parquet")
    assert len(audit) == 1797
    assert f1_score(flipped, audit["is_suspicious"]) > 0.9
    assert roc_auc_score(flipped, audit["loss"]) > 0.98
    assert precision_score(flipped, audit["is_suspicious"]) > 0.85
    assert (audit["corrected_label"] == y).mean() > 0.94


SHARDING = textwrap.dedent(
    """
    import json, sys
    import torch
    from labelclean import distributed

    assert distributed.init_from_env()
    seen = {"rank": distributed.rank(), "seed": distributed.broadcast_int(100 + distributed.rank())}
    seen["sum"] = distributed.all_reduce_sum(torch.tensor([distributed.rank() + 1.0])).item()
    for n in (10, 7, 1):
        part = distributed.shard(n)
        rows = torch.arange(2 * n).reshape(n, 2)[part] * 10  # this rank's rows, worked on
        seen[n] = {"slice": [part.start, part.stop], "gathered": distributed.gather_rows(rows, n).tolist()}
    with open(f"{sys.argv[1]}.{distributed.rank()}.json", "w") as out:
        json.dump(seen, out)
    """
)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_ranks_shard_and_gather_rows_in_order(tmp_path):
    script = tmp_path / "shard.py"
    script.write_text(SHARDING)
    _run(_torchrun(str(script), str(tmp_path / "seen")), tmp_path)
    ranks = [json.loads((tmp_path / f"seen.{r}.json").read_text()) for r in range(2)]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert [r["seed"] for r in ranks] == [100, 100]  # rank 0's value everywhere
    assert [r["sum"] for r in ranks] == [3.0, 3.0]
    expected_slices = {"10": [[0, 5], [5, 10]], "7": [[0, 4], [4, 7]], "1": [[0, 1], [1, 1]]}
    for n, slices in expected_slices.items():
        assert [r[n]["slice"] for r in ranks] == slices  # contiguous, sizes differ by at most one
        full = (np.arange(2 * int(n)).reshape(-1, 2) * 10).tolist()
        assert all(r[n]["gathered"] == full for r in ranks)  # every rank gets every row, in order
