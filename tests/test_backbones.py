"""Pretrained backbones: torchvision's registry with local weights, head and full training, the embedding cache."""

import io
import os

import numpy as np
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
