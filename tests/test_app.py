"""The review app's logic, without Streamlit: loading, filters, images, paths, decisions, export."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from appdata import CLASSES, camera_photo, make_audit, png
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app import cards, decisions, review, sources  # noqa: E402
from app.decisions import DecisionStore  # noqa: E402
from app.review import Filters  # noqa: E402
from app.sources import UnsafePathError  # noqa: E402
from app.state import ReviewState, apply_actions, resolve_show  # noqa: E402
from labelclean.audit import build_audit, write_audit  # noqa: E402
from labelclean.auditfile import (  # noqa: E402
    AUDIT_COLUMNS,
    decisions_path,
    read_audit,
    read_audit_metadata,
    read_reviewed,
    review_tally,
)


@pytest.fixture
def image_audit(tmp_path):
    return make_audit(tmp_path / "arrays", images=True, row_group_size=16)


@pytest.fixture
def file_audit(tmp_path):
    return make_audit(tmp_path / "folder", files=True)


def int_audit(folder: Path) -> Path:
    """Integer labels 3 and 7, named "three" and "seven"."""
    return make_audit(folder, n=40, classes=np.array([3, 7]))


# --- loading ---------------------------------------------------------------------------------


def test_load_reads_light_columns_ranked(image_audit):
    audit = review.load_audit(image_audit)
    full = pd.read_parquet(image_audit)
    light = [c for c in AUDIT_COLUMNS if c not in ("source", "top_classes")]
    assert list(audit.frame.columns) == [*light, review.ROW] and audit.has_images
    assert audit.frame["rank"].tolist() == list(range(1, len(full) + 1))
    back = full.iloc[audit.frame[review.ROW]]  # file_row points back at the sample's row in the file
    assert back["sample_id"].tolist() == audit.frame["sample_id"].tolist()
    assert [audit.source(r) for r in audit.frame[review.ROW]] == back["source"].tolist()
    assert audit.classes == CLASSES.tolist() and audit.name("fox") == "fox" and audit.note == ""
    assert audit.metadata == read_audit_metadata(image_audit)
    top = audit.frame.iloc[0]
    assert (
        audit.row(int(top.sample_id)).loss == top.loss
        and audit.sample_id(str(top.sample_id)) == top.sample_id
    )


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


def test_an_audit_rewritten_by_pandas_opens_from_its_columns(image_audit, tmp_path):
    """Defect 5: pandas' round trip drops the labelclean metadata; the audit still opens."""
    rewritten = tmp_path / "rewritten.parquet"
    pd.read_parquet(image_audit).to_parquet(rewritten)
    audit = review.load_audit(rewritten)
    original = review.load_audit(image_audit)
    assert audit.metadata == {} and "no labelclean metadata" in audit.note
    assert audit.classes == sorted(CLASSES.tolist()) and audit.has_images
    assert audit.frame["sample_id"].tolist() == original.frame["sample_id"].tolist()


# --- filters, pages, neighbours ------------------------------------------------------------------


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
    assert (high["mislabel_prob"] >= 0.5).all() and len(high) == (frame["mislabel_prob"] >= 0.5).sum()
    low_loss = review.filter_audit(frame, Filters(score="loss", score_range=(0.0, 0.5)))
    assert (low_loss["loss"] <= 0.5).all() and len(low_loss) == (frame["loss"] <= 0.5).sum()
    with pytest.raises(ValueError):
        review.filter_audit(frame, Filters(score="rank", score_range=(0, 1)))

    decided = frame["sample_id"].iloc[:5].tolist()
    assert review.filter_audit(frame, Filters(status="decided"), decided)["sample_id"].tolist() == decided
    assert len(review.filter_audit(frame, Filters(status="undecided"), decided)) == len(frame) - 5
    assert review.filter_audit(frame, Filters()) is frame


def test_paging_and_neighbours():
    view = pd.DataFrame({"sample_id": range(100, 150)})
    assert review.page_count(50, 24) == 3 and review.page_count(0, 24) == 1
    assert review.page_rows(view, 1, 24)["sample_id"].tolist() == list(range(100, 124))
    assert review.page_rows(view, 3, 24)["sample_id"].tolist() == [148, 149]
    assert review.page_rows(view, 99, 24)["sample_id"].tolist() == [148, 149]  # clamped to the last page
    assert review.page_rows(view, 0, 24)["sample_id"].tolist() == list(range(100, 124))
    assert review.page_rows(view.iloc[:0], 1, 24).empty
    assert review.position(view, 130) == 30 and review.position(view, 7) is None
    assert review.page_of(view, 130, 24) == 2 and review.page_of(view, 7, 24) is None
    assert review.neighbours(view, 1)["sample_id"].tolist() == list(range(100, 106))
    assert review.neighbours(view, 49, 2, 2)["sample_id"].tolist() == [147, 148, 149]


