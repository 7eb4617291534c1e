"""Pretrained backbones: torchvision's registry with local weights, head and full training, the embedding cache."""

import io
import os
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import torchvision
from PIL import Image

from labelclean import SLNCleaner
from labelclean.backbones import Backbone, torchvision_backbone

NAMES = ("airplane", "automobile", "bird")
ARCH = "mobilenet_v3_small"  # the smallest torchvision classifier: seconds on a CPU


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A state dict as a practitioner would download it (here: seeded random weights, written locally)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / f"{ARCH}.pth"
    torch.save(torchvision.models.get_model(ARCH, weights=None).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory, shared_data):
    """Real CIFAR-10 images of three classes saved as 640 x 480 JPEG photos, one folder per class."""
    root = tmp_path_factory.mktemp("photos")
    table = pq.read_table(shared_data("cifar10", "train.parquet")).slice(0, 80).to_pydict()
    for i, (image, label) in enumerate(zip(table["img"], table["label"], strict=True)):
        if label < len(NAMES):
            folder = root / NAMES[label]
            folder.mkdir(exist_ok=True)
            picture = Image.open(io.BytesIO(image["bytes"])).convert("RGB").resize((640, 480), Image.BICUBIC)
            picture.save(folder / f"{i:03d}.jpg", quality=90)
    return root


def test_local_weights_load_into_torchvision_architecture(weights_file):
    backbone = torchvision_backbone(ARCH, weights=str(weights_file))
    saved = torch.load(weights_file, weights_only=True)
    state = backbone.module.state_dict()
    assert torch.equal(state["features.0.0.weight"], saved["features.0.0.weight"])
    assert backbone.num_features == 1024  # the classifier's last layer is removed, its hidden layer stays
    # Preprocessing comes from torchvision's weights metadata, not from a table of ours.
    assert (backbone.crop_size, backbone.resize_size) == (224, 256)
    assert backbone.mean == pytest.approx((0.485, 0.456, 0.406))


def test_a_file_for_another_architecture_is_refused_by_name(weights_file):
    with pytest.raises(ValueError, match=rf"{weights_file.name} does not fit torchvision's resnet18"):
        torchvision_backbone("resnet18", weights=str(weights_file))


