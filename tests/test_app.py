"""The review app: its logic (app/review.py), the Streamlit script (AppTest), and a real browser."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from sklearn.datasets import load_digits

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app import review  # noqa: E402
from app.review import DecisionStore, Filters, UnsafePathError  # noqa: E402
from labelclean import AUDIT_COLUMNS, read_audit_metadata  # noqa: E402
from labelclean.audit import build_audit, write_audit  # noqa: E402

MAIN = REPO / "app" / "main.py"
DIGITS = load_digits().images
CLASSES = np.array(["cat", "dog", "fox", "owl"])


def png(value: int, side: int = 8) -> bytes:
    """A small PNG: scikit-learn's digit number ``value``, or a flat image of another size."""
    pixels = np.full((side, side), value % 256, dtype=np.uint8)
    if side == 8:
        pixels = (DIGITS[value % len(DIGITS)] * 15).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_audit(
    folder: Path,
    n: int = 60,
    *,
    files: bool = False,
    images: bool = False,
    row_group_size: int = 65536,
    seed: int = 0,
) -> Path:
    """An audit written by labelclean's own writer, from made-up predictions.

    About a third of the samples get a confident prediction of another class, so the
    mixture flags them. ``files``: the sources are PNG files under ``folder/data``
    (an image-folder audit); ``images``: ``row N`` sources with an ``image`` column.
    """
    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    labels = rng.integers(0, k, n)
    wrong = rng.random(n) < 0.35
    target = np.where(wrong, (labels + rng.integers(1, k, n)) % k, labels)
    probs = rng.dirichlet(np.full(k, 0.3), n) * 0.1
    probs[np.arange(n), target] += 0.9
    probs /= probs.sum(axis=1, keepdims=True)
    folder.mkdir(parents=True, exist_ok=True)
    root = folder / "data"
    if files:
        sources = []
        for i, label in enumerate(labels):
            path = root / CLASSES[label] / f"{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png(i))
            sources.append(str(path))
        data_source = f"image folder {root}"
    else:
        sources = [f"row {i}" for i in range(n)]
        data_source = f"array of {n} grayscale images, shape ({n}, 8, 8)"
    audit = build_audit(probs, labels, CLASSES, sources)
    if images:
        audit["image"] = [png(i) for i in range(n)]
    metadata = {
        "labelclean_version": "test",
        "params": {"epochs": 1},
        "classes": CLASSES.tolist(),
        "class_names": CLASSES.tolist(),
        "data_source": data_source,
        "created": "2025-01-01T00:00:00+00:00",
    }
    path = folder / "audit.parquet"
    write_audit(audit, path, metadata, row_group_size=row_group_size)
    return path


@pytest.fixture
def image_audit(tmp_path):
    return make_audit(tmp_path / "arrays", images=True, row_group_size=16)


@pytest.fixture
def file_audit(tmp_path):
    return make_audit(tmp_path / "folder", files=True)


# --- app/review.py ----------------------------------------------------------------------------


def test_load_reads_light_columns_ranked(image_audit):
    audit = review.load_audit(image_audit)
    full = pd.read_parquet(image_audit)
    assert "image" not in audit.frame.columns and audit.has_images
    assert list(audit.frame.columns) == [*AUDIT_COLUMNS, review.ROW]
    assert audit.frame["rank"].tolist() == list(range(1, len(full) + 1))
    assert audit.frame["loss"].is_monotonic_decreasing
    # file_row points back at the sample's row in the file
    back = full.iloc[audit.frame[review.ROW]]
    assert back["sample_id"].tolist() == audit.frame["sample_id"].tolist()
    assert audit.classes == CLASSES.tolist() and audit.name("fox") == "fox"
    assert audit.metadata == read_audit_metadata(image_audit)


def test_load_refuses_files_that_are_not_audits(tmp_path):
    with pytest.raises(FileNotFoundError):
        review.load_audit(tmp_path / "nope.parquet")
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(plain)
    with pytest.raises(ValueError, match="not a labelclean audit"):
        review.load_audit(plain)
    text = tmp_path / "text.parquet"
    text.write_text("hello")
    with pytest.raises(ValueError):
        review.load_audit(text)