def test_digit_keys():
    assert review.digit_keys([str(d) for d in range(10)]) == {str(d): str(d) for d in range(10)}
    assert review.digit_keys(["cat", "dog"]) == {"1": "cat", "2": "dog"}
    many = review.digit_keys([f"c{i}" for i in range(12)])
    assert list(many) == [*"123456789", "0"] and many["0"] == "c9"


def test_top_classes_from_a_column_or_what_the_audit_has(tmp_path):
    path = make_audit(tmp_path / "plain", n=12, top_classes=False)
    audit = review.load_audit(path)
    flagged = next(audit.frame.itertuples(index=False))  # the most suspicious
    shown, complete = review.top_classes(audit, flagged)
    assert not complete  # the calibrated chances of the two labels the audit knows
    assert shown == [
        (flagged.suggested_label, pytest.approx(flagged.suggested_true_prob)),
        (flagged.given_label, pytest.approx(1 - flagged.mislabel_prob)),
    ]
    table = pq.read_table(path)
    top = [[{"label": "owl", "prob": 0.7}, {"label": "cat", "prob": 0.2}, {"label": "dog", "prob": 0.1}]] * 12
    pq.write_table(
        table.append_column("top_classes", pa.array(top)).replace_schema_metadata(table.schema.metadata), path
    )
    audit = review.load_audit(path)
    shown, complete = review.top_classes(audit, next(audit.frame.itertuples(index=False)))
    assert complete and shown == [
        ("owl", pytest.approx(0.7)),
        ("cat", pytest.approx(0.2)),
        ("dog", pytest.approx(0.1)),
    ]


def test_cards_list_the_three_likeliest_classes_and_the_given_label(tmp_path):
    """Issue 18, item 2: every card shows the alternatives, an unflagged one too."""
    path = make_audit(tmp_path / "top", n=300, classes=np.array([f"class {i}" for i in range(6)]))
    audit = review.load_audit(path)
    file_rows = pq.read_table(path, columns=["top_classes"]).column(0).to_pylist()
    for row in audit.frame.itertuples(index=False):
        listed, complete = cards.class_rows(audit, row)
        top = file_rows[row.file_row]
        assert complete and [r["name"] for r in listed[:3]] == [t["label"] for t in top]
        assert [r["prob"] for r in listed[:3]] == pytest.approx([t["prob"] for t in top])
        # the suggestion is the likeliest class other than the given one
        assert next(r["name"] for r in listed if not r["given"]) == row.suggested_label
        given = [r for r in listed if r["given"]]
        assert len(given) == 1 and given[0]["name"] == row.given_label
        assert given[0]["prob"] == pytest.approx(1 - row.mislabel_prob, abs=1e-6)
        assert len(listed) == 3 + (row.given_label not in [t["label"] for t in top])


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
    pairs = audit.pairs
    assert pairs["count"].sum() == stats["flagged"] and (pairs["count"] > 0).all()
    assert pairs["count"].is_monotonic_decreasing


def test_heat_map_text_is_never_white_on_white_and_the_histogram_has_ticks(image_audit):
    """Defect 7: the colour scale starts at 0 and text turns white only on its darker half.
    Issue 18: the loss histogram draws flagged and not flagged samples in panels of their own,
    each a plain count axis (stacked bars on a square-root axis misstated the upper part)."""
    from app import overview

    audit = review.load_audit(image_audit)
    spec = overview.confusion_map(audit).to_dict()
    heat, text = spec["layer"]
    most = int(audit.pairs["count"].max())
    assert heat["encoding"]["color"]["scale"]["domain"] == [0, most]
    white = text["encoding"]["color"]["condition"]
    assert white["value"] == "white" and white["test"] == f"(datum.count > {most / 2})"
    histogram = overview.loss_histogram(audit).to_dict()
    flagged, clean = histogram["vconcat"]
    for panel, mask in ((flagged, audit.flagged), (clean, ~audit.flagged)):
        assert "scale" not in panel["encoding"]["y"] and "stack" not in panel["encoding"]["y"]
        assert panel["height"] >= 120 and panel["title"]["text"].endswith(f": {int(mask.sum()):,}")
        bars = histogram["datasets"][panel["data"]["name"]]
        assert sum(bar["count"] for bar in bars) == mask.sum()
    assert flagged["encoding"]["x"]["scale"] == clean["encoding"]["x"]["scale"]  # one loss axis


