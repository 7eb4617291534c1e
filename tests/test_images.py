"""Images are decoded at the network's size: draft-mode JPEGs, shorter-side resize, centre crop."""

import io

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
    # At an exact size (predict, streaming), the same resize, then the stretch training gives a minority size.
    exact = auto.exactly((8, 12))
    assert exact == Resize(crop=(32, 32), shorter=32, only_larger=True, final=(8, 12))
    odd = tmp_path / "odd.png"
    Image.fromarray(np.arange(6 * 6 * 3, dtype=np.uint8).reshape(6, 6, 3)).save(odd)
    stretched = np.asarray(Image.open(odd).convert("RGB").resize((12, 8), Image.BILINEAR))
    assert np.array_equal(decode_image(str(odd), lambda: odd, exact), stretched)


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


def test_sixteen_bit_greyscale_png_keeps_its_contrast(tmp_path):
    path = tmp_path / "deep.png"
    pixels = np.full((6, 8), 200 * 257, np.uint16)
    pixels[:, :4] = 30 * 257
    Image.fromarray(pixels).save(path)
    assert Image.open(path).mode == "I;16"
    out = decode_image(str(path), lambda: path)
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8
    assert (out[:, :4] == 30).all() and (out[:, 4:] == 200).all()


def _turned_photo(path, orientation=6, size_wh=(400, 200)):
    """A photo stored landscape, left half white, whose EXIF says: shown turned 90 degrees clockwise."""
    pixels = np.full((size_wh[1], size_wh[0], 3), 20, np.uint8)
    pixels[:, : size_wh[0] // 2] = 235
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(path, exif=exif, quality=95)
    return path


def test_exif_orientation_turns_a_phone_photo_upright_in_memory_and_streamed(tmp_path):
    from labelclean.data import load_data

    (tmp_path / "class_a").mkdir()
    path = _turned_photo(tmp_path / "class_a" / "photo.jpg")
    full = decode_image(str(path), lambda: path)
    assert full.shape == (400, 200, 3)  # shown portrait: the stored left half is now on top
    assert full[:190].mean() > 220 and full[210:].mean() < 40
    resize = Resize(crop=(32, 32), shorter=32)
    small = decode_image(str(path), lambda: path, resize)  # decoded in draft mode, then turned
    assert small.shape == (32, 32, 3) and small[:14].mean() > 200 and small[18:].mean() < 60
    in_memory = load_data(tmp_path, image_size=resize)
    streamed = load_data(tmp_path, image_size=resize, memory_limit=1)
    assert torch.equal(in_memory.inputs[0], torch.from_numpy(small.copy()).permute(2, 0, 1))
    assert torch.equal(streamed.inputs[torch.tensor([0])][0], in_memory.inputs[0])


def test_a_very_elongated_image_is_refused_by_name_before_it_is_resized(tmp_path):
    strip = tmp_path / "strip.png"
    Image.fromarray(np.full((1, 300, 3), 80, np.uint8)).save(strip)  # 300:1
    backbone_resize = Resize(crop=(224, 224), shorter=256)  # would make it 256 x 76800 before the crop
    message = r"image .*strip\.png is 1 x 300 pixels \(aspect ratio 300:1\): .* 256 x 76800 .*crop the image"
    with pytest.raises(BadImageError, match=message):
        decode_image(str(strip), lambda: strip, backbone_resize)
    # Kept at its size, or squashed to an exact size, it costs nothing: accepted.
    assert decode_image(str(strip), lambda: strip, Resize(crop=(32, 32))).shape == (32, 32, 3)
    with pytest.raises(BadImageError, match=r"in the array \(shape \(2, 3, 1, 300\)\) is 1 x 300"):
        resize_images(torch.zeros(2, 3, 1, 300, dtype=torch.uint8), backbone_resize)


@pytest.mark.parametrize("memory_limit", [None, 1], ids=["in memory", "streamed"])
def test_a_very_elongated_image_in_a_folder_is_skipped_and_recorded(tmp_path, memory_limit):
    from labelclean.data import load_data

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.full((300, 400, 3), 90, np.uint8)).save(tmp_path / name / "photo.png")
    Image.fromarray(np.full((1, 300, 3), 80, np.uint8)).save(tmp_path / "a" / "strip.png")
    options = dict(image_size=Resize(crop=(224, 224), shorter=256), memory_limit=memory_limit)
    with pytest.raises(BadImageError, match=r"strip\.png is 1 x 300 pixels"):
        load_data(tmp_path, **options)
    data = load_data(tmp_path, on_bad_image="skip", **options)
    assert len(data) == 2 and data.inputs.shape[1:] == (3, 224, 224)
    ((source, reason),) = data.skipped
    assert source == str(tmp_path / "a" / "strip.png") and "aspect ratio 300:1" in reason


def test_exif_orientation_reaches_backbone_embeddings_and_audit_thumbnails(tmp_path):
    import datasets

    from labelclean import SLNCleaner
    from labelclean.backbones import Backbone

    # The same photos twice: stored turned with an EXIF orientation, and stored upright.
    rng = np.random.default_rng(0)
    for i in range(12):
        shown = rng.integers(0, 60, (24, 16, 3)).astype(np.uint8)
        shown[:12] += np.uint8(150 if i % 2 else 0)  # class b: bright on top, as shown
        label = "ab"[i % 2]
        for root in ("turned", "upright"):
            (tmp_path / root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(shown).save(tmp_path / "upright" / label / f"{i}.png")
        stored = Image.fromarray(np.rot90(shown, k=1))  # orientation 6: shown turned 90 degrees clockwise
        exif = stored.getexif()
        exif[0x0112] = 6
        stored.save(tmp_path / "turned" / label / f"{i}.png", exif=exif)
    pool = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d((2, 2)), torch.nn.Flatten())
    backbone = Backbone(pool, crop_size=16, resize_size=16, mean=(0.5,) * 3, std=(0.25,) * 3)
    params = dict(model=backbone, finetune="head", cache_dir=None, sigma=1.0, epochs=2, random_state=0)
    turned = SLNCleaner(**params).fit(tmp_path / "turned").audit()
    upright = SLNCleaner(**params).fit(tmp_path / "upright").audit()
    np.testing.assert_allclose(turned["loss"], upright["loss"], atol=1e-6)

    # Photos without a file (a dataset's bytes) are shown in the audit upright too.
    photo = _turned_photo(tmp_path / "photo.jpg", size_wh=(40, 20)).read_bytes()
    jpegs = [{"bytes": photo, "path": None}] * 8
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    dataset = datasets.Dataset.from_dict(
        {"image": jpegs, "label": [i % 2 for i in range(8)]}, features=features
    )
    cleaner = SLNCleaner(epochs=1, random_state=0).fit(dataset)
    thumbnail = np.asarray(Image.open(io.BytesIO(cleaner.audit()["image"][0])))
    assert thumbnail.shape == (40, 20, 3) and thumbnail[:18].mean() > 200 and thumbnail[22:].mean() < 60