def test_filters(image_audit):
    frame = review.load_audit(image_audit).frame
    flagged = review.filter_audit(frame, Filters(flagged_only=True))
    assert flagged["is_suspicious"].all() and len(flagged) == frame["is_suspicious"].sum() > 0
    assert flagged["rank"].is_monotonic_increasing

    either = review.filter_audit(frame, Filters(classes=("dog",)))
    assert ((either["given_label"] == "dog") | (either["suggested_label"] == "dog")).all()
    given = review.filter_audit(frame, Filters(classes=("dog",), class_field="given"))
    assert (given["given_label"] == "dog").all() and len(given) == (frame["given_label"] == "dog").sum()
    suggested = review.filter_audit(frame, Filters(classes=("dog", "owl"), class_field="suggested"))
    assert suggested["suggested_label"].isin(["dog", "owl"]).all()

    pair = tuple(flagged.iloc[0][["given_label", "suggested_label"]])
    by_pair = review.filter_audit(frame, Filters(pair=pair))
    assert len(by_pair) and (by_pair["given_label"] == pair[0]).all()
    assert (by_pair["suggested_label"] == pair[1]).all()

    high = review.filter_audit(frame, Filters(score_range=(0.5, 1.0)))
    assert (high["mislabel_prob"] >= 0.5).all()
    assert len(high) == (frame["mislabel_prob"] >= 0.5).sum()
    low_loss = review.filter_audit(frame, Filters(score="loss", score_range=(0.0, 0.5)))
    assert (low_loss["loss"] <= 0.5).all() and len(low_loss) == (frame["loss"] <= 0.5).sum()
    with pytest.raises(ValueError):
        review.filter_audit(frame, Filters(score="rank", score_range=(0, 1)))

    decided = frame["sample_id"].iloc[:5].tolist()
    assert review.filter_audit(frame, Filters(status="decided"), decided)["sample_id"].tolist() == decided
    assert len(review.filter_audit(frame, Filters(status="undecided"), decided)) == len(frame) - 5
    assert review.filter_audit(frame, Filters()) is frame


def test_paging():
    view = pd.DataFrame({"x": range(50)})
    assert review.page_count(50, 24) == 3 and review.page_count(0, 24) == 1
    assert review.page_rows(view, 1, 24)["x"].tolist() == list(range(24))
    assert review.page_rows(view, 3, 24)["x"].tolist() == [48, 49]
    assert review.page_rows(view, 99, 24)["x"].tolist() == [48, 49]  # clamped to the last page
    assert review.page_rows(view, 0, 24)["x"].tolist() == list(range(24))
    assert review.page_rows(view.iloc[:0], 1, 24).empty


