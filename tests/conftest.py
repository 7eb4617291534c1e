"""Fixtures shared by several test files."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# The project's real data: $LABELCLEAN_DATA (what the benchmarks read), else ../shared/data beside the checkout.
SHARED_DATA = Path(os.environ.get("LABELCLEAN_DATA") or REPO.parent / "shared" / "data")

# One torch thread in the test process: the suite's networks are small, and on a machine whose
# cores other jobs share, a second thread oversubscribes them and slows the tests down.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data():
    """``shared_data("cifar10", "train.parquet")``: that file of the shared data (:data:`SHARED_DATA`).

    A test that needs it is skipped with one line naming the missing file; with
    ``required=False`` the answer is None instead, for tests that fall back to generated data.
    """

    def path(*parts: str, required: bool = True) -> Path | None:
        file = SHARED_DATA.joinpath(*parts)
        if file.exists():
            return file
        if required:
            pytest.skip(f"needs the shared data: {file} is missing (set LABELCLEAN_DATA to its folder)")
        return None

    return path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """``python -m labelclean demo --out DIR/audit.parquet`` run once, for real, as the app runs it.

    Returns the command, the finished process and the audit's path. The demo's own test
    reads its output; the app's test checks that its "run the demo" button runs this command.
    """
    folder = tmp_path_factory.mktemp("demo")
    command = [sys.executable, "-m", "labelclean", "demo", "--out", str(folder / "audit.parquet")]
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    # One thread: a busy machine slows a 2-thread run of the demo several-fold (oversubscription).
    env = {**os.environ, "PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=folder, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return command, done, folder / "audit.parquet"
