"""Command line: ``labelclean demo`` and ``labelclean review`` (also ``python -m labelclean ...``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# The review app lives in the checkout beside the package (app/main.py), not in the package.
REVIEW_APP = Path(__file__).resolve().parents[1] / "app" / "main.py"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labelclean", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="find flipped labels in scikit-learn's digits, end to end on the CPU",
    )
    demo.add_argument("--out", default="audit.parquet", help="where to write the audit")
    demo.add_argument("--noise", type=float, default=0.2, help="share of labels to flip")
    demo.add_argument("--seed", type=int, default=0, help="seed for the split, flips, training")
    demo.add_argument("--verbose", action="store_true", help="show progress bars")
    add_review_arguments(
        commands.add_parser("review", help="open the review app on an audit, served to this computer only")
    )
    args = parser.parse_args(argv)
    if args.command == "review":
        return run_review(args)
    if args.command == "demo":
        from .demo import run_demo

        run_demo(args.out, noise=args.noise, seed=args.seed, verbose=args.verbose)
    return 0


def add_review_arguments(review: argparse.ArgumentParser) -> None:
    review.add_argument("audit", nargs="?", help="the audit to open (default: pick one in the app)")
    review.add_argument(
        "--root", help="the folder image files may be served from (default: their common folder)"
    )
    review.add_argument(
        "--audit-dir", help="the folder whose audits the app may open (default: the audit's folder)"
    )
    review.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to serve on (default 127.0.0.1: this computer only; any other serves everyone "
        "who can reach it, with no login: see the README)",
    )
    review.add_argument("--port", type=int, default=8501)
    review.add_argument("--no-browser", action="store_true", help="do not open a browser tab")


def review_command(args: argparse.Namespace) -> list[str]:
    """``streamlit run app/main.py`` bound to ``--host``, usage statistics and Deploy button off."""
    command = [sys.executable, "-m", "streamlit", "run", str(REVIEW_APP)]
    command += ["--server.address", args.host, "--server.port", str(args.port)]
    command += ["--server.headless", "true" if args.no_browser else "false"]
    command += ["--server.showEmailPrompt", "false", "--browser.gatherUsageStats", "false"]
    command += ["--client.toolbarMode", "minimal", "--"]
    for name in ("audit", "root", "audit_dir"):
        value = getattr(args, name)
        if value is not None:
            command += [f"--{name.replace('_', '-')}", str(Path(value).expanduser().absolute())]
    return command


def run_review(args: argparse.Namespace) -> int:
    """Replace this process with the Streamlit server (Ctrl+C stops it)."""
    if not REVIEW_APP.is_file():
        print(
            f"error: the review app is not at {REVIEW_APP}: it comes with a labelclean checkout "
            "(git clone), not with the installed package",
            file=sys.stderr,
        )
        return 2
    if args.audit is not None and not Path(args.audit).expanduser().is_file():
        print(
            f"error: no audit file at {args.audit} (write one with cleaner.save_audit(path))", file=sys.stderr
        )
        return 2
    command = review_command(args)
    sys.stdout.flush()
    os.execv(command[0], command)
    return 0  # not reached
