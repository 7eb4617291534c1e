"""Images too large for memory stay on disk and train to the same result as in memory."""

import numpy as np
import pandas as pd
import torch
from PIL import Image

from labelclean import SLNCleaner
from labelclean.images import Resize
from labelclean.streaming import ImageFiles, prefetch


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
