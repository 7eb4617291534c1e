"""Images too large for memory stay on disk and train to the same result as in memory."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from labelclean import BadImageError, SLNCleaner
from labelclean.images import Resize
from labelclean.streaming import ImageFiles, prefetch
from labelclean.training import Callback


def _folder(tmp_path, n=60):
    rng = np.random.default_rng(0)
    for i in range(n):
        label = f"class_{i % 3}"
        (tmp_path / label).mkdir(exist_ok=True)
        pixels = rng.integers(0, 80, (12, 12, 3), dtype=np.uint8) + 60 * (i % 3)
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / label / f"{i:03d}.png")
    return tmp_path


def test_disk_backed_images_give_the_same_audit_as_in_memory(tmp_path):
    root = _folder(tmp_path)
    params = dict(epochs=3, batch_size=16, random_state=0)
    in_memory = SLNCleaner(**params).fit(root)
    on_disk = SLNCleaner(**params, memory_limit_gb=1e-6).fit(root)  # 60 images > 1 KiB: stream
    pd.testing.assert_frame_equal(on_disk.audit(), in_memory.audit())
    assert np.allclose(on_disk.predict_proba(root), in_memory.predict_proba(root), atol=1e-6)


def test_image_files_index_like_a_tensor_and_prefetch_in_order(tmp_path):
    root = _folder(tmp_path, n=9)
    paths = sorted(str(p) for p in root.rglob("*.png"))
    files = ImageFiles(paths, Resize(crop=(8, 8)))
    assert files.shape == (9, 3, 8, 8) and files.ndim == 4 and len(files[2:5]) == 3
    batch = files[torch.tensor([4, 0])]
    assert batch.dtype == torch.uint8 and batch.shape == (2, 3, 8, 8)
    expected = np.array(Image.open(paths[4]).convert("RGB").resize((8, 8), Image.BILINEAR))
    assert torch.equal(batch[0], torch.from_numpy(expected).permute(2, 0, 1))
    assert torch.equal(torch.cat(list(files.split(4))), files[torch.arange(9)])
    batches = [torch.tensor([0, 1]), torch.tensor([2]), torch.tensor([8, 3])]
    fetched = list(prefetch(files, batches))
    assert [i.tolist() for i, _ in fetched] == [[0, 1], [2], [8, 3]]
    assert all(torch.equal(b, files[i]) for i, b in fetched)


def _photos(root, suffix, n=30):
    """Three classes of noisy colour-coded photos in two sizes (48x48 and 40x56), saved as JPEG or PNG."""
    rng = np.random.default_rng(1)
    for i in range(n):
        folder = root / f"class_{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        height, width = (48, 48) if i % 4 else (40, 56)
        pixels = rng.integers(0, 120, (height, width, 3)) + 60 * (i % 3)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i:03d}{suffix}", quality=95)
    return root


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_truncated_file_on_the_streamed_path_is_named_or_skipped_like_in_memory(tmp_path, suffix):
    root = _photos(tmp_path, suffix)
    bad = root / "class_1" / f"004{suffix}"  # sorted row 11 of 30
    bad.write_bytes(bad.read_bytes()[:-2000])  # opens (the header is intact), decoding fails
    params = dict(epochs=2, batch_size=16, random_state=0)
    with pytest.raises(BadImageError, match=rf"cannot read image {re.escape(str(bad))}"):
        SLNCleaner(**params, memory_limit_gb=1e-6).fit(root)
    on_disk = SLNCleaner(**params, memory_limit_gb=1e-6, on_bad_image="skip").fit(root)
    in_memory = SLNCleaner(**params, on_bad_image="skip").fit(root)
    assert [source for source, _ in on_disk.skipped_] == [str(bad)]
    assert on_disk.input_shape_ == (3, 32, 32)  # image_size="auto": 48x48 and 40x56 both come out 32x32
    pd.testing.assert_frame_equal(on_disk.audit(), in_memory.audit())
    assert len(on_disk.audit()) == 29 and 11 not in set(on_disk.audit()["sample_id"])
    with pytest.warns(UserWarning, match=re.escape(f"1 of 30 images could not be read (first: {bad})")):
        proba = on_disk.predict_proba(root)
    assert (
        proba.shape == (30, 3) and np.isnan(proba[11]).all() and not np.isnan(np.delete(proba, 11, 0)).any()
    )


def test_a_file_damaged_after_loading_is_named_when_its_batch_is_decoded(tmp_path):
    root = _photos(tmp_path, ".jpg", n=6)
    paths = sorted(str(p) for p in root.rglob("*.jpg"))
    files = ImageFiles(paths, Resize(crop=(48, 48)))
    assert files[torch.tensor([0, 5])].shape == (2, 3, 48, 48)
    Path(paths[5]).write_bytes(Path(paths[5]).read_bytes()[:-2000])
    with pytest.raises(
        BadImageError, match=rf"cannot read image {re.escape(paths[5])}: image file is truncated"
    ):
        files[torch.tensor([0, 5])]


@pytest.mark.parametrize("change", ["deleted", "written over"])
def test_a_file_changed_during_training_is_named_with_what_to_do(tmp_path, change):
    """A file deleted after the first epoch once stopped the fit with a bare FileNotFoundError."""
    (tmp_path / "images").mkdir()
    root = _folder(tmp_path / "images", n=12)
    victim = root / "class_0" / "000.png"

    class Vandal(Callback):
        def on_epoch_end(self, trainer, record):
            if change == "deleted":
                victim.unlink(missing_ok=True)
            else:
                victim.write_bytes(b"junk")

    cleaner = SLNCleaner(
        epochs=3, random_state=0, memory_limit_gb=1e-9, callbacks=[Vandal()], checkpoint_dir=tmp_path / "ck"
    )
    with pytest.raises(
        BadImageError, match=rf"{re.escape(str(victim))}.*changed, moved or deleted since; restore it"
    ):
        cleaner.fit(root)
    assert (tmp_path / "ck" / "checkpoint.pt").exists()  # the epoch trained before the change is kept


def test_images_of_a_minority_size_are_sized_alike_at_fit_predict_and_streamed(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(16):
        folder = tmp_path / f"class_{i % 2}"
        folder.mkdir(exist_ok=True)
        height, width = (40, 30) if i < 10 else (20, 20)  # most are 40 x 30; a square minority
        pixels = rng.integers(0, 100, (height, width, 3)) + 100 * (i % 2)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i:02d}.png")
    params = dict(epochs=2, batch_size=8, random_state=0)
    in_memory = SLNCleaner(**params).fit(tmp_path)
    streamed = SLNCleaner(**params, memory_limit_gb=1e-9).fit(tmp_path)
    assert in_memory.input_shape_ == streamed.input_shape_ == (3, 40, 30)
    pd.testing.assert_frame_equal(streamed.audit(), in_memory.audit())
    squares = tmp_path.parent / f"{tmp_path.name}-squares"  # the minority size alone
    for path in sorted(tmp_path.glob("class_*/*.png"))[10:]:
        (squares / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, squares / path.parent.name / path.name)
    for cleaner in (in_memory, streamed):  # predict sizes each file as training did
        proba = cleaner.predict_proba(tmp_path)
        np.testing.assert_allclose(cleaner.predict_proba(squares), proba[10:], atol=1e-6)
    np.testing.assert_allclose(streamed.predict_proba(tmp_path), in_memory.predict_proba(tmp_path), atol=1e-6)
