"""Training as the plan says: held-out probabilities of every sample first (cross-fitting, with sigma
chosen on the first fold where the plan has candidates), then the final network on every sample.

Each run's network is initialised from the run's seed (without touching the global random
state) and normalises its inputs with statistics of that run's own training inputs. With a
frozen backbone, every image is embedded once (and cached) before any of it. With a
checkpoint folder, every run keeps its own checkpoint in it, so a stopped fit resumes where
it stopped, in whichever run that was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .audit import calibrated_audit
from .backbones import Backbone
from .data import LoadedData
from .embeddings import EmbeddingCache, embed_images, sample_keys
from .models import build_network
from .recipes import Plan
from .selection import CrossFit, cross_fit
from .training import Callback, ProgressBar, Trainer, predict_proba

__all__ = ["Fitted", "TrainingRuns", "embed_once"]


@dataclass(frozen=True)
class Fitted:
    """What one fit learned: the momentum model (with a frozen backbone in front where there is one),
    the final run's history and settings, the sigma search, the noise rate and the audit."""

    model: nn.Module = field(repr=False)
    history: list[dict[str, Any]] = field(repr=False)
    config: dict[str, Any]
    sigma_search: dict[str, Any] | None
    noise_rate: dict[str, float]
    noise_rate_by_label: dict[Any, float]
    audit: pd.DataFrame = field(repr=False)