def test_default_weights_come_through_torchvision_cache(weights_file, tmp_path, monkeypatch):
    """The real download path: torchvision finds the file in its cache (TORCH_HOME) and downloads nothing."""
    url = torchvision.models.get_model_weights(ARCH).DEFAULT.url
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / url.rsplit("/", 1)[-1]).write_bytes(weights_file.read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    backbone = torchvision_backbone(ARCH, weights="DEFAULT")
    assert backbone.weights.endswith("IMAGENET1K_V1")
    saved = torch.load(weights_file, weights_only=True)
    assert torch.equal(backbone.module.state_dict()["features.0.0.weight"], saved["features.0.0.weight"])


def test_offline_download_says_how_to_pass_a_local_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(
        RuntimeError, match=r"could not download .* pass weights='/path/to/mobilenet_v3_small-"
    ):
        torchvision_backbone(ARCH, weights="DEFAULT")


def test_head_mode_caches_embeddings_and_re_embeds_only_a_changed_file(photos, weights_file, tmp_path):
    cache = tmp_path / "cache"
    params = dict(model=ARCH, weights=str(weights_file), finetune="head", cache_dir=cache, random_state=0)
    first = SLNCleaner(epochs=2, **params).fit(photos)
    assert first.finetune_ == "head" and first.config_["recipe"] == "features"
    assert first.input_shape_ == (3, 224, 224)
    shards = sorted(cache.rglob("shard-*.npz"))
    assert len(shards) == 1 and len(np.load(shards[0])["keys"]) == len(first.audit())

    # Another fit with other parameters embeds nothing again ...
    SLNCleaner(epochs=3, **params).fit(photos)
    assert len(list(cache.rglob("shard-*.npz"))) == 1

    # ... and a changed photo is embedded again, alone.
    changed = sorted(photos.rglob("*.jpg"))[0]
    Image.open(changed).transpose(Image.FLIP_LEFT_RIGHT).save(changed, quality=90)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    SLNCleaner(epochs=2, **params).fit(photos)
    new = set(cache.rglob("shard-*.npz")) - set(shards)
    assert len(new) == 1 and len(np.load(new.pop())["keys"]) == 1

    # predict runs the frozen backbone then the head; a saved cleaner predicts the same.
    probs = first.predict_proba(photos)
    assert probs.shape == (len(first.audit()), len(NAMES))
    first.save(tmp_path / "saved")
    assert np.allclose(SLNCleaner.load(tmp_path / "saved").predict_proba(photos), probs, atol=1e-5)


def test_full_fine_tuning_trains_the_whole_backbone(photos, weights_file, tmp_path):
    cleaner = SLNCleaner(
        model=ARCH, weights=str(weights_file), finetune="full", epochs=1, batch_size=16, random_state=0
    ).fit(photos)
    assert cleaner.finetune_ == "full" and cleaner.config_["recipe"] == "finetune"
    assert cleaner.config_["resized_crop"] and tuple(cleaner.config_["lr_drops"]) == (5,)
    initial = torch.load(weights_file, weights_only=True)["features.0.0.weight"]
    trained = cleaner.model_.state_dict()["1.0.features.0.0.weight"]
    assert not torch.equal(initial, trained)  # the backbone itself moved
    cleaner.save(tmp_path / "full")
    restored = SLNCleaner.load(tmp_path / "full")
    assert np.allclose(restored.predict_proba(photos), cleaner.predict_proba(photos), atol=1e-5)


def test_any_module_with_its_preprocessing_is_a_backbone(photos, tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 5, stride=4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
    )
    backbone = Backbone(net, crop_size=64, resize_size=72, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    cleaner = SLNCleaner(model=backbone, finetune="head", cache_dir=None, epochs=2, random_state=0).fit(
        photos
    )
    assert cleaner.input_shape_ == (3, 64, 64) and cleaner.backbone_["num_features"] == 16
    cleaner.save(tmp_path / "custom")
    with pytest.raises(ValueError, match="custom Backbone"):
        SLNCleaner.load(tmp_path / "custom")
    restored = SLNCleaner.load(tmp_path / "custom", model=backbone)
    assert np.allclose(restored.predict_proba(photos), cleaner.predict_proba(photos), atol=1e-5)


# --- what a backbone must be, and what a weights file must hold --------------------------


class _Tuple(torch.nn.Module):
    def forward(self, x):
        return x.mean((2, 3)), None


class _BatchMean(torch.nn.Module):  # one row, whatever the batch
    def forward(self, x):
        return x.mean((0, 2, 3))[None]


class _MixesBatch(torch.nn.Module):  # one row per image, each the mean of the batch
    def forward(self, x):
        return x.mean((0, 2, 3)).expand(len(x), -1)


class _Constant(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), 4)


_POOL = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())


@pytest.mark.parametrize(
    ("module", "num_features", "message"),
    [
        (_Tuple(), 0, r"must return one tensor \(N, features\); this one returned a tuple"),
        (_POOL, 10, r"Backbone\(num_features=10\), but its module returns 3 features per image"),
        (_BatchMean(), 0, r"one row per image; this one returned shape \(1, 3\) for a batch of 2 images"),
        (_MixesBatch(), 0, r"embed each image on its own; .* \(it mixes the samples of a batch\)"),
        (_Constant(), 0, r"returns the same features for two different images"),
    ],
    ids=["tuple", "wrong width", "one row per batch", "mixes the batch", "constant"],
)
def test_a_backbone_that_does_not_embed_each_image_is_refused(module, num_features, message):
    with pytest.raises(ValueError, match=message):
        Backbone(module, crop_size=16, resize_size=16, num_features=num_features)


def _damage_weights(kind, path, weights_file):
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "truncated":
        path.write_bytes(weights_file.read_bytes()[: weights_file.stat().st_size // 2])
    elif kind == "a pickled model":
        torch.save(torch.nn.Linear(2, 2), path)
    elif kind == "a bare tensor":
        torch.save(torch.zeros(3), path)
    else:  # another model's tensors under the same names
        state = torch.load(weights_file, weights_only=True)
        state["features.0.0.weight"] = torch.zeros(16, 3, 5, 5)
        torch.save(state, path)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", r"is empty \(0 bytes\)"),
        ("random bytes", r"is not a PyTorch weights file, or it is damaged"),
        ("truncated", r"cannot be read \(PytorchStreamReader failed .*\): it is truncated or damaged"),
        (
            "a pickled model",
            r"holds a pickled torch\.nn\.modules\.linear\.Linear object .* torch\.save\(model\.state",
        ),
        ("a bare tensor", r"holds a Tensor, not a state dict"),
        (
            "reshaped",
            r"1 tensors have other shapes \(first: features\.0\.0\.weight is \[16, 3, 5, 5\] in the file",
        ),
    ],
)
def test_a_weights_file_that_is_not_the_models_state_dict_is_named(weights_file, tmp_path, kind, message):
    path = tmp_path / "downloaded.pth"
    _damage_weights(kind, path, weights_file)
    with pytest.raises((ValueError, RuntimeError)) as caught:
        torchvision_backbone(ARCH, weights=str(path))
    assert caught.type is ValueError and str(path) in str(caught.value)
    assert re.search(message, str(caught.value)), str(caught.value)
    # torch's own message (which suggests weights_only=False) is not shown, not even as the cause
    assert "weights_only" not in str(caught.value)
    assert caught.value.__context__ is None or caught.value.__suppress_context__


