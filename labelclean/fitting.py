"""Training as the plan says: a fresh network for each training run, and sigma chosen first where the
plan has candidates.

Each run's network is initialised from the run's seed (without touching the global random
state) and normalises its inputs with statistics of that run's own training inputs. With a
frozen backbone, every image is embedded once (and cached) before any of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .backbones import Backbone
from .data import LoadedData
from .embeddings import EmbeddingCache, embed_images, sample_keys
from .models import build_network
from .recipes import Plan
from .selection import SigmaSearch, choose_sigma
from .training import Callback, Trainer, predict_proba

__all__ = ["TrainingRuns", "embed_once"]


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

    def choose_sigma(self, inputs: torch.Tensor, labels: np.ndarray) -> tuple[float, SigmaSearch | None]:
        """The plan's sigma, or the candidate that best predicts held-out noisy ``labels`` (with the search)."""
        if not isinstance(self.plan.sigma, tuple):
            return self.plan.sigma, None

        def fit_predict(sigma: float, train_rows: np.ndarray, held_rows: np.ndarray) -> np.ndarray:
            subset = torch.from_numpy(train_rows)
            trainer = self.trainer(inputs[subset], sigma)
            trainer.fit(inputs[subset], torch.from_numpy(labels[train_rows]), self.num_classes)
            held = inputs[torch.from_numpy(held_rows)]
            return predict_proba(trainer.momentum_model, held, trainer.device, trainer.config.bf16)

        search = choose_sigma(fit_predict, labels, self.plan.sigma, seed=self.seed % 2**31)
        return search.chosen, search

    def train(
        self,
        inputs: torch.Tensor,
        encoded: np.ndarray,
        decisions: np.ndarray,
        callbacks: Sequence[Callback] = (),
        checkpoint_dir: str | Path | None = None,
    ) -> tuple[Trainer, SigmaSearch | None, np.ndarray]:
        """The final run, after the sigma search where the plan has candidates: its trainer, the
        search, and the rows it trained on.

        ``encoded``: each sample's label index; ``decisions``: a reviewer's per sample (None where
        not reviewed). Reviewed labels are fixed targets; samples that fit no class ("none") teach
        nothing about any class, so they are left out of training (and only scored).
        """
        train_rows = np.flatnonzero(decisions != "none")
        train_inputs = inputs if len(train_rows) == len(inputs) else inputs[torch.from_numpy(train_rows)]
        train_labels = encoded[train_rows]
        sigma, search = self.choose_sigma(train_inputs, train_labels)
        trainer = self.trainer(train_inputs, sigma, callbacks, checkpoint_dir)
        fixed = torch.from_numpy(pd.notna(decisions[train_rows]))
        trainer.fit(train_inputs, torch.from_numpy(train_labels), self.num_classes, fixed=fixed)
        return trainer, search, train_rows


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