@dataclass(frozen=True)
class TrainingRuns:
    """What every training run of one fit shares: the plan, the classes, the seed, the network's source.

    ``module``: the user's network (copied for each run) where the plan's network is "module";
    ``backbone``: the pretrained backbone where it is "backbone".
    """

    plan: Plan
    num_classes: int
    seed: int
    module: nn.Module | None = None
    backbone: Backbone | None = None

    def trainer(
        self,
        inputs: torch.Tensor,
        sigma: float,
        callbacks: Sequence[Callback] = (),
        checkpoint_dir: str | Path | None = None,
    ) -> Trainer:
        """A fresh network and Trainer for ``inputs``, trained with ``sigma``."""
        with torch.random.fork_rng(devices=[]):  # seed the init without touching the global RNG
            torch.manual_seed(self.seed)
            network = build_network(
                self.plan.network, self.num_classes, inputs, module=self.module, backbone=self.backbone
            )
        return Trainer(
            network,
            self.plan.training_config(len(inputs), tuple(inputs.shape[1:]), sigma),
            device=torch.device(self.plan.device),
            seed=self.seed,
            callbacks=list(callbacks),
            checkpoint_dir=checkpoint_dir,
        )

    def cross_fit(
        self,
        inputs: torch.Tensor,
        labels: np.ndarray,
        fixed: np.ndarray,
        verbose: bool = False,
        checkpoint_dir: str | Path | None = None,
    ) -> CrossFit:
        """Every sample's probabilities from a network that did not train on it (see
        :func:`labelclean.selection.cross_fit`); sigma chosen on the first fold where the plan
        has candidates. ``fixed``: samples whose label is final (a reviewer's)."""
        folds, repeats = self.plan.folds, self.plan.repeats

        def fit_predict(sigma: float, train_rows: np.ndarray, held_rows: np.ndarray, run: int) -> np.ndarray:
            subset = torch.from_numpy(train_rows)
            split = f"split {run // folds + 1} of {repeats}, " if repeats > 1 else ""
            name = f"{split}fold {run % folds + 1} of {folds}, sigma {sigma:g}"
            run_dir = None if checkpoint_dir is None else Path(checkpoint_dir) / f"fold{run}-sigma{sigma:g}"
            bar = [ProgressBar(name)] if verbose else []
            trainer = self.trainer(inputs[subset], sigma, bar, run_dir)
            trainer.fit(
                inputs[subset],
                torch.from_numpy(labels[train_rows]),
                self.num_classes,
                fixed=torch.from_numpy(fixed[train_rows]),
            )
            held = inputs[torch.from_numpy(held_rows)]
            return predict_proba(trainer.momentum_model, held, trainer.device, trainer.config.bf16)

        return cross_fit(
            fit_predict,
            labels,
            self.num_classes,
            folds=folds,
            sigma=self.plan.sigma,
            seed=self.seed % 2**31,
            repeats=repeats,
        )

    def train(
        self,
        inputs: torch.Tensor,
        encoded: np.ndarray,
        decisions: np.ndarray,
        callbacks: Sequence[Callback] = (),
        checkpoint_dir: str | Path | None = None,
        verbose: bool = False,
    ) -> tuple[Trainer, CrossFit, np.ndarray]:
        """The cross-fitting runs, then the final run with the sigma they chose: the final
        trainer, the cross-fit (held-out probabilities of the rows trained on), and those rows.

        ``encoded``: each sample's label index; ``decisions``: a reviewer's per sample (None where
        not reviewed). Reviewed labels are fixed targets; samples that fit no class ("none") teach
        nothing about any class, so they are left out of training (and only scored).
        """
        train_rows = np.flatnonzero(decisions != "none")
        if len(train_rows) < 3:  # every sample is judged by a network trained on at least 2 others
            left_out = len(encoded) - len(train_rows)
            why = f" (the reviewer decided that {left_out} fit no class)" if left_out else ""
            raise ValueError(
                f"SLNCleaner needs at least 3 samples to train on, so that each sample's label can be "
                f"judged by networks trained on the others; {len(train_rows)} of {len(encoded)} are left{why}"
            )
        train_inputs = inputs if len(train_rows) == len(inputs) else inputs[torch.from_numpy(train_rows)]
        train_labels = encoded[train_rows]
        fixed = pd.notna(decisions[train_rows])
        held = self.cross_fit(train_inputs, train_labels, fixed, verbose, checkpoint_dir)
        bar = [ProgressBar("final network")] if verbose else []
        trainer = self.trainer(train_inputs, held.sigma, [*callbacks, *bar], checkpoint_dir)
        trainer.fit(
            train_inputs, torch.from_numpy(train_labels), self.num_classes, fixed=torch.from_numpy(fixed)
        )
        return trainer, held, train_rows

    def train_and_audit(
        self,
        data: LoadedData,
        encoded: np.ndarray,
        decisions: np.ndarray,
        classes: np.ndarray,
        callbacks: Sequence[Callback] = (),
        checkpoint_dir: str | Path | None = None,
        verbose: bool = False,
        original: np.ndarray | None = None,
    ) -> Fitted:
        """Embed (with a frozen backbone), cross-fit, train the final network, and audit every
        sample. ``original``: the labels before the review in ``decisions`` (default ``encoded``)."""
        plan = self.plan
        inputs = embed_once(plan, self.backbone, data, verbose) if plan.finetune == "head" else data.inputs
        trainer, held, train_rows = self.train(inputs, encoded, decisions, callbacks, checkpoint_dir, verbose)
        head = trainer.momentum_model.eval()
        probs = predict_proba(head, inputs, trainer.device, trainer.config.bf16)
        model = head
        if plan.finetune == "head":
            model = nn.Sequential(self.backbone.pixel_normalize(), self.backbone.module, head).eval()
        noise_rate, label_noise, audit = calibrated_audit(
            probs,
            held.held_out,
            encoded,
            classes,
            data.sources,
            train_rows=train_rows,
            folds=held.fold,
            sample_ids=data.rows,
            reviewed=decisions,
            original=original,
            thumbnails=data.inputs if data.is_image and not data.has_files else None,
            seed=self.seed % 2**31,
        )
        return Fitted(
            model=model,
            history=trainer.history,
            config={**trainer.config.to_dict(), "model": plan.model, "recipe": plan.recipe},
            sigma_search=None if held.search is None else held.search.to_dict(),
            noise_rate=noise_rate,
            noise_rate_by_label=dict(zip(classes.tolist(), label_noise.tolist(), strict=True)),
            audit=audit,
        )


def embed_once(plan: Plan, backbone: Backbone, data: LoadedData, verbose: bool = False) -> torch.Tensor:
    """Every image through the frozen backbone once, reusing the plan's embedding cache."""
    images = None if data.has_files else data.inputs
    keys = sample_keys(data.sources, images)
    cache = None if plan.cache_dir is None else EmbeddingCache(Path(plan.cache_dir) / backbone.fingerprint())
    network = nn.Sequential(backbone.pixel_normalize(), backbone.module)
    return embed_images(
        network,
        data.inputs,
        keys,
        width=backbone.num_features,
        cache=cache,
        device=torch.device(plan.device),
        bf16=plan.bf16,
        verbose=verbose,
    )