def test_fetch_images_reads_only_the_row_groups_it_needs(image_audit, monkeypatch):
    full = pd.read_parquet(image_audit)
    assert pq.ParquetFile(image_audit).num_row_groups == 4  # 60 rows, groups of 16
    read = []
    original = pq.ParquetFile.read_row_group

    def spy(self, i, *args, **kwargs):
        read.append((i, kwargs.get("columns")))
        return original(self, i, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    images = review.fetch_images(image_audit, [3, 17, 18, 59])
    assert images == {r: full["image"][r] for r in (3, 17, 18, 59)}
    assert read == [(0, ["image"]), (1, ["image"]), (3, ["image"])]
    assert review.fetch_images(image_audit, []) == {}


def test_thumbnail_enlarges_small_images_sharply():
    data = review.thumbnail(png(200, side=8), size=192)
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.size == (192, 192)
    big = io.BytesIO()
    Image.new("RGB", (1000, 500)).save(big, format="PNG")
    with Image.open(io.BytesIO(review.thumbnail(big.getvalue(), size=192))) as picture:
        assert max(picture.size) == 192


def test_decisions_persist_across_reload(image_audit):
    audit = review.load_audit(image_audit)
    store = DecisionStore.for_audit(audit)
    assert store.path == image_audit.with_name("audit.decisions.json") and len(store) == 0
    first, second, third = (audit.frame.iloc[i] for i in range(3))
    store.record(first.sample_id, "accept", first.suggested_label)
    store.record(second.sample_id, "none", None)
    store.record_many([(third.sample_id, "relabel", "owl")])
    saved = json.loads(store.path.read_text())
    assert saved[str(first.sample_id)]["decision"] == "accept"
    assert saved[str(first.sample_id)]["final_label"] == first.suggested_label
    assert set(saved[str(first.sample_id)]) == {"decision", "final_label", "time"}

    again = DecisionStore.for_audit(review.load_audit(image_audit))
    assert again.as_dict() == store.as_dict()
    assert again.get(int(second.sample_id))["final_label"] is None
    assert again.get(third.sample_id)["final_label"] == "owl"

    store.clear(second.sample_id)  # another session's change is seen by refresh()
    again.refresh()
    assert second.sample_id not in again and len(again) == 2
    with pytest.raises(ValueError, match="unknown decision"):
        store.record(first.sample_id, "maybe", None)


def test_failed_write_leaves_the_old_decisions_file_intact(image_audit, monkeypatch):
    store = DecisionStore(review.decisions_path(image_audit))
    store.record(1, "accept", "dog")
    before = store.path.read_bytes()

    def half_then_fail(path, data):
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(review, "_write_bytes", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        store.record(2, "keep", "cat")
    assert store.path.read_bytes() == before
    assert [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert 2 not in store  # the failed decision is not kept in memory either
    monkeypatch.undo()
    assert DecisionStore(store.path).as_dict() == {1: json.loads(before)["1"]}


def test_export_columns_and_values(image_audit):
    audit = review.load_audit(image_audit)
    frame = audit.frame.set_index("sample_id")
    ids = audit.frame["sample_id"].iloc[:4].tolist()
    store = DecisionStore.for_audit(audit)
    store.record(ids[0], "accept", frame.loc[ids[0], "suggested_label"])
    store.record(ids[1], "keep", frame.loc[ids[1], "given_label"])
    store.record(ids[2], "relabel", "owl")
    store.record(ids[3], "none", None)

    fixes = review.build_corrections(audit, store.as_dict())
    assert tuple(fixes.columns) == review.CORRECTION_COLUMNS
    assert fixes["sample_id"].tolist() == sorted(frame.index)  # input order
    fixes = fixes.set_index("sample_id", drop=False)
    assert fixes.loc[ids[0], "final_label"] == frame.loc[ids[0], "suggested_label"]
    assert fixes.loc[ids[1], "final_label"] == frame.loc[ids[1], "given_label"]
    assert fixes.loc[ids[2], "final_label"] == "owl"
    assert pd.isna(fixes.loc[ids[3], "final_label"])
    assert fixes.loc[ids, "decided_by"].tolist() == [
        "reviewer: accept",
        "reviewer: keep",
        "reviewer: relabel",
        "reviewer: none",
    ]
    rest = fixes.drop(index=ids)
    assert (rest["decided_by"] == "auto: corrected_label").all()
    assert (rest["final_label"] == frame.loc[rest.index, "corrected_label"]).all()

    csv_path, parquet_path = review.write_corrections(audit, fixes.reset_index(drop=True))
    assert csv_path.name == "audit.corrections.csv" and parquet_path.name == "audit.corrections.parquet"
    assert list(pd.read_csv(csv_path).columns) == list(review.CORRECTION_COLUMNS)
    written = pd.read_parquet(parquet_path)
    assert len(written) == audit.n and written["final_label"].isna().sum() == 1

    df = pd.DataFrame({"label": frame.sort_index()["given_label"]})  # the user's data, by sample_id
    exec(review.apply_snippet(parquet_path), {"pd": pd, "df": df})
    assert (
        df.loc[ids[2], "label"] == "owl" and df.loc[ids[0], "label"] == frame.loc[ids[0], "suggested_label"]
    )


def test_integer_labels_export_as_nullable_integers(tmp_path):
    probs = np.array([[0.9, 0.1], [0.1, 0.9], [0.95, 0.05], [0.02, 0.98]])
    table = build_audit(probs, np.array([0, 0, 1, 1]), np.array([3, 7]), [f"row {i}" for i in range(4)])
    path = tmp_path / "ints.parquet"
    write_audit(table, path, {"classes": [3, 7], "class_names": ["three", "seven"]})
    audit = review.load_audit(path)
    assert audit.name(7) == "seven" and audit.label_of("three") == 3
    fixes = review.build_corrections(audit, {0: {"decision": "none", "final_label": None}})
    assert str(fixes["final_label"].dtype) == "Int64" and pd.isna(fixes["final_label"][0])
    assert fixes["final_label"][1:].tolist() == table["corrected_label"][1:].tolist()


def test_overview_numbers(image_audit):
    audit = review.load_audit(image_audit)
    full = pd.read_parquet(image_audit, columns=list(AUDIT_COLUMNS))
    stats = review.summary(audit.frame)
    assert stats == {
        "samples": len(full),
        "flagged": int(full.is_suspicious.sum()),
        "rate": full.is_suspicious.mean(),
    }
    rates = review.per_class_rates(audit).set_index("class")
    for name in CLASSES:
        rows = full[full.given_label == name]
        assert rates.loc[name, "samples"] == len(rows)
        assert rates.loc[name, "rate"] == pytest.approx(rows.is_suspicious.mean())
    pairs = review.confusion_pairs(audit)
    assert pairs["count"].sum() == stats["flagged"] and (pairs["count"] > 0).all()
    assert pairs["count"].is_monotonic_decreasing


def test_sources_outside_the_root_are_refused(tmp_path, file_audit):
    audit = review.load_audit(file_audit)
    root = file_audit.parent / "data"
    assert audit.root == root.resolve() and audit.root_origin == "metadata"
    inside = audit.frame["source"].iloc[0]
    assert review.resolve_source(inside, audit.root, audit.base) == Path(inside).resolve()

    secret = tmp_path / "secret.png"
    secret.write_bytes(png(0))
    escape = str(root / "cat" / ".." / ".." / ".." / "secret.png")
    assert Path(os.path.normpath(escape)) == secret
    with pytest.raises(UnsafePathError, match="outside the dataset root"):
        review.resolve_source(escape, audit.root, audit.base)
    with pytest.raises(UnsafePathError, match="outside the dataset root"):
        review.resolve_source("../../etc/passwd", audit.root, audit.root / "cat")
    with pytest.raises(UnsafePathError, match="outside the dataset root"):
        review.resolve_source("/etc/passwd", audit.root, audit.base)

    link = root / "cat" / "link.png"
    link.symlink_to(secret)
    with pytest.raises(UnsafePathError, match="outside the dataset root"):
        review.resolve_source(str(link), audit.root, audit.base)
    friendly = root / "cat" / "friendly.png"
    friendly.symlink_to(Path(inside))
    assert review.resolve_source(str(friendly), audit.root, audit.base) == Path(inside).resolve()

    with pytest.raises(UnsafePathError, match="not a file"):
        review.resolve_source("row 3", audit.root, audit.base)
    with pytest.raises(UnsafePathError, match="no dataset root"):
        review.resolve_source(inside, None, audit.base)


def test_dataset_root_without_metadata_is_the_common_parent(tmp_path):
    data = tmp_path / "data"
    sources = [str(data / "a" / "1.png"), str(data / "b" / "2.png"), "row 5"]
    assert review.dataset_root(sources, {}, tmp_path) == (data, "common parent of the file sources")
    # a "..": source does not widen the root
    sneaky = [*sources, str(data / "a" / ".." / ".." / ".." / "etc" / "passwd")]
    assert review.dataset_root(sneaky, {}, tmp_path)[0] == data
    relative = ["imgs/x/1.png", "imgs/y/2.png"]
    assert review.dataset_root(relative, {}, tmp_path)[0] == tmp_path / "imgs"
    # a source at the filesystem's root would make "/" the root: serve nothing instead
    root, why = review.dataset_root([*sources, "/etc/passwd"], {}, tmp_path)
    assert root is None and "filesystem root" in why
    assert review.dataset_root(["row 1", "row 2"], {}, tmp_path) == (None, "no file sources")


def test_real_slncleaner_audit(tmp_path):
    """The loader reads what SLNCleaner.save_audit writes, image folder and all."""
    from labelclean import SLNCleaner

    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for i in range(24):
        label = ("light", "dark")[i % 2]
        value = 200 if label == "light" else 30
        path = folder / label / f"{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        noise = rng.integers(0, 20, (8, 8))
        Image.fromarray((noise + value).astype(np.uint8)).save(path)
    cleaner = SLNCleaner(epochs=1, batch_size=8, random_state=0).fit(folder)
    path = cleaner.save_audit(tmp_path / "audit.parquet")
    audit = review.load_audit(path)
    assert audit.n == 24 and not audit.has_images
    assert audit.root == folder.resolve() and sorted(audit.classes) == ["dark", "light"]
    for source in audit.frame["source"]:
        assert review.resolve_source(source, audit.root, audit.base).is_file()


# --- the Streamlit script, headless (AppTest) ---------------------------------------------------


def app_test(monkeypatch, audit_path: Path | None):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(sys, "argv", ["main.py"])
    monkeypatch.delenv("LABELCLEAN_ROOT", raising=False)
    if audit_path is None:
        monkeypatch.delenv("LABELCLEAN_AUDIT", raising=False)
    else:
        monkeypatch.setenv("LABELCLEAN_AUDIT", str(audit_path))
    return AppTest.from_file(str(MAIN), default_timeout=60)


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_app_opens_the_audit_from_the_environment(monkeypatch, image_audit):
    at = app_test(monkeypatch, image_audit).run()
    assert_clean(at)
    full = pd.read_parquet(image_audit, columns=["is_suspicious"])
    shown = metrics(at)
    assert shown["Samples"] == f"{len(full):,}"
    assert shown["Flagged"] == f"{int(full.is_suspicious.sum()):,}"
    assert shown["Flag rate"] == f"{full.is_suspicious.mean():.1%}"
    assert shown["Reviewed"] == "0"
    # the grid: flagged samples, most suspicious first, with their images
    audit = review.load_audit(image_audit)
    top = audit.frame[audit.frame.is_suspicious].iloc[0]
    accept = [b.key for b in at.button if b.key and b.key.startswith("accept_")]
    assert accept[0] == f"accept_{top.sample_id}"
    assert len(accept) == min(24, int(full.is_suspicious.sum()))
    assert len(at.get("image")) == len(accept)


def test_app_takes_the_audit_from_the_command_line(monkeypatch, image_audit, tmp_path):
    at = app_test(monkeypatch, tmp_path / "elsewhere.parquet")
    monkeypatch.setattr(sys, "argv", ["main.py", "--audit", str(image_audit)])
    at.run()
    assert_clean(at)
    assert str(image_audit) in "\n".join(c.value for c in at.caption)
    other = make_audit(tmp_path / "other", n=10)  # typed into the sidebar
    at.text_input(key="audit_input").input(str(other)).run()
    assert_clean(at)
    assert metrics(at)["Samples"] == "10" and str(other) in "\n".join(c.value for c in at.caption)


def test_app_reports_an_audit_it_cannot_open(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the start page looks for ./audit.parquet: not one a user left
    at = app_test(monkeypatch, tmp_path / "missing.parquet").run()
    assert not at.exception
    assert "Cannot open" in at.error[0].value and "No such file" in at.error[0].value
    at.button(key="back").click().run()
    assert at.button(key="run_demo")  # back on the start page


def test_app_without_an_audit_runs_or_opens_the_demo(monkeypatch, tmp_path, demo_run):
    monkeypatch.chdir(tmp_path)
    ran, done, audit = demo_run  # the same command, really run once (conftest.py)
    calls = []

    def demo_as_run(command, **kwargs):  # the real run's result, instead of training again
        calls.append(command)
        assert command[:-1] == ran[:-1] and str(REPO) in kwargs["env"]["PYTHONPATH"].split(os.pathsep)
        shutil.copy(audit, command[-1])
        return done

    at = app_test(monkeypatch, None).run()
    assert_clean(at)
    monkeypatch.setattr(subprocess, "run", demo_as_run)
    at.button(key="run_demo").click().run()
    assert_clean(at)
    assert calls == [[sys.executable, "-m", "labelclean", "demo", "--out", str(tmp_path / "audit.parquet")]]
    assert metrics(at)["Samples"] == "1,347"

    at = app_test(monkeypatch, None).run()  # ./audit.parquet exists now: offer to open it
    at.button(key="open_demo").click().run()
    assert_clean(at)
    assert metrics(at)["Samples"] == "1,347"


def test_app_decisions_are_saved_restored_and_exported(monkeypatch, image_audit):
    at = app_test(monkeypatch, image_audit).run()
    audit = review.load_audit(image_audit)
    top = audit.frame[audit.frame.is_suspicious].iloc[0]
    at.button(key=f"accept_{top.sample_id}").click().run()
    assert_clean(at)
    saved = json.loads(review.decisions_path(image_audit).read_text())
    assert saved[str(top.sample_id)]["decision"] == "accept"
    assert saved[str(top.sample_id)]["final_label"] == top.suggested_label
    assert metrics(at)["Reviewed"] == "1"

    fresh = app_test(monkeypatch, image_audit).run()  # a new session: a refresh or a restart
    assert_clean(fresh)
    assert metrics(fresh)["Reviewed"] == "1"
    assert f"accepted → {top.suggested_label}" in markdown(fresh)

    fresh.button(key="export").click().run()
    assert_clean(fresh)
    csv_path, parquet_path = review.corrections_paths(image_audit)
    fixes = pd.read_parquet(parquet_path)
    assert list(fixes.columns) == list(review.CORRECTION_COLUMNS)
    assert list(pd.read_csv(csv_path).columns) == list(review.CORRECTION_COLUMNS)
    row = fixes.set_index("sample_id").loc[top.sample_id]
    assert row.decided_by == "reviewer: accept" and row.final_label == top.suggested_label
    assert {"download_csv", "download_parquet"} <= {b.key for b in fresh.get("download_button")}
    assert any("fixes = pd.read_parquet" in c.value for c in fresh.code)


def test_app_pair_filter_and_bulk_accept(monkeypatch, image_audit):
    at = app_test(monkeypatch, image_audit).run()
    audit = review.load_audit(image_audit)
    pair = tuple(review.confusion_pairs(audit).iloc[0][["given_label", "suggested_label"]])
    at.selectbox(key="pair_pick").set_value(pair).run()
    assert_clean(at)
    shown = [b.key.removeprefix("accept_") for b in at.button if b.key and b.key.startswith("accept_")]
    expected = review.filter_audit(audit.frame, Filters(pair=pair, flagged_only=True))
    assert shown == [str(s) for s in expected["sample_id"]]

    assert at.button(key="bulk_accept").disabled
    at.checkbox(key="bulk_confirm").check().run()
    at.button(key="bulk_accept").click().run()
    assert_clean(at)
    saved = json.loads(review.decisions_path(image_audit).read_text())
    assert sorted(saved) == sorted(shown) and {d["decision"] for d in saved.values()} == {"accept"}


def test_app_refuses_images_outside_the_root(monkeypatch, tmp_path):
    path = make_audit(tmp_path / "folder", files=True, n=30)
    table = pq.read_table(path)
    frame = table.to_pandas()
    top = frame.sort_values("rank").index[0]
    frame.loc[top, "source"] = str(tmp_path / "folder" / "data" / ".." / ".." / ".." / "etc" / "passwd")
    fixed = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(fixed.replace_schema_metadata(table.schema.metadata), path)
    at = app_test(monkeypatch, path).run()
    assert_clean(at)
    assert "Refused" in markdown(at) and "outside the dataset root" in markdown(at)
    assert len(at.get("image")) == sum(1 for b in at.button if b.key and b.key.startswith("accept_")) - 1


# --- a real browser --------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_browser_accept_reload_export(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
    )
    path = make_audit(tmp_path / "folder", files=True, n=40)
    audit = review.load_audit(path)
    top = audit.frame[audit.frame.is_suspicious].iloc[0]
    port = free_port()
    env = {**os.environ, "LABELCLEAN_AUDIT": str(path), "OMP_NUM_THREADS": "1"}
    env.pop("LABELCLEAN_ROOT", None)
    log = tmp_path / "streamlit.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(MAIN),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 45
        while True:
            try:
                urllib.request.urlopen(url + "_stcore/health", timeout=1).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not start:\n{log.read_text()}")
                time.sleep(0.25)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
            page = browser.new_page(viewport={"width": 1600, "height": 1150})
            page.set_default_timeout(30_000)
            page.goto(url)
            card = page.locator(f".st-key-card_{top.sample_id}")
            card.locator("img").wait_for()  # served from the file, inside the root
            card.locator(f".st-key-accept_{top.sample_id} button:visible").click()
            card.get_by_text(f"accepted → {top.suggested_label}").wait_for()
            saved = json.loads(review.decisions_path(path).read_text())
            assert saved[str(top.sample_id)]["decision"] == "accept"

            page.reload()
            card = page.locator(f".st-key-card_{top.sample_id}")
            card.get_by_text(f"accepted → {top.suggested_label}").wait_for()
            page.get_by_text("Reviewed").first.wait_for()
            page.wait_for_timeout(500)  # let the images settle before the picture
            page.screenshot(path=str(tmp_path / "review.png"))
            shutil.copy(tmp_path / "review.png", "/tmp/app_screenshot.png")

            page.get_by_role("tab", name="Export").click()
            page.get_by_role("button", name="Write the corrections").click()
            page.get_by_text("Download CSV").first.wait_for()
            page.screenshot(path=str(tmp_path / "export.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    csv_path, parquet_path = review.corrections_paths(path)
    fixes = pd.read_parquet(parquet_path).set_index("sample_id")
    assert fixes.loc[top.sample_id, "decided_by"] == "reviewer: accept"
    assert csv_path.is_file() and (tmp_path / "review.png").stat().st_size > 10_000