# --- the embedding cache -----------------------------------------------------------------


@pytest.fixture
def small_photos(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(12):
        folder = tmp_path / "photos" / "ab"[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 150, (32, 32, 3)) + 100 * (i % 2) * (np.arange(32)[:, None, None] < 16)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i:02d}.png")
    return tmp_path / "photos"


def _head_fit(photos, module, cache_dir, **params):
    backbone = Backbone(module, crop_size=32, resize_size=32, name="custom")
    return SLNCleaner(model=backbone, cache_dir=cache_dir, sigma=1.0, epochs=2, random_state=0, **params).fit(
        photos
    )


def test_the_cache_key_covers_the_architecture_and_how_images_are_sized(small_photos, tmp_path):
    cache = tmp_path / "cache"
    average = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    maximum = torch.nn.Sequential(torch.nn.AdaptiveMaxPool2d(2), torch.nn.Flatten())
    _head_fit(small_photos, average, cache)
    # Another network without parameters, under the same name: its own embeddings.
    cached = _head_fit(small_photos, maximum, cache).audit()
    pd.testing.assert_frame_equal(cached, _head_fit(small_photos, maximum, None).audit())
    # The same network on images decoded at another size: embedded again.
    cached = _head_fit(small_photos, average, cache, image_size=(8, 8)).audit()
    pd.testing.assert_frame_equal(cached, _head_fit(small_photos, average, None, image_size=(8, 8)).audit())
    assert len(list(cache.rglob("shard-*.npz"))) == 3

    # A module class edited and run again (a notebook cell) keeps its name and repr: its code tells.
    def features(reduce):
        namespace = {"__name__": "__main__", "torch": torch}
        exec(
            f"class Features(torch.nn.Module):\n def forward(self, x):\n  return x.{reduce}((2, 3))",
            namespace,
        )
        return Backbone(namespace["Features"](), crop_size=32, resize_size=32)

    assert features("mean").fingerprint() == features("mean").fingerprint()
    assert features("mean").fingerprint() != features("amax").fingerprint()


def _damage_shard(kind, shard):
    if kind == "garbage":
        shard.write_bytes(b"not an npz at all")
    elif kind == "truncated":
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    else:
        stored = dict(np.load(shard))
        width = stored["embeddings"].shape[1]
        stored["embeddings"] = np.full((len(stored["keys"]), 7 if kind == "wrong width" else width), np.nan)
        with open(shard, "wb") as file:
            np.savez(file, **stored)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "NaN", "wrong width"])
def test_a_damaged_cache_shard_is_named_removed_and_embedded_again(small_photos, tmp_path, kind):
    cache = tmp_path / "cache"
    first = _head_fit(small_photos, _POOL, cache).audit()
    (shard,) = cache.rglob("shard-*.npz")
    _damage_shard(kind, shard)
    with pytest.warns(UserWarning, match=rf"embedding cache shard {re.escape(str(shard))} is damaged"):
        again = _head_fit(small_photos, _POOL, cache).audit()
    pd.testing.assert_frame_equal(again, first)
    (rewritten,) = cache.rglob("shard-*.npz")
    assert rewritten != shard and len(np.load(rewritten)["keys"]) == len(first)


def test_a_cache_dir_that_cannot_be_written_is_said_before_embedding(small_photos, tmp_path):
    not_a_folder = tmp_path / "cache.txt"
    not_a_folder.write_text("a file, not a folder")
    with pytest.warns(
        UserWarning, match=rf"cannot write the embedding cache in {re.escape(str(not_a_folder))}"
    ):
        cleaner = _head_fit(small_photos, _POOL, not_a_folder)
    pd.testing.assert_frame_equal(cleaner.audit(), _head_fit(small_photos, _POOL, None).audit())
