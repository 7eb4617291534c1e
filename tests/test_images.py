"""Images are decoded at the network's size: draft-mode JPEGs, shorter-side resize, centre crop."""

import numpy as np
import pytest
import torch
from PIL import Image

from labelclean.images import BadImageError, Resize, decode_image, resize_images


def _photo(path, size_wh=(1600, 1200), quality=90):
    """A smooth RGB gradient photo (JPEG), with a marker square at its centre."""
    w, h = size_wh
    y, x = np.mgrid[0:h, 0:w]
    pixels = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    pixels[h // 2 - h // 8 : h // 2 + h // 8, w // 2 - h // 8 : w // 2 + h // 8] = (255, 255, 255)
    Image.fromarray(pixels).save(path, quality=quality)
    return path


def test_jpeg_decodes_at_reduced_scale_then_resizes_and_centre_crops(tmp_path):
    path = _photo(tmp_path / "photo.jpg")
    resize = Resize(crop=(32, 32), shorter=32)
    with Image.open(path) as image:
        resize.draft(image)
        assert image.size == (200, 150)  # 1/8 scale: still covers the 43 x 32 resize
    out = decode_image(str(path), lambda: path, resize)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert (out[14:18, 14:18] > 200).all()  # the centre marker survives the centre crop
    # The same picture decoded in full and resized by PIL agrees closely.
    with Image.open(path) as image:
        full = np.asarray(image.convert("RGB").resize((43, 32), Image.BILINEAR))[:, 5:37]
    assert np.abs(out.astype(int) - full.astype(int)).mean() < 6


def test_only_larger_keeps_small_images_and_exact_size_squashes(tmp_path):
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(small)
    auto = Resize(crop=(32, 32), shorter=32, only_larger=True)
    assert decode_image(str(small), lambda: small, auto).shape == (8, 12, 3)
    assert decode_image(str(small), lambda: small, Resize(crop=(5, 7))).shape == (5, 7, 3)
    assert auto.exactly((8, 12)) == Resize(crop=(8, 12), shorter=8)


def test_truncated_jpeg_is_named(tmp_path):
    path = _photo(tmp_path / "cut.jpg")
    path.write_bytes(path.read_bytes()[:-2000])
    with pytest.raises(BadImageError, match=r"cut\.jpg"):
        decode_image(str(path), lambda: path, Resize(crop=(32, 32), shorter=32))


def test_arrays_resize_like_files():
    images = torch.zeros(3, 3, 64, 96, dtype=torch.uint8)
    images[:, :, 24:40, 40:56] = 255
    out = resize_images(images, Resize(crop=(32, 32), shorter=32))
    assert out.shape == (3, 3, 32, 32) and out.dtype == torch.uint8
    assert out[0, 0, 16, 16] == 255 and out[0, 0, 0, 0] == 0
    same = torch.zeros(2, 1, 8, 8)
    assert resize_images(same, Resize(crop=(32, 32), shorter=32, only_larger=True)) is same
