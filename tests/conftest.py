"""Fixtures shared by several test files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
# The project's real data: $LABELCLEAN_DATA (what the benchmarks read), else ../shared/data beside the checkout.
SHARED_DATA = Path(os.environ.get("LABELCLEAN_DATA") or REPO.parent / "shared" / "data")

# One torch thread in each test process: the suite's networks are small, and its two worker
# processes (pytest-xdist, pyproject.toml) already keep two cores busy.
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
    Run once for all the test workers: the first to need it runs it under a lock in their
    shared temporary folder, the others read what it left there.
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "demo"
    command = [sys.executable, "-m", "labelclean", "demo", "--out", str(folder / "audit.parquet")]
    record = folder / "run.json"
    with FileLock(shared / "demo.lock"):
        if not record.exists():
            folder.mkdir(exist_ok=True)
            pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
            # One thread: the other worker keeps the second core busy.
            env = {**os.environ, "PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, cwd=folder, timeout=900, check=False
            )
            record.write_text(json.dumps([done.returncode, done.stdout, done.stderr]))
    returncode, stdout, stderr = json.loads(record.read_text())
    assert returncode == 0, stderr[-3000:]
    return command, subprocess.CompletedProcess(command, returncode, stdout, stderr), folder / "audit.parquet"
