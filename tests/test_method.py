"""The method's pure pieces, checked against the paper's equations."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from labelclean import method
from labelclean.audit import build_audit
from labelclean.augment import random_crop, random_flip


def test_soft_cross_entropy_matches_hard_cross_entropy_on_one_hot():
    logits = torch.randn(16, 5, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(16) % 5
    onehot = F.one_hot(labels, 5).float()
    assert torch.allclose(method.soft_cross_entropy(logits, onehot), F.cross_entropy(logits, labels))


def test_sln_noise_is_fresh_per_call_and_has_the_requested_scale():
    gen = torch.Generator().manual_seed(0)
    targets = torch.zeros(20000, 10)
    first = method.stochastic_label_noise(targets, 0.7, gen)
    second = method.stochastic_label_noise(targets, 0.7, gen)
    assert not torch.equal(first, second)
    assert first.std().item() == pytest.approx(0.7, rel=0.01)
    assert first.mean().item() == pytest.approx(0.0, abs=0.01)
    assert method.stochastic_label_noise(targets, 0.0, gen) is targets


def test_proposition_2_sln_gradient_noise_covariance():
    """Cov of d loss / d logits under SLN equals sigma^2 M with the paper's M (Prop. 2)."""
    c, sigma, draws = 4, 0.8, 200_000
    gen = torch.Generator().manual_seed(1)
    f = torch.tensor([1.5, -0.3, 0.2, 0.9])
    y = F.one_hot(torch.tensor(2), c).float()
    logits = f.repeat(draws, 1).requires_grad_(True)
    targets = method.stochastic_label_noise(y.repeat(draws, 1), sigma, gen)
    # Sum (not mean) so each row's gradient is that sample's own d loss / d f.
    (-(F.log_softmax(logits, 1) * targets).sum()).backward()
    grads = logits.grad.double()
    s = f.softmax(0).double()
    expected_mean = s - y.double()
    m = c * torch.outer(s, s) - s[:, None] - s[None, :]
    m.diagonal().copy_(c * (s - 1 / c) ** 2 + (c - 1) / c)
    assert torch.allclose(grads.mean(0), expected_mean, atol=0.01)
    cov = torch.cov(grads.T)
    assert torch.allclose(cov, sigma**2 * m, atol=0.01 * sigma**2 * m.abs().max())


def test_equation_2_adds_noise_to_logit_gradients_only():
    gen = torch.Generator().manual_seed(2)
    base = torch.randn(50_000, 3)
    labels = torch.zeros(50_000, dtype=torch.long)
    clean = base.clone().requires_grad_(True)
    F.cross_entropy(clean, labels).backward()
    noisy_in = base.clone().requires_grad_(True)
    noisy = method.add_logit_gradient_noise(noisy_in, 2.0, gen)
    assert torch.equal(noisy, base)
    F.cross_entropy(noisy, labels).backward()
    diff = (noisy_in.grad - clean.grad) * base.shape[0]  # undo the mean's 1/B
    assert diff.std().item() == pytest.approx(2.0, rel=0.02)
    assert diff.mean().item() == pytest.approx(0.0, abs=0.02)


def test_equation_1_adds_spherical_noise_to_parameter_gradients():
    gen = torch.Generator().manual_seed(3)
    layer = nn.Linear(100, 100)
    for p in layer.parameters():
        p.grad = torch.zeros_like(p)
    method.add_parameter_gradient_noise(layer.parameters(), sigma=3.0, batch_size=9, generator=gen)
    assert layer.weight.grad.std().item() == pytest.approx(1.0, rel=0.03)  # 3 / sqrt(9)


def test_momentum_update_covers_parameters_and_batchnorm_statistics():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    ema = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model.train()
    model(torch.randn(32, 4) * 5 + 3)  # moves the running statistics
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    method.update_momentum_model(ema, model, 0.9)
    after, current = ema.state_dict(), model.state_dict()
    for name, value in after.items():
        if value.is_floating_point():
            expected = 0.9 * before[name] + 0.1 * current[name]
            assert torch.allclose(value, expected), name
        else:
            assert torch.equal(value, current[name]), name
    assert not torch.allclose(after["1.running_mean"], before["1.running_mean"])
    method.update_momentum_model(ema, model, 0.0)
    assert all(torch.equal(ema.state_dict()[k], v) for k, v in model.state_dict().items())