# --- images and paths ------------------------------------------------------------------------------


def test_fetch_images_reads_only_the_row_groups_it_needs(image_audit, monkeypatch):
    full = pd.read_parquet(image_audit)
    assert pq.ParquetFile(image_audit).num_row_groups == 4  # 60 rows, groups of 16
    read = []
    original = pq.ParquetFile.read_row_group

    def spy(self, i, *args, **kwargs):
        read.append((i, kwargs.get("columns")))
        return original(self, i, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    images = sources.fetch_images(image_audit, [3, 17, 18, 59])
    assert images == {r: full["image"][r] for r in (3, 17, 18, 59)}
    assert read == [(0, ["image"]), (1, ["image"]), (3, ["image"])]
    assert sources.fetch_images(image_audit, []) == {}


def encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def test_pictures_go_to_the_browser_as_they_are_unless_too_big_or_unreadable_there():
    small = png(3)
    shown = sources.picture(small, 192)
    assert shown.data == small and (shown.width, shown.height, shown.mime) == (8, 8, "image/png")
    assert shown.data_uri().startswith("data:image/png;base64,")
    photo = encoded(Image.new("RGB", (1000, 500), "teal"), "JPEG")
    thumb = sources.picture(photo, 192)
    with Image.open(io.BytesIO(thumb.data)) as back:
        assert back.size == (192, 96) and back.format == "JPEG"
    assert (thumb.width, thumb.height) == (1000, 500)  # the size of the image it came from
    assert sources.picture(photo, None).data == photo  # full resolution: the file itself
    bmp = sources.picture(encoded(Image.new("L", (20, 10)), "BMP"), None)
    assert bmp.mime == "image/png" and bmp.format == "BMP"
    with pytest.raises(Exception, match="cannot identify"):
        sources.picture(b"not an image", 192)


def phone_photo(size: tuple[int, int] = (400, 200), orientation: int = 6) -> bytes:
    """A JPEG stored sideways, as phone cameras write them: left half red, right half blue,
    with the EXIF orientation that turns it upright (6: rotate 90 degrees clockwise)."""
    image = Image.new("RGB", size, "red")
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_pictures_are_turned_upright_by_their_exif_orientation():
    """Issue 17, B3 on the app's side: thumbnails and the larger view show photos upright."""
    for max_side, side in ((None, 400), (192, 192), (100, 100)):
        shown = sources.picture(phone_photo(), max_side)
        assert (shown.width, shown.height) == (200, 400)  # the upright size
        with Image.open(io.BytesIO(shown.data)) as back:
            assert back.size == (side // 2, side) and back.getexif().get(0x0112, 1) == 1
            top, bottom = (
                back.getpixel((back.width // 2, 2)),
                back.getpixel((back.width // 2, back.height - 3)),
            )
        assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # turned clockwise: red on top
    assert sources.picture(phone_photo(orientation=1), None).width == 400


def test_the_larger_view_sends_a_bounded_copy_of_a_photo_once(file_audit):
    """Issue 18: the larger view re-sent the whole camera file on every run (0.9 s to open,
    1.2 s a decision); pixels are kept sharp only where the browser scales an image up."""
    audit = review.load_audit(file_audit)
    store = DecisionStore.for_audit(audit)
    first = audit.frame.iloc[0]
    camera_photo(Path(audit.source(first.file_row)))
    sent: set[str] = set()
    shown = cards.detail(audit, store, audit.frame, str(first.sample_id), sent)
    assert shown["image"].startswith("data:image/jpeg") and shown["image_key"] in sent
    with Image.open(io.BytesIO(base64.b64decode(shown["image"].split(",", 1)[1]))) as copy:
        assert copy.size == (cards.DETAIL_SIDE, cards.DETAIL_SIDE * 3 // 4)
    assert (shown["width"], shown["height"]) == (4000, 3000) and not shown["sharp"]
    assert f"4000x3000 px JPEG, shown at most {cards.DETAIL_SIDE} px a side" in shown["image_note"]
    again = cards.detail(audit, store, audit.frame, str(first.sample_id), sent)
    assert again["image"] is None and again["image_key"] == shown["image_key"]  # the browser has it
    small = cards.detail(audit, store, audit.frame, str(audit.frame.iloc[1].sample_id), sent)
    assert small["sharp"] and small["width"] == 8  # an 8-pixel digit: scaled up, pixels sharp
    grid_cards = cards.cards(audit, store, audit.frame.iloc[:2], 1)
    assert not grid_cards[0]["sharp"] and grid_cards[0]["shrunk"] and grid_cards[1]["sharp"]


def test_sources_outside_the_root_are_refused(tmp_path, file_audit):
    audit = review.load_audit(file_audit)
    root = file_audit.parent / "data"
    assert audit.root == root.resolve() and audit.root_origin == "the common folder of the file sources"
    inside = audit.source(0)
    assert sources.resolve_source(inside, audit.root, audit.base) == Path(inside).resolve()

    secret = tmp_path / "secret.png"
    secret.write_bytes(png(0))
    escape = str(root / "cat" / ".." / ".." / ".." / "secret.png")
    assert Path(os.path.normpath(escape)) == secret
    with pytest.raises(UnsafePathError, match="outside the dataset root"):
        sources.resolve_source(escape, audit.root, audit.base)
    with pytest.raises(UnsafePathError, match="outside the dataset root"):
        sources.resolve_source("../../etc/passwd", audit.root, audit.root / "cat")
    with pytest.raises(UnsafePathError, match="outside the dataset root"):
        sources.resolve_source("/etc/passwd", audit.root, audit.base)
    link = root / "cat" / "link.png"
    link.symlink_to(secret)
    with pytest.raises(UnsafePathError, match="outside the dataset root"):
        sources.resolve_source(str(link), audit.root, audit.base)
    friendly = root / "cat" / "friendly.png"
    friendly.symlink_to(Path(inside))
    assert sources.resolve_source(str(friendly), audit.root, audit.base) == Path(inside).resolve()
    with pytest.raises(UnsafePathError, match="not a file"):
        sources.resolve_source("row 3", audit.root, audit.base)
    with pytest.raises(UnsafePathError, match="no dataset root"):
        sources.resolve_source(inside, None, audit.base)


def test_the_audits_metadata_cannot_widen_the_root(tmp_path, file_audit):
    """Defect 2: ``data_source = "image folder /"`` once made the app serve any file."""
    table = pq.read_table(file_audit)
    metadata = json.loads(table.schema.metadata[b"labelclean"])
    metadata["data_source"] = "image folder /"
    pq.write_table(table.replace_schema_metadata({b"labelclean": json.dumps(metadata).encode()}), file_audit)
    audit = review.load_audit(file_audit)
    assert audit.metadata["data_source"] == "image folder /"
    assert audit.root == (file_audit.parent / "data").resolve()
    secret = tmp_path / "secret.png"
    secret.write_bytes(png(1))
    for path in (str(secret), str(audit.root / ".." / ".." / "secret.png"), "/etc/passwd"):
        with pytest.raises(UnsafePathError, match="outside the dataset root"):
            sources.resolve_source(path, audit.root, audit.base)
    given = review.load_audit(file_audit, root=tmp_path)  # the user's own choice, on the command line
    assert given.root == tmp_path.resolve() and given.root_origin == "given on the command line"
    assert sources.resolve_source(str(secret), given.root, given.base) == secret.resolve()


def test_dataset_root_is_the_common_folder_and_never_too_wide(tmp_path):
    data = tmp_path / "data"
    files = [str(data / "a" / "1.png"), str(data / "b" / "2.png"), "row 5"]
    assert sources.dataset_root(files, tmp_path) == (data, "the common folder of the file sources")
    sneaky = [*files, str(data / "a" / ".." / ".." / ".." / "etc" / "passwd")]  # a ".." does not widen it
    assert sources.dataset_root(sneaky, tmp_path)[0] == data
    assert sources.dataset_root(["imgs/x/1.png", "imgs/y/2.png"], tmp_path)[0] == tmp_path / "imgs"
    root, why = sources.dataset_root([*files, "/etc/passwd"], tmp_path)
    assert root is None and "too wide" in why
    home = Path.home()
    assert sources.dataset_root([str(home / "a.png"), str(home / "b.png")], tmp_path)[0] is None
    assert sources.dataset_root(["row 1", "row 2"], tmp_path) == (None, "no file sources")


def test_real_slncleaner_audit(tmp_path):
    """The loader reads what SLNCleaner.save_audit writes, image folder and all."""
    from labelclean import SLNCleaner

    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for i in range(24):
        label = ("light", "dark")[i % 2]
        path = folder / label / f"{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(
            (rng.integers(0, 20, (8, 8)) + (200 if label == "light" else 30)).astype(np.uint8)
        ).save(path)
    cleaner = SLNCleaner(epochs=1, batch_size=8, random_state=0).fit(folder)
    audit = review.load_audit(cleaner.save_audit(tmp_path / "audit.parquet"))
    assert audit.n == 24 and not audit.has_images
    assert audit.root == folder.resolve() and sorted(audit.classes) == ["dark", "light"]
    for file_row in range(audit.n):
        assert sources.resolve_source(audit.source(file_row), audit.root, audit.base).is_file()


# --- decisions -------------------------------------------------------------------------------------


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


def test_each_change_returns_what_it_replaced_so_it_can_be_undone(image_audit):
    store = DecisionStore(decisions_path(image_audit))
    assert store.record(1, "accept", "dog") == {1: None}
    first = store.get(1)
    assert store.record(1, "relabel", "owl") == {1: first}
    bulk = store.record_many([(1, "keep", "cat"), (2, "accept", "fox")])
    assert bulk[1]["final_label"] == "owl" and bulk[2] is None
    store.restore(bulk)  # undo the bulk change: sample 1 back to "owl", sample 2 undecided
    assert store.get(1)["final_label"] == "owl" and 2 not in store
    assert store.clear(1)[1]["final_label"] == "owl" and len(store) == 0
    assert DecisionStore(store.path).as_dict() == {}


def test_two_sessions_deciding_at_once_lose_nothing(image_audit):
    """Two tabs are two sessions, each with its own store on one file, in server threads."""
    import threading

    path = decisions_path(image_audit)
    stores = [DecisionStore(path), DecisionStore(path)]
    start = threading.Barrier(2)

    def decide(store: DecisionStore, ids: range) -> None:
        start.wait()
        for sample_id in ids:
            store.record(sample_id, "keep", "cat")

    threads = [
        threading.Thread(target=decide, args=(store, range(k * 100, k * 100 + 100)))
        for k, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(DecisionStore(path).as_dict()) == list(range(200))


def test_failed_write_leaves_the_old_decisions_file_intact(image_audit, monkeypatch):
    store = DecisionStore(decisions_path(image_audit))
    store.record(1, "accept", "dog")
    before = store.path.read_bytes()

    def half_then_fail(path, data):
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(decisions, "_write_bytes", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        store.record(2, "keep", "cat")
    assert store.path.read_bytes() == before
    assert [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert 2 not in store  # the failed decision is not kept in memory either
    monkeypatch.undo()
    assert DecisionStore(store.path).as_dict() == {1: json.loads(before)["1"]}


# --- the grid's actions ------------------------------------------------------------------------------


class Grid:
    """A browser tab's side of the action queue: numbered actions, resent until acknowledged."""

    def __init__(self, client: str):
        self.client, self.seq, self.queue = client, 0, []

    def press(self, **action) -> dict:
        self.seq += 1
        self.queue.append({**action, "seq": self.seq})
        return {"client": self.client, "actions": list(self.queue)}

    def acknowledge(self, state: ReviewState) -> None:
        self.queue = [a for a in self.queue if a["seq"] > state.applied.get(self.client, 0)]


def test_the_grids_queue_applies_each_action_once_in_order(image_audit):
    audit = review.load_audit(image_audit)
    store, state = DecisionStore.for_audit(audit), ReviewState()
    view = review.filter_audit(audit.ordered("gain"), Filters())
    ids = [str(s) for s in view["sample_id"]]
    tab = Grid("tab-1")

    def run(payload):  # one Streamlit run: the callback, then the drawing's acknowledgement
        apply_actions(state, store, audit, view, 4, payload)
        resolve_show(state, audit, view, 4)
        tab.acknowledge(state)

    # Keys at 0 ms: Streamlit delivers only the newest pending trigger, which carries them all.
    tab.press(type="accept", id=ids[0])
    tab.press(type="keep", id=ids[1])
    run(tab.press(type="relabel", id=ids[2], label="owl"))
    pending = tab.press(type="none", id=ids[3])  # the 4th card: the last of page 1
    run(pending)
    run(pending)  # resent before its acknowledgement arrived: applied once
    saved = store.as_dict()
    rows = [audit.row(int(i)) for i in ids[:4]]
    assert [saved[int(i)]["decision"] for i in ids[:4]][:2] == ["accept", "keep"]
    assert saved[int(ids[0])]["final_label"] == rows[0].suggested_label
    assert saved[int(ids[2])]["final_label"] == "owl" and saved[int(ids[3])]["final_label"] is None
    assert len(state.undo) == 4 and tab.queue == [] and state.applied == {"tab-1": 4}
    assert state.page == 2 and state.focus == ids[4]  # moved on to the next page's first card

    # A relabel to the suggested (given) class is an accept (keep); refusals say why.
    f1, f2 = [i for i in ids[12:] if audit.row(int(i)).suggested_label != audit.row(int(i)).given_label][:2]
    tab.press(type="relabel", id=f1, label=audit.name(audit.row(int(f1)).suggested_label))
    tab.press(type="relabel", id=f2, label=audit.name(audit.row(int(f2)).given_label))
    tab.press(type="relabel", id=ids[6], label="zebra")
    run(tab.press(type="accept", id="999999"))
    assert store.get(int(f1))["decision"] == "accept" and store.get(int(f2))["decision"] == "keep"
    assert int(ids[6]) not in store
    assert [(r["seq"], r["id"]) for r in state.refused] == [(7, ids[6]), (8, "999999")]
    assert "'zebra' is not a class" in state.refused[0]["text"]
    assert "not in this audit" in state.refused[1]["text"]

    # Another tab numbers its own actions; undo shows the page of what it undid.
    other = Grid("tab-2")
    apply_actions(state, store, audit, view, 4, other.press(type="keep", id=ids[9]))
    assert store.get(int(ids[9]))["decision"] == "keep" and state.applied["tab-2"] == 1
    run(tab.press(type="undo"))  # tab-2's keep was this session's last decision
    run(tab.press(type="undo"))
    assert int(ids[9]) not in store and f2 not in store
    assert state.page == review.page_of(view, int(f2), 4) and state.focus == f2
    run(tab.press(type="undo"))
    run(tab.press(type="undo"))  # back to the "none" on the 4th card, on page 1
    assert state.page == 1 and state.focus == ids[3] and int(ids[3]) not in store

    # The larger view moves on to the next sample; closing it shows that sample's page.
    run(tab.press(type="open", id=ids[8]))
    run(tab.press(type="accept", id=ids[8]))
    assert state.detail == ids[9]
    run(tab.press(type="close"))
    assert state.detail is None and state.page == 3 and state.focus == ids[9]


def test_a_decision_that_cannot_be_saved_is_refused_and_not_kept(image_audit, monkeypatch):
    audit = review.load_audit(image_audit)
    store, state = DecisionStore.for_audit(audit), ReviewState()
    view = audit.frame
    first = str(view["sample_id"].iat[0])

    def full_disk(path, write):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(decisions, "atomic_write", full_disk)
    apply_actions(state, store, audit, view, 24, Grid("tab").press(type="accept", id=first))
    assert "No space left on device" in state.refused[0]["text"] and state.refused[0]["id"] == first
    assert len(store) == 0 and state.undo == [] and state.applied == {"tab": 1}  # refused, not retried


# --- export and the way back into fit -----------------------------------------------------------------


def record_four(audit: review.AuditData, store: DecisionStore) -> list:
    """accept, keep, relabel (to the last class) and fits-no-class on the four top samples."""
    ids = audit.frame["sample_id"].iloc[:4].tolist()
    rows = [audit.row(i) for i in ids]
    store.record(ids[0], "accept", rows[0].suggested_label)
    store.record(ids[1], "keep", rows[1].given_label)
    store.record(ids[2], "relabel", audit.classes[-1])
    store.record(ids[3], "none", None)
    return ids


def test_export_columns_and_values(image_audit):
    audit = review.load_audit(image_audit)
    frame = audit.frame.set_index("sample_id")
    store = DecisionStore.for_audit(audit)
    ids = record_four(audit, store)
    fixes = decisions.build_corrections(audit, store.as_dict())
    assert tuple(fixes.columns) == decisions.CORRECTION_COLUMNS
    assert fixes["sample_id"].tolist() == sorted(frame.index)  # input order
    assert fixes["source"].tolist() == pd.read_parquet(image_audit)["source"].tolist()
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
    assert (rest["final_label"] == frame.loc[rest.index, "corrected_label"].astype(str)).all()
    csv_path, parquet_path = decisions.write_corrections(audit, fixes.reset_index(drop=True))
    assert csv_path.name == "audit.corrections.csv" and parquet_path.name == "audit.corrections.parquet"
    assert list(pd.read_csv(csv_path).columns) == list(decisions.CORRECTION_COLUMNS)
    written = pd.read_parquet(parquet_path)
    assert len(written) == audit.n and written["final_label"].isna().sum() == 1


@pytest.fixture(params=["str", "int"])
def reviewed(request, tmp_path):
    """An audit (string or integer labels) with four decisions, and its exported corrections."""
    path = int_audit(tmp_path) if request.param == "int" else make_audit(tmp_path, n=40)
    audit = review.load_audit(path)
    store = DecisionStore.for_audit(audit)
    ids = record_four(audit, store)
    csv_path, parquet_path = decisions.write_corrections(
        audit, decisions.build_corrections(audit, store.as_dict())
    )
    return path, audit, store, ids, csv_path, parquet_path


def test_the_apply_snippet_runs_as_shown(reviewed):
    """Defect 3: the snippet crashed under pandas 3 for integer labels with a "fits no class"."""
    path, audit, _, ids, _, parquet_path = reviewed
    given = pd.read_parquet(path).set_index("sample_id")["given_label"]
    df = pd.DataFrame({"label": given.to_numpy(), "feature": 1.0}, index=given.index)  # the user's data
    scope = {"df": df}
    exec("import pandas as pd\n" + decisions.apply_snippet(parquet_path), scope)
    fixed = scope["df"]
    assert (
        fixed["label"].dtype == df["label"].dtype and ids[3] not in fixed.index and len(fixed) == len(df) - 1
    )
    assert fixed.loc[ids[0], "label"] == audit.row(ids[0]).suggested_label
    assert fixed.loc[ids[1], "label"] == audit.row(ids[1]).given_label
    assert fixed.loc[ids[2], "label"] == audit.classes[-1]
    corrected = pd.read_parquet(path).set_index("sample_id")["corrected_label"]
    untouched = fixed.index.difference(ids)
    assert (fixed.loc[untouched, "label"] == corrected.loc[untouched]).all()


def test_read_reviewed_reads_every_file_the_app_writes(reviewed):
    """The decisions file, the corrections CSV and Parquet give the same reviewed labels."""
    _, audit, store, ids, csv_path, parquet_path = reviewed
    labels = "int" if isinstance(audit.classes[0], int) else "str"
    table = read_reviewed(store.path)
    assert list(table.columns) == ["sample_id", "label", "fits_no_class", "decision"]
    assert table["sample_id"].tolist() == sorted(ids) and table["sample_id"].dtype == np.int64
    by_id = table.set_index("sample_id")
    assert by_id.loc[ids[3], "fits_no_class"] and pd.isna(by_id.loc[ids[3], "label"])
    assert not by_id.loc[ids[:3], "fits_no_class"].any()
    assert by_id.loc[ids[2], "label"] == audit.classes[-1] and by_id.loc[ids[2], "decision"] == "relabel"
    assert by_id.loc[ids[0], "label"] == audit.row(ids[0]).suggested_label
    assert str(table["label"].dtype) == ("Int64" if labels == "int" else "string")
    for other in (csv_path, parquet_path, pd.read_parquet(parquet_path)):
        pd.testing.assert_frame_equal(read_reviewed(other), table)


def test_refit_snippet_names_the_decisions_file_and_the_audits_settings(tmp_path, image_audit):
    audit = review.load_audit(image_audit)
    code = decisions.refit_snippet(audit)
    assert f"reviewed={str(decisions_path(image_audit))!r}" in code
    assert f"read_audit_metadata({str(image_audit)!r})['params']" in code and "SLNCleaner(**params)" in code
    rewritten = tmp_path / "rewritten.parquet"
    pd.read_parquet(image_audit).to_parquet(rewritten)  # no metadata, so no settings to repeat
    assert "SLNCleaner().fit(X, y, reviewed=" in decisions.refit_snippet(review.load_audit(rewritten))
    folder = review.load_audit(make_audit(tmp_path / "folder", files=True, n=12))
    assert f"X, y = {str(tmp_path / 'folder' / 'data')!r}, None" in decisions.refit_snippet(folder)


def test_the_refit_snippet_runs_as_shown_on_arrays(tmp_path):
    """Issue 18, item 6: on array data (the demo) the line was fit(X, reviewed=...) without y,
    which fails; and a sample that fits no class came back from correct_labels() with the label
    the reviewer rejected. The snippet now runs, and says which samples to keep."""
    from sklearn.datasets import load_digits

    from labelclean import SLNCleaner

    X, y = load_digits(return_X_y=True)
    X, y = X[:200], y[:200]
    path = SLNCleaner(epochs=1, random_state=0).fit(X, y).save_audit(tmp_path / "audit.parquet")
    audit = review.load_audit(path)
    store = DecisionStore.for_audit(audit)
    store.record(3, "none", None)
    store.record(5, "relabel", 7)
    code = decisions.refit_snippet(audit)
    assert "# X, y: the arrays of the first fit" in code
    scope = {"X": X, "y": y}
    exec(code, scope)
    assert scope["labels"][5] == 7 and scope["labels"][3] == y[3]  # what correct_labels() can say
    assert scope["keep"].tolist() == [i != 3 for i in range(200)]


def test_integer_labels_export_as_nullable_integers(tmp_path):
    probs = np.array([[0.9, 0.1], [0.1, 0.9], [0.95, 0.05], [0.02, 0.98]])
    table = build_audit(probs, np.array([0, 0, 1, 1]), np.array([3, 7]), [f"row {i}" for i in range(4)])
    path = tmp_path / "ints.parquet"
    write_audit(table, path, {"classes": [3, 7], "class_names": ["three", "seven"]})
    audit = review.load_audit(path)
    assert audit.name(7) == "seven" and audit.label_of("three") == 3
    fixes = decisions.build_corrections(audit, {0: {"decision": "none", "final_label": None}})
    assert str(fixes["final_label"].dtype) == "Int64" and pd.isna(fixes["final_label"][0])
    assert fixes["final_label"][1:].tolist() == table["corrected_label"][1:].tolist()


# --- the review checks the audit -------------------------------------------------------------


def test_a_review_in_rank_order_shows_when_the_audit_undercounts_ambiguous_noise(tmp_path):
    """Digits with 10% of labels moved to the class a held-out classifier confuses them with:
    the count, read where the networks are surest, misses it; fifty reviews show it, and a
    random check of a hundred counts it."""
    from sklearn.datasets import load_digits
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from app.header import check_text, tally_text
    from labelclean import SLNCleaner
    from labelclean.noise import instance_dependent_noise, symmetric_noise

    X, y = load_digits(return_X_y=True)
    confusion = cross_val_predict(
        LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.1),
        X,
        y,
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
        method="predict_proba",
    )
    verdicts = {}
    for name, noisy in (
        ("ambiguous", instance_dependent_noise(y, confusion, 0.1)),
        ("random", symmetric_noise(y, 0.1, 10, seed=0)),
        ("clean", y),
    ):
        cleaner = SLNCleaner(random_state=0).fit(X, noisy)
        audit = review.load_audit(cleaner.save_audit(tmp_path / f"{name}.parquet"))
        store = DecisionStore.for_audit(audit)
        for row in audit.ordered("loss").head(50).itertuples():  # the reviewer reads the true label
            truth = int(y[row.sample_id])
            store.record(row.sample_id, "keep" if truth == row.given_label else "relabel", truth)
        tally = review.review_tally(audit, store.as_dict())
        in_a_notebook = review_tally(read_audit(audit.path)[0], decisions_path(audit.path))
        assert (in_a_notebook.reviewed, in_a_notebook.wrong) == (tally.reviewed, tally.wrong)
        assert in_a_notebook.expected == pytest.approx(tally.expected)
        reviewed = audit.ordered("loss").head(50)["sample_id"].to_numpy()
        assert tally.reviewed == 50 and tally.wrong == int((noisy != y)[reviewed].sum())
        verdicts[name] = tally.verdict
        if name == "ambiguous":
            assert cleaner.noise_rate_["estimate"] < 0.05 and tally.wrong >= 40
            value, expected, note = tally_text(tally)
            assert value == f"{tally.wrong / 50:.0%}" and expected.startswith(
                f"▲ {tally.wrong} of 50; expected"
            )
            assert "counts too few wrong labels" in note
        # then a random check: the first 100 samples of its order (some reviewed already)
        for row in audit.ordered("check").head(100).itertuples():
            if row.sample_id not in store.ids():
                truth = int(y[row.sample_id])
                store.record(row.sample_id, "keep" if truth == row.given_label else "relabel", truth)
        check = review.check_count(audit, store.as_dict())
        assert check.reviewed >= 100 and check.low <= (noisy != y).mean() <= check.high
        value, interval, note = check_text(check, audit.frame)
        assert value == f"{check.estimate:.1%}" and interval.endswith(f"{check.reviewed} checked")
        overruled = name == "ambiguous"
        assert check.overrules(audit.frame) == overruled
        assert interval.startswith("▲ ") == overruled and ("trust the check" in note) == overruled
        if overruled:  # the corrections with the check's count are no worse, its flags find more
            applied = check.apply(audit.frame)
            flagged = {
                way: frame["is_suspicious"].to_numpy()
                for way, frame in (("audit", audit.frame), ("check", applied))
            }
            wrong = (noisy != y)[audit.frame["sample_id"].to_numpy()]
            assert (flagged["check"] & wrong).sum() > 2 * (flagged["audit"] & wrong).sum()
            right = {
                way: (
                    fixes.set_index("sample_id").loc[np.arange(len(y)), "final_label"].to_numpy() == y
                ).mean()
                for way, fixes in (
                    ("audit", decisions.build_corrections(audit, store.as_dict())),
                    ("check", decisions.build_corrections(audit, store.as_dict(), check)),
                )
            }
            assert right["check"] >= right["audit"]
    assert verdicts == {"ambiguous": "more", "random": "as expected", "clean": "as expected"}
