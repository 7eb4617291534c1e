"""The fault table: every fault either stops with an error naming the culprit, or is survived
and recorded, and nothing already written is lost.

| fault                                  | behaviour                                               |
|----------------------------------------|---------------------------------------------------------|
| corrupt JPEG, truncated PNG, 0-byte    | BadImageError naming the file; on_bad_image="skip":     |
|                                        | left out, listed in skipped_, the rest trains           |
| image past PIL's decompression-bomb cap | as a corrupt file; the error says how to let it through |
| a non-image file in a class folder     | ignored, listed in skipped_                             |
| a named pipe called x.png              | never opened (it would block): named, or skipped         |
| a file name that is not UTF-8          | ValueError naming it (as bytes) before any decoding      |
| grayscale / RGBA / RGB mixed           | all read as RGB                                         |
| labels out of range (ClassLabel, -1)   | ValueError naming the row and the value                 |
| NaN feature values                     | ValueError naming the row and the column                |
| full disk while writing the audit      | OSError; the previous audit is intact, no temp file     |
| kill during the app's decision write   | the previous decisions file stays whole and readable    |
"""

import errno
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from labelclean import BadImageError, SLNCleaner

ROOT = Path(__file__).resolve().parents[1]


def _png(color, mode="RGB", size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _folder(tmp_path: Path, bad_name: str | None = None, bad_bytes: bytes = b"") -> Path:
    """Two classes of 12 small images each, mixed RGB / grayscale / RGBA, plus one bad file."""
    root = tmp_path / "data"
    modes = [("RGB", (200, 30, 30)), ("L", 90), ("RGBA", (20, 200, 20, 128))]
    for label, shift in (("cat", 0), ("dog", 100)):
        (root / label).mkdir(parents=True)
        for i in range(12):
            mode, color = modes[i % 3]
            color = tuple(min(255, c + shift) for c in color) if isinstance(color, tuple) else color + shift
            (root / label / f"{i:02d}.png").write_bytes(_png(color, mode))
    if bad_name:
        (root / "dog" / bad_name).write_bytes(bad_bytes)
    return root


BAD_FILES = {
    "corrupt JPEG": ("broken.jpg", b"\xff\xd8\xff\xe0" + os.urandom(300)),
    "truncated PNG": ("cut.png", _png((1, 2, 3), size=(64, 64))[:60]),
    "zero-byte file": ("empty.png", b""),
}


@pytest.mark.parametrize("fault", BAD_FILES)
def test_unreadable_image_is_named_or_skipped_and_recorded(tmp_path, fault):
    name, data = BAD_FILES[fault]
    root = _folder(tmp_path, name, data)
    with pytest.raises(BadImageError, match=rf"cannot read image .*{name}"):
        SLNCleaner(epochs=1).fit(root)
    cleaner = SLNCleaner(epochs=1, on_bad_image="skip", random_state=0).fit(root)
    assert [Path(s).name for s, _ in cleaner.skipped_] == [name]
    assert len(cleaner.audit()) == 24 and name not in "".join(cleaner.audit()["source"])


def test_non_image_file_in_a_class_folder_is_ignored_and_recorded(tmp_path):
    root = _folder(tmp_path, "labels.csv", b"a,b\n1,2\n")
    cleaner = SLNCleaner(epochs=1, random_state=0).fit(root)
    assert cleaner.skipped_ == [(str(root / "dog" / "labels.csv"), "not an image file extension")]
    assert len(cleaner.audit()) == 24


def test_mixed_grayscale_rgba_rgb_images_train_as_rgb(tmp_path):
    cleaner = SLNCleaner(epochs=1, random_state=0).fit(_folder(tmp_path))
    assert cleaner.input_shape_ == (3, 8, 8) and cleaner.skipped_ == []


def test_labels_out_of_range_are_named():
    import datasets

    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    images = [Image.new("RGB", (8, 8), (i, i, i)) for i in range(4)]
    ds = datasets.Dataset.from_dict({"img": images, "label": [0, 1, -1, 1]}, features=features)
    with pytest.raises(
        ValueError, match=r"label -1 in row 2 of column 'label' is outside the ClassLabel's 2"
    ):
        SLNCleaner(epochs=1).fit(ds)


def test_nan_feature_values_are_named():
    df = pd.DataFrame(
        {"height": [1.0, 2.0, 3.0, 4.0], "weight": [1.0, np.nan, 2.0, 1.0], "label": list("abab")}
    )
    with pytest.raises(ValueError, match=r"non-finite value \(nan\) at row 1, column 'weight'"):
        SLNCleaner(epochs=1).fit(df)


def test_full_disk_during_audit_write_keeps_the_previous_audit(tmp_path, monkeypatch):
    X = np.random.default_rng(0).normal(size=(200, 5))
    y = (X[:, 0] > 0).astype(int)
    cleaner = SLNCleaner(epochs=2, random_state=0).fit(X, y)
    path = cleaner.save_audit(tmp_path / "audit.parquet")
    before = path.read_bytes()

    def disk_full(self, table, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full)
    with pytest.raises(OSError, match="No space left"):
        cleaner.save_audit(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["audit.parquet"]  # no temporary file left
    assert len(pd.read_parquet(path)) == 200


WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from app.decisions import DecisionStore

    store = DecisionStore(Path(sys.argv[1]), int)
    for i in range(20):
        store.record(i, "relabel", f"class_{i % 7}")

    def pause(*args):  # the next decision stops at this step of its write, and is killed there
        print("paused", flush=True)
        time.sleep(120)

    setattr(os, sys.argv[3], pause)
    store.record(20, "accept", "class_0")
    """
)


@pytest.mark.parametrize(
    "step", ["fsync", "replace"], ids=["while the new file is synced", "just before the rename"]
)
def test_kill_during_a_decision_write_keeps_every_earlier_decision(tmp_path, step):
    path = tmp_path / "audit.decisions.json"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(ROOT), step], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "paused"  # killed mid-write, not after a guessed sleep
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    decisions = json.loads(path.read_text())  # the previous file, whole
    assert sorted(map(int, decisions)) == list(range(20))
    assert all(v["decision"] == "relabel" for v in decisions.values())
    (unfinished,) = [p for p in tmp_path.iterdir() if p != path]  # the 21st stayed in its temporary file
    assert unfinished.name.startswith(".audit.decisions.json.") and unfinished.suffix == ".tmp"
    assert json.loads(unfinished.read_text())["20"]["decision"] == "accept"


@pytest.mark.parametrize("memory_limit_gb", [4.0, 1e-9], ids=["in memory", "streamed"])
def test_an_image_past_pils_decompression_bomb_limit_is_named_or_skipped(
    tmp_path, monkeypatch, memory_limit_gb
):
    root = _folder(tmp_path, "huge.png", _png((9, 9, 9), size=(40, 40)))  # 1600 pixels, the others 64
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400)  # PIL refuses images over twice its limit
    params = dict(epochs=1, random_state=0, memory_limit_gb=memory_limit_gb)
    with pytest.raises(
        BadImageError,
        match=r"cannot read image .*huge\.png: Image size \(1600 pixels\).*"
        r"if the file is trusted, raise PIL\.Image\.MAX_IMAGE_PIXELS",
    ):
        SLNCleaner(**params).fit(root)
    cleaner = SLNCleaner(**params, on_bad_image="skip").fit(root)
    assert [Path(s).name for s, _ in cleaner.skipped_] == ["huge.png"] and len(cleaner.audit()) == 24


def test_a_named_pipe_called_png_is_never_opened(tmp_path):
    """Opening a FIFO for reading waits for a writer: without the check, loading hangs for ever."""
    import threading

    from labelclean.data import load_data

    root = _folder(tmp_path)
    pipe = root / "dog" / "pipe.png"
    os.mkfifo(pipe)
    outcome = {}

    def load(**options):
        try:
            outcome["data"] = load_data(root, **options)
        except BadImageError as err:
            outcome["error"] = str(err)

    for options in ({}, {"on_bad_image": "skip"}, {"on_bad_image": "skip", "memory_limit": 1}):
        outcome.clear()
        reader = threading.Thread(target=load, kwargs=options)
        reader.start()
        reader.join(timeout=30)
        if reader.is_alive():  # blocked opening the pipe: let it through, then fail
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            reader.join()
            pytest.fail(f"load_data(**{options}) blocked opening the named pipe {pipe}")
        if not options:
            assert outcome["error"].startswith(f"cannot read image {pipe}: not a regular file")
        else:
            assert [s for s, _ in outcome["data"].skipped] == [str(pipe)] and len(outcome["data"]) == 24


def test_a_file_name_that_is_not_utf8_is_named_before_training(tmp_path):
    root = _folder(tmp_path)
    name = os.fsencode(root / "cat") + b"/latin1-\xe9.png"  # written by a Latin-1 system
    with open(name, "wb") as file:
        file.write(_png((3, 3, 3)))
    message = r"the file name b'.*/cat/latin1-\\xe9\.png' is not valid UTF-8 .* \(1 of 25 file names"
    with pytest.raises(ValueError, match=message):
        SLNCleaner(epochs=1).fit(root)
    paths = sorted(os.fsdecode(p) for p in Path(root).rglob("*.png"))  # (pandas' str dtype refuses them)
    frame = pd.DataFrame(
        {"path": pd.Series(paths, dtype=object), "label": [Path(p).parent.name for p in paths]}
    )
    with pytest.raises(ValueError, match=message):
        SLNCleaner(epochs=1).fit(frame)