def test_momentum_for_steps_keeps_the_paper_value_for_long_runs():
    assert method.momentum_for_steps(117_000) == pytest.approx(0.999)
    assert method.momentum_for_steps(3_000) == pytest.approx(0.99)
    assert 0 <= method.momentum_for_steps(5) < method.momentum_for_steps(300)


def test_label_correction_follows_low_loss_predictions_and_keeps_high_loss_labels():
    losses = torch.tensor([0.5, 1.5, 2.5])
    weights = method.correction_weights(losses)
    assert torch.allclose(weights, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.equal(method.correction_weights(torch.ones(3)), torch.ones(3))
    given = F.one_hot(torch.tensor([0, 0, 0]), 3).float()
    probs = torch.tensor([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1]])
    targets = method.corrected_targets(given, probs, weights)
    # Small loss: follow the prediction; mid: half-half; largest loss: keep the given label.
    assert torch.allclose(targets[0], torch.tensor([0.0, 1.0, 0.0]))
    assert torch.allclose(targets[1], torch.tensor([0.5, 0.0, 0.5]))
    assert torch.allclose(targets[2], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(targets.sum(1), torch.ones(3))


def test_batch_augmentations_crop_and_flip_whole_batches():
    gen = torch.Generator().manual_seed(4)
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    cropped = random_crop(images, 2, gen)
    assert cropped.shape == images.shape
    padded = F.pad(images, (2,) * 4, mode="reflect")
    for b in range(2):  # every crop is an 8x8 window of the padded image
        windows = padded[b].unfold(1, 8, 1).unfold(2, 8, 1)  # C, 5, 5, 8, 8
        match = (windows == cropped[b][:, None, None]).flatten(3).all(-1).all(0)
        assert match.any()
    flipped = random_flip(images.repeat(50, 1, 1, 1), gen)
    was_flipped = (flipped == images.repeat(50, 1, 1, 1).flip(-1)).flatten(1).all(1)
    assert 20 < was_flipped.sum() < 80


def test_audit_ranks_flags_the_expected_count_and_corrects_only_confident_contradictions():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.05, 0.95], [0.97, 0.03]] * 50)
    labels = np.array([0, 1, 0, 0] * 50)  # rows 2, 6, ... are confidently contradicted
    classes = np.array(["cat", "dog"])
    audit = build_audit(probs, labels, classes, [f"row {i}" for i in range(200)])
    assert audit["rank"].min() == 1 and sorted(audit["rank"]) == list(range(1, 201))
    top = audit.sort_values("rank").iloc[0]
    assert top["given_label"] == "cat" and top["suggested_label"] == "dog"
    contradicted = audit.index % 4 == 2
    flagged = audit["is_suspicious"]
    assert not flagged[~contradicted].any()
    # As many flags as expected errors (40 of the 50 here), and every changed label (all 50).
    changed = audit["corrected_label"] != audit["given_label"]
    assert np.array_equal(flagged, (audit["rank"] <= round(audit["mislabel_prob"].sum())) | changed)
    assert flagged[contradicted].all()
    assert (audit["corrected_label"][contradicted] == "dog").all()
    assert (audit["corrected_label"][~contradicted] == audit["given_label"][~contradicted]).all()
    assert (audit["mislabel_prob"][contradicted] > 0.5).all()
    assert (audit["mislabel_prob"][~contradicted] < 0.5).all()
    # Two classes: the given label is wrong exactly when the other one is right.
    assert np.allclose(audit["mislabel_prob"], audit["suggested_true_prob"])
    assert np.allclose(audit["loss"], -np.log(audit["given_prob"]), atol=1e-5)
