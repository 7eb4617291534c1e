"""Write the demo's audit by running ``python -m labelclean demo`` in a child process.

A child process keeps torch out of the app's server and a crash out of its session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_demo_audit(path: Path) -> subprocess.CompletedProcess:
    """Run the demo (about 30 s on a 2-core CPU) so that it writes its audit to ``path``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "labelclean", "demo", "--out", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path.cwd(),
        check=False,
    )
