"""SLN-MO-LC against plain cross-entropy on real CIFAR-10 at CPU scale.

The protocol of the SLNCleaner issue: the first 10,000 training images of CIFAR-10
(--data-dir, default $LABELCLEAN_DATA/cifar10) with the paper's sym0.4 noisy labels, the 10,000 clean test
images, the CPU default model and budget.

  --split val   trains on the first 9,000 and scores the last 1,000 *noisy* labels
                (how the settings were chosen: never on the test set);
  --split test  trains on all 10,000 and scores the clean test set and the flagged
                set against the true flips.

Example (the README's numbers):

  python benchmarks/cifar10_cpu.py --split test --method ce sln-mo-lc --out results.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from labelclean import SLNCleaner
from labelclean.bench.data import data_dir
from labelclean.data import load_data
from labelclean.metrics import PLAIN_CE, detection_scores
from labelclean.training import Callback


class EpochEval(Callback):
    """Accuracy of the momentum model on held-out sets after every epoch."""

    def __init__(self, sets: dict[str, tuple[torch.Tensor, torch.Tensor]]):
        self.sets = sets

    def on_epoch_end(self, trainer, record):
        for name, (inputs, labels) in self.sets.items():
            predicted = trainer.predict_logits(inputs).argmax(1).cpu()
            record[f"val_{name}"] = (predicted == labels).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=data_dir("cifar10"))
    parser.add_argument("--noise", default="sym0.4")
    parser.add_argument("--split", choices=["val", "test"], default="test")
    parser.add_argument("--method", nargs="+", default=["ce", "sln-mo-lc"], choices=["ce", "sln-mo-lc"])
    parser.add_argument("--sigma", type=float, nargs="+", default=[None])
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--n", type=int, default=10_000, help="first N training images")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="append results (JSON lines)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import datasets

    files = {
        "train": str(args.data_dir / "train.parquet"),
        "test": str(args.data_dir / "test.parquet"),
    }
    raw = datasets.load_dataset("parquet", data_files=files)
    noise = pd.read_csv(args.data_dir / "noise" / f"{args.noise}.csv").iloc[: args.n]
    train = raw["train"].select(range(args.n))
    n_fit = args.n - 1000 if args.split == "val" else args.n
    noisy, true = noise["label_noisy"].to_numpy(), noise["label"].to_numpy()
    if args.split == "val":
        held = load_data(train.select(range(n_fit, args.n)))
        eval_sets = {"noisy": (held.inputs, torch.tensor(noisy[n_fit:]))}
    else:
        test = load_data(raw["test"])
        eval_sets = {"test": (test.inputs, torch.from_numpy(test.labels))}
    fit_set = train.select(range(n_fit))

    for method in args.method:
        for sigma in args.sigma if method == "sln-mo-lc" else [0.0]:
            params = {**(PLAIN_CE if method == "ce" else {}), "precision": args.precision}
            if sigma is not None and method != "ce":
                params["sigma"] = sigma
            if args.lr is not None:
                params["lr"] = args.lr
            if args.epochs is not None:
                params["epochs"] = args.epochs
            started = time.perf_counter()
            cleaner = SLNCleaner(random_state=args.seed, callbacks=[EpochEval(eval_sets)], **params)
            cleaner.fit(fit_set, noisy[:n_fit])
            audit = cleaner.audit()
            flipped = noisy[:n_fit] != true[:n_fit]
            curve = [round(r[f"val_{next(iter(eval_sets))}"], 4) for r in cleaner.history_]
            result = {
                "method": method,
                "split": args.split,
                "noise": args.noise,
                "n_train": n_fit,
                **{
                    k: v
                    for k, v in cleaner.config_.items()
                    if k in ("sigma", "lr", "momentum", "epochs", "correction_start", "model", "bf16")
                },
                "final": curve[-1],
                "peak": max(curve),
                "curve": curve,
                "flagged": int(audit["is_suspicious"].sum()),
                "truly_flipped": int(flipped.sum()),
                **detection_scores(audit["is_suspicious"].to_numpy(), flipped),
                "auroc": roc_auc_score(flipped, audit["loss"]),
                "suggested_right_on_flipped": float(
                    (audit["suggested_label"].to_numpy()[flipped] == true[:n_fit][flipped]).mean()
                ),
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(json.dumps({k: v for k, v in result.items() if k != "curve"}), flush=True)
            if args.out:
                with args.out.open("a") as fh:
                    fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
