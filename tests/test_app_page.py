"""The review app as a page: the Streamlit script headless (AppTest), and in a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from appdata import camera_photo, make_audit

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app import decisions, review  # noqa: E402
from app.decisions import DecisionStore  # noqa: E402
from app.review import Filters  # noqa: E402
from labelclean.auditfile import check_noise_rate, corrections_paths, decisions_path, review_order  # noqa: E402

MAIN = REPO / "app" / "main.py"


@pytest.fixture
def image_audit(tmp_path):
    return make_audit(tmp_path / "arrays", images=True, row_group_size=16)


def app_test(monkeypatch, audit_path: Path | None):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(sys, "argv", ["main.py"])
    monkeypatch.delenv("LABELCLEAN_ROOT", raising=False)
    monkeypatch.delenv("LABELCLEAN_AUDIT_DIR", raising=False)
    if audit_path is None:
        monkeypatch.delenv("LABELCLEAN_AUDIT", raising=False)
    else:
        monkeypatch.setenv("LABELCLEAN_AUDIT", str(audit_path))
    return AppTest.from_file(str(MAIN), default_timeout=60)


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def page_text(at) -> str:
    return "\n".join(str(getattr(node, "value", "")) for node in at.main) + "\n".join(
        str(getattr(node, "value", "")) for node in at.sidebar
    )


def stats(at) -> dict[str, str]:
    """The header's counts (its HTML: ``data-stat="Label"><div>Label</div><b>value</b>``)."""
    text = component(at, "header")["html"]
    return dict(re.findall(r'data-stat="([^"]+)"[^>]*><div>[^<]*</div><b>([^<]*)</b>', text))


def show(at, view: str) -> None:
    """What the header's view tabs do."""
    at.session_state["view"] = view
    at.run()


def component(at, name: str) -> dict | None:
    """The data a component (``grid`` or ``filters``) was given in the last run, or None."""
    for element in at.get("bidi_component"):
        if element.proto.id.endswith(f"-{name}"):  # a keyed element's id ends with its key
            return json.loads(element.proto.json)
    return None


def grid(at) -> dict:
    data = component(at, "grid")
    assert data is not None, "no grid on the page"
    return data


def test_app_opens_the_audit_from_the_environment(monkeypatch, image_audit):
    import streamlit

    at = app_test(monkeypatch, image_audit).run()
    assert_clean(at)
    full = pd.read_parquet(image_audit, columns=["is_suspicious"])
    assert stats(at) == {
        "Samples": f"{len(full):,}",
        "Flagged": f"{int(full.is_suspicious.sum()):,}",
        "Flag rate": f"{full.is_suspicious.mean():.1%}",
        "Reviewed": "0",
        "Flagged left to review": f"{int(full.is_suspicious.sum()):,}",
        "Wrong labels (estimate)": "31.0%",  # the audit's noise_rate, its interval on hover
    }
    assert "27.5% to 34.5%" in component(at, "header")["html"]
    audit = review.load_audit(image_audit)
    by_gain = audit.frame.iloc[review_order(audit.frame, "gain")]  # every sample, most valuable first
    cards = grid(at)["cards"]
    assert [c["id"] for c in cards] == [str(s) for s in by_gain["sample_id"][:24]]
    assert [c["pos"] for c in cards] == list(range(1, 25))
    assert "most valuable review first" in grid(at)["shown_html"]
    assert all(c["image"].startswith("data:image/png;base64,") for c in cards)
    assert "<kbd>S</kbd>" in grid(at)["keys_html"] and grid(at)["digit_keys"] == {
        "1": "cat",
        "2": "dog",
        "3": "fox",
        "4": "owl",
    }
    assert streamlit.config.get_option("client.toolbarMode") == "minimal"  # defect 7: no Deploy button


def test_app_takes_the_audit_from_the_command_line_and_the_sidebar(monkeypatch, image_audit, tmp_path):
    at = app_test(monkeypatch, tmp_path / "elsewhere.parquet")
    monkeypatch.setattr(sys, "argv", ["main.py", "--audit", str(image_audit)])
    at.run()
    assert_clean(at)
    assert str(image_audit) in component(at, "header")["html"]
    other = make_audit(tmp_path / "other", n=10).rename(image_audit.with_name("other.parquet"))
    at.button(key="pick_another").click().run()
    assert str(other) in at.selectbox(key="audit_pick").options  # found beside the open audit
    at.selectbox(key="audit_pick").set_value(str(other)).run()
    assert_clean(at)
    assert stats(at)["Samples"] == "10" and str(other) in component(at, "header")["html"]


def type_an_audit_path() -> None:
    """The audit box's callback on a typed path, as Streamlit runs it."""
    from pathlib import Path

    import streamlit as st

    from app import actions

    st.session_state.audit_pick = st.session_state.typed
    actions.open_picked(Path(st.session_state.allowed))


def test_the_sidebar_lists_and_opens_audits_in_its_folder_only(monkeypatch, image_audit, tmp_path):
    """Issue 18, item 7: "Open another audit…" listed and opened any Parquet file on the server."""
    from streamlit.testing.v1 import AppTest

    inside = make_audit(image_audit.parent / "sub", n=10)
    outside = make_audit(tmp_path / "outside", n=12)
    (image_audit.parent / "link.parquet").symlink_to(outside)
    at = app_test(monkeypatch, image_audit).run()
    at.button(key="pick_another").click().run()
    options = at.selectbox(key="audit_pick").options
    assert str(inside) in options and str(outside) not in options
    assert not any(o.endswith("link.parquet") for o in options)
    typed = AppTest.from_function(type_an_audit_path)  # a typed path: the box's own callback
    typed.session_state["audit_path"] = str(image_audit)
    typed.session_state["typed"], typed.session_state["allowed"] = str(outside), str(image_audit.parent)
    typed.run()
    assert f"Refused to open {outside}" in typed.session_state["save_error"]
    assert typed.session_state["audit_path"] == str(image_audit)
    typed.session_state["typed"] = str(image_audit.parent / "link.parquet")
    typed.run()
    assert typed.session_state["audit_path"] == str(image_audit)  # a link out is refused too

    monkeypatch.setenv("LABELCLEAN_AUDIT_DIR", str(tmp_path))  # the folder named when it started
    at = app_test(monkeypatch, image_audit)
    monkeypatch.setattr(sys, "argv", ["main.py", "--audit-dir", str(tmp_path)])
    at.run()
    at.button(key="pick_another").click().run()
    assert str(outside) in at.selectbox(key="audit_pick").options
    at.selectbox(key="audit_pick").set_value(str(outside)).run()
    assert_clean(at)
    assert stats(at)["Samples"] == "12"


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
    assert stats(at)["Samples"] == "1,347"

    at = app_test(monkeypatch, None).run()  # ./audit.parquet exists now: offer to open it
    at.button(key="open_demo").click().run()
    assert_clean(at)
    assert stats(at)["Samples"] == "1,347"


def test_app_shows_saved_decisions_and_exports_them(monkeypatch, image_audit):
    audit = review.load_audit(image_audit)
    top = audit.ordered("gain").iloc[0]  # the first card
    DecisionStore.for_audit(audit).record(top.sample_id, "accept", top.suggested_label)  # an earlier session

    at = app_test(monkeypatch, image_audit).run()
    assert_clean(at)
    assert stats(at)["Reviewed"] == "1"
    changed = str(top.suggested_label) != str(top.given_label)
    assert stats(at)["Wrong among reviewed"] == f"{changed:.0%}"  # the review checks the audit
    assert (
        f"{int(changed)} of 1; expected {top.mislabel_prob:,.0f}</small>" in component(at, "header")["html"]
    )
    card = grid(at)["cards"][0]
    assert card["id"] == str(top.sample_id) and card["decision"] == f"accepted → {top.suggested_label}"

    show(at, "Export")
    assert_clean(at)
    assert component(at, "filters") is None  # defect 7: no filters where they do nothing
    code = "\n".join(c.value for c in at.code)
    assert f"reviewed={str(decisions_path(image_audit))!r}" in code
    at.button(key="export").click().run()
    assert_clean(at)
    csv_path, parquet_path = corrections_paths(image_audit)
    fixes = pd.read_parquet(parquet_path).set_index("sample_id")
    assert fixes.loc[top.sample_id, "decided_by"] == "reviewer: accept"
    assert list(pd.read_csv(csv_path).columns) == list(decisions.CORRECTION_COLUMNS)
    assert {"download_csv", "download_parquet"} <= {b.key for b in at.get("download_button")}
    assert any("fixes = pd.read_parquet" in c.value for c in at.code)


def test_export_offers_the_random_checks_count_where_it_overrules_the_audit(monkeypatch, image_audit):
    """A reviewer who finds every label of a random check wrong overrules the audit's count:
    the Export view says so and, ticked by default, writes the audit decided again with the
    check's count for the samples not reviewed."""
    audit = review.load_audit(image_audit)
    store = DecisionStore.for_audit(audit)
    for row in audit.ordered("check").head(40).itertuples():  # four of each tenth, all wrong
        other = next(c for c in audit.classes if str(c) != str(row.given_label))
        store.record(row.sample_id, "relabel", other)
    check = review.check_count(audit, store.as_dict())
    assert check.estimate == pytest.approx(1) and check.overrules(audit.frame) == 1

    at = app_test(monkeypatch, image_audit).run()
    assert stats(at)["Wrong labels (your check)"] == "100.0%"
    show(at, "Export")
    assert_clean(at)
    assert "which the check rules out" in "\n".join(i.value for i in at.info)
    assert at.checkbox(key="use_check").value
    at.button(key="export").click().run()
    assert_clean(at)
    fixes = pd.read_parquet(corrections_paths(image_audit)[1]).set_index("sample_id")
    rest = fixes[~fixes["decided_by"].str.startswith("reviewer: ")]
    assert (
        len(rest) == len(fixes) - 40 and (rest["decided_by"] == "auto: corrected_label, random check").all()
    )
    applied = check.apply(audit.frame).set_index("sample_id")
    assert (rest["final_label"].astype(str) == applied.loc[rest.index, "corrected_label"].astype(str)).all()
    at.checkbox(key="use_check").uncheck().run()
    at.button(key="export").click().run()
    fixes = pd.read_parquet(corrections_paths(image_audit)[1])
    assert (fixes["decided_by"] != "auto: corrected_label, random check").all()


def pick_pair_in_the_overview(at, pair) -> None:
    show(at, "Overview")
    assert_clean(at)
    assert component(at, "filters") is None  # defect 7
    at.selectbox(key="pair_pick").set_value(pair).run()
    assert_clean(at)


def test_a_picked_pair_shows_its_samples_whatever_the_other_filters(monkeypatch, image_audit):
    """Defect 4: with a class filter on, picking another class's pair showed 0 of 0."""
    audit = review.load_audit(image_audit)
    pair = tuple(audit.pairs.iloc[0][["given_label", "suggested_label"]])
    other = next(c for c in audit.classes if c not in pair)
    at = app_test(monkeypatch, image_audit).run()
    at.session_state["classes"] = [other]
    at.session_state["score_range"] = (0.99, 1.0)
    at.session_state["status"] = "decided"
    at.run()
    pick_pair_in_the_overview(at, pair)
    expected = review.filter_audit(audit.ordered("gain"), Filters(pair=pair, flagged_only=True))
    assert len(expected) > 0
    assert [c["id"] for c in grid(at)["cards"]] == [str(s) for s in expected["sample_id"][:24]]
    assert component(at, "filters")["chosen"] == [] and component(at, "filters")["pair"] == 0


def test_bulk_accept_saves_and_shows_no_help_text(monkeypatch, image_audit):
    """Defect 1: a bare ``st.error(...) if ... else st.toast(...)`` drew Streamlit's help."""
    audit = review.load_audit(image_audit)
    pair = tuple(audit.pairs.iloc[0][["given_label", "suggested_label"]])
    at = app_test(monkeypatch, image_audit).run()
    pick_pair_in_the_overview(at, pair)
    shown = [c["id"] for c in grid(at)["cards"]]
    at.button(key="bulk_ask").click().run()
    at.button(key="bulk_accept").click().run()
    assert_clean(at)
    assert not at.get("help") and "DeltaGenerator" not in page_text(at)
    saved = json.loads(decisions_path(image_audit).read_text())
    assert sorted(saved) == sorted(shown) and {d["decision"] for d in saved.values()} == {"accept"}
    assert stats(at)["Reviewed"] == str(len(shown))

    def full_disk(path, write):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(decisions, "atomic_write", full_disk)  # a failed save is said, not drawn as help
    at.session_state["pair"] = None
    show(at, "Review")
    at.button(key="bulk_ask").click().run()
    at.button(key="bulk_accept").click().run()
    assert not at.exception and not at.get("help") and "DeltaGenerator" not in page_text(at)
    assert "No space left on device" in at.error[0].value


def test_a_bulk_accept_confirmation_holds_for_its_own_view_only(monkeypatch, image_audit):
    """Issue 18: armed for a pair's few samples, the confirmation showed "Accept 60" on the
    next filter; now another view asks again, and a stale confirmation accepts nothing."""
    audit = review.load_audit(image_audit)
    pair = tuple(audit.pairs.iloc[-1][["given_label", "suggested_label"]])
    few = review.filter_audit(audit.frame, Filters(pair=pair, flagged_only=True))
    at = app_test(monkeypatch, image_audit).run()
    pick_pair_in_the_overview(at, pair)
    at.button(key="bulk_ask").click().run()
    stale = at.button(key="bulk_accept")
    assert stale.label == f"Accept {len(few)} suggestions"
    at.button(key="clear_pair").click().run()  # another view: every flagged sample
    assert_clean(at)
    assert not [b for b in at.button if b.key == "bulk_accept"]
    assert at.button(key="bulk_ask").label.startswith(f"Bulk accept the {int(audit.flagged.sum())} ")
    at.session_state["bulk_confirm"] = "from another view|5"
    at.run()
    assert not [b for b in at.button if b.key == "bulk_accept"] and not decisions_path(image_audit).exists()


def test_an_audit_rewritten_by_pandas_opens_with_a_note(monkeypatch, image_audit, tmp_path):
    """Defect 5: a pandas round trip dropped the metadata and the app refused the file."""
    rewritten = tmp_path / "rewritten.parquet"
    pd.read_parquet(image_audit).to_parquet(rewritten)
    at = app_test(monkeypatch, rewritten).run()
    assert not at.exception and not at.error
    assert "no labelclean metadata" in at.warning[0].value
    assert stats(at)["Samples"] == "60" and len(grid(at)["cards"]) > 0


def test_app_refuses_images_outside_the_root(monkeypatch, tmp_path):
    path = make_audit(tmp_path / "folder", files=True, n=30)
    table = pq.read_table(path)
    frame = table.to_pandas()
    top = frame.index[review_order(frame, "gain")[0]]  # the first card
    frame.loc[top, "source"] = str(tmp_path / "folder" / "data" / ".." / ".." / ".." / "etc" / "passwd")
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(table.schema.metadata), path
    )
    at = app_test(monkeypatch, path).run()
    assert_clean(at)
    first, *rest = grid(at)["cards"]
    assert first["image"] is None and first["placeholder"]["title"] == "Refused"
    assert "outside the dataset root" in first["placeholder"]["tooltip"]
    assert all(c["image"].startswith("data:image/png") for c in rest)


# --- a real browser --------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


def browser_or_skip():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
    )


@contextmanager
def app_in_browser(tmp_path: Path, path: Path, tabs: int = 1) -> Iterator[list]:
    """The app on ``path`` served locally, open in ``tabs`` browser tabs (each its own session),
    the grid drawn in each."""
    sync_api = browser_or_skip()
    from labelclean.bench.app import streamlit_server

    with (
        streamlit_server(MAIN, tmp_path / "streamlit.log", "--audit", str(path)) as url,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        pages = []
        for _ in range(tabs):
            page = browser.new_context(viewport={"width": 1600, "height": 1100}).new_page()
            page.set_default_timeout(30_000)
            page.goto(url)
            wait_drawn(page, 0)
            pages.append(page)
        try:
            yield pages
        finally:
            browser.close()


def wait_drawn(page, before: int) -> None:
    from labelclean.bench.app import GRID_DRAWN

    page.wait_for_function(GRID_DRAWN, arg=before, timeout=30_000, polling=20)


def press(page, key: str) -> None:
    """Press a key and wait until the grid has drawn the app's answer."""
    from labelclean.bench.app import run_drawn

    before = run_drawn(page)
    page.keyboard.press(key)
    wait_drawn(page, before)


def test_browser_review_by_mouse_and_keyboard(tmp_path):
    browser_or_skip()
    from labelclean.bench.app import card, run_drawn

    path = make_audit(tmp_path / "folder", files=True, n=40)
    audit = review.load_audit(path)
    ids = audit.ordered("gain")["sample_id"].tolist()  # the default order: every sample
    saved = lambda: {int(k): v for k, v in json.loads(decisions_path(path).read_text()).items()}  # noqa: E731
    with app_in_browser(tmp_path, path) as (page,):
        assert page.get_by_text("Deploy").count() == 0  # defect 7
        first = card(page, 0)
        assert first.get_attribute("data-id") == str(ids[0])
        assert first.locator("img").evaluate("img => img.naturalWidth") == 8  # the file, served from the root

        before = run_drawn(page)
        first.locator("[data-act=accept]").click()
        wait_drawn(page, before)
        first.get_by_text(f"accepted → {audit.row(ids[0]).suggested_label}").wait_for()
        assert saved()[ids[0]]["decision"] == "accept"
        assert page.locator(".lc-card.lc-focus").get_attribute("data-id") == str(ids[1])  # moved on

        press(page, "k")  # keep, on the focused card
        press(page, "4")  # relabel by digit: the 4th class
        page.keyboard.press("r")  # relabel by typing a class name (a unique prefix is enough)
        page.keyboard.type("do")
        press(page, "Enter")
        press(page, "x")  # fits no class
        decisions_now = saved()
        assert decisions_now[ids[1]]["final_label"] == audit.row(ids[1]).given_label
        assert decisions_now[ids[2]]["final_label"] == "owl" and decisions_now[ids[3]]["final_label"] == "dog"
        assert decisions_now[ids[4]]["decision"] == "none"
        press(page, "u")  # undo the last decision
        assert ids[4] not in saved() and len(saved()) == 4
        assert page.locator(".lc-card.lc-focus").get_attribute("data-id") == str(ids[4])

        page.keyboard.press("ArrowRight")
        assert page.locator(".lc-card.lc-focus").get_attribute("data-id") == str(ids[5])
        press(page, "Enter")  # the larger view
        view = page.locator(".lc-detail")
        assert view.get_attribute("data-id") == str(ids[5])
        assert view.locator(".lc-detail-pic img").evaluate("img => img.naturalWidth") == 8  # full resolution
        assert audit.source(audit.row(ids[5]).file_row) in view.locator(".lc-source").inner_text()
        assert view.locator(".lc-class").count() >= 1 and view.locator(".lc-near").count() >= 5
        page.screenshot(path=str(tmp_path / "larger-view.png"))
        press(page, "ArrowRight")
        assert page.locator(".lc-detail").get_attribute("data-id") == str(ids[6])
        press(page, "a")  # decide in the larger view: it moves on to the next sample
        assert saved()[ids[6]]["decision"] == "accept"
        assert page.locator(".lc-detail").get_attribute("data-id") == str(ids[7])
        press(page, "Escape")
        assert page.locator(".lc-overlay").is_hidden()

        before = run_drawn(page)
        page.locator(".lc-filters select[name=per_page]").select_option("12")
        wait_drawn(page, before)
        press(page, "]")  # the next page
        assert card(page, 0).get_attribute("data-id") == str(ids[12])
        assert "page 2" in page.locator(".lc-headbar").inner_text()

        page.reload()  # a new session: the decisions are still there
        wait_drawn(page, 0)
        card(page, 0).get_by_text(f"accepted → {audit.row(ids[0]).suggested_label}").wait_for()
        page.screenshot(path=str(tmp_path / "review.png"))
        shutil.copy(tmp_path / "review.png", "/tmp/app_screenshot.png")

        before = run_drawn(page)
        page.locator(".lc-filters [name=class_add]").fill("fox")
        page.locator(".lc-filters [name=class_add]").press("Enter")
        wait_drawn(page, before)
        shown = [
            page.locator(".lc-card").nth(i).get_attribute("data-id")
            for i in range(page.locator(".lc-card").count())
        ]
        expected = review.filter_audit(audit.ordered("gain"), Filters(classes=("fox",)))
        assert shown == [str(s) for s in expected["sample_id"][:24]]

        page.locator(".lc-tabs [data-view=Export]").click()
        page.get_by_role("button", name="Write the corrections").click()
        page.get_by_text("Download CSV").first.wait_for()
    fixes = pd.read_parquet(corrections_paths(path)[1]).set_index("sample_id")
    assert fixes.loc[ids[0], "decided_by"] == "reviewer: accept"
    assert fixes.loc[ids[4], "decided_by"] == "auto: corrected_label"  # its decision was undone


KEYS_AT_ONCE = """([keys, target]) => {
    // Every key in one task: 0 ms apart, none drawn in between.
    const at = target ? document.querySelector(target) : document.body;
    for (const key of keys) {
        at.dispatchEvent(new KeyboardEvent("keydown", {key, bubbles: true, cancelable: true}));
    }
}"""
SETTLED = (
    "() => { const r = document.querySelector('[data-lc-run]'); return !!r && r.dataset.lcPending === '0'; }"
)


def keys_at_once(page, keys: str) -> None:
    page.evaluate(KEYS_AT_ONCE, [list(keys), None])


def settled(page) -> dict:
    """Wait until the server has acknowledged every action; the grid's counters."""
    page.wait_for_function(SETTLED, timeout=30_000, polling=20)
    return page.evaluate(
        "() => { const r = document.querySelector('[data-lc-run]');"
        " return {refused: +(r.dataset.lcRefused || 0), alert: document.querySelector('.lc-alert').innerText,"
        " alert_shown: !document.querySelector('.lc-alert').hidden}; }"
    )


def focused(page) -> str:
    return page.locator(".lc-card.lc-focus").get_attribute("data-id")


def test_browser_keys_at_0_ms_are_all_saved_or_refused_on_screen(tmp_path):
    """Issue 18, item 1: A pressed ten times at 0 ms gaps saved 3; now every key is saved, or
    refused where it would act on a sample not on screen yet (the next page, the next sample of
    the larger view still loading), with a message that says so."""
    browser_or_skip()
    from labelclean.bench.app import card

    path = make_audit(tmp_path / "folder", files=True, n=60)
    audit = review.load_audit(path)
    ids = [str(i) for i in audit.ordered("gain")["sample_id"]]

    def saved() -> dict:
        return {k: v["decision"] for k, v in json.loads(decisions_path(path).read_text()).items()}

    with app_in_browser(tmp_path, path) as (page,):
        keys_at_once(page, "a" * 10)
        assert settled(page)["refused"] == 0
        assert saved() == dict.fromkeys(ids[:10], "accept")
        assert focused(page) == ids[10]
        for i in range(10):
            card(page, i).get_by_text("✓ accepted").wait_for()

        card(page, 20).locator(".lc-meta").click()  # 4 cards before the end of the page
        keys_at_once(page, "k" * 8)
        counters = settled(page)
        assert counters["refused"] == 4 and counters["alert_shown"]
        assert "page 2 is loading" in counters["alert"] and "(4 times)" in counters["alert"]
        assert saved() == {**dict.fromkeys(ids[:10], "accept"), **dict.fromkeys(ids[20:24], "keep")}
        assert card(page, 0).get_attribute("data-id") == ids[24] and focused(page) == ids[24]
        assert "page 2" in page.locator(".lc-headbar").inner_text()

        page.keyboard.press("Enter")  # the larger view, drawn at once from the card
        assert page.locator(".lc-detail").get_attribute("data-id") == ids[24]
        page.wait_for_selector(".lc-detail[data-full='1']")
        keys_at_once(page, "x" * 6)  # the view knows 4 samples after this one
        counters = settled(page)
        assert counters["refused"] == 5 and "the next sample is loading" in counters["alert"]
        assert [k for k, v in saved().items() if v == "none"] == ids[24:29]
        assert page.locator(".lc-detail").get_attribute("data-id") == ids[29]


def test_browser_a_random_check_counts_the_wrong_labels_in_the_header(tmp_path):
    """A reviewer picks the random-check order and decides its first twenty cards at full key
    rate: every sample is shown, flagged or not, in the check's order, and once each tenth of the
    ranking has two reviews the header counts the wrong labels from them."""
    browser_or_skip()
    from labelclean.bench.app import card, run_drawn

    path = make_audit(tmp_path / "folder", files=True, n=60)
    audit = review.load_audit(path)
    ids = [str(i) for i in audit.ordered("check")["sample_id"]]
    tile = '.lc-stat[data-stat="Wrong labels (your check)"]'
    with app_in_browser(tmp_path, path) as (page,):
        before = run_drawn(page)
        page.locator(".lc-filters select[name=order]").select_option("check")
        wait_drawn(page, before)
        assert [card(page, i).get_attribute("data-id") for i in range(3)] == ids[:3]
        assert "of 60 samples ·" in page.locator(".lc-headbar").inner_text()  # flagged or not
        keys_at_once(page, "x" + "k" * 18)  # one short of two reviews in every tenth
        assert settled(page)["refused"] == 0 and page.locator(tile).count() == 0
        press(page, "k")
        check = check_noise_rate(audit.frame, decisions_path(path))
        assert check.reviewed == 20 and check.estimate == pytest.approx(0.05)  # 1 of 2 in a tenth
        assert page.locator(f"{tile} b").inner_text() == "5.0%"
        assert "20 checked" in page.locator(f"{tile} small").inner_text()


ROWS_READ_APART = """() => [...document.querySelectorAll('.lc-class')].map((row) => [
    row.querySelector('.lc-p').textContent,
    row.querySelector('.lc-p').getBoundingClientRect().left - row.querySelector('.lc-cname').getBoundingClientRect().right,
])"""


def test_browser_two_tabs_deciding_at_once_lose_nothing(tmp_path):
    """Issue 18, items 1 and 4: keys in two tabs at once are all saved; a class's chance reads
    apart from its name (the pill "2 0%" read as 20%)."""
    browser_or_skip()
    from labelclean.bench.app import card

    digits = np.array([str(d) for d in range(10)])  # class "2" at 0.3% read as "20%" beside its name
    path = make_audit(tmp_path / "folder", files=True, n=60, classes=digits)
    ids = [str(i) for i in review.load_audit(path).ordered("gain")["sample_id"]]
    with app_in_browser(tmp_path, path, tabs=2) as tabs:
        rows = tabs[0].evaluate(ROWS_READ_APART)
        assert len(rows) >= 24 * 3 and all(gap > 4 for _, gap in rows)  # name and chance apart
        shown = {text for text, _ in rows}
        assert "<1%" in shown and "0%" not in shown and "100%" not in shown
        card(tabs[1], 12).locator(".lc-meta").click()
        for _ in range(6):
            keys_at_once(tabs[0], "a")
            keys_at_once(tabs[1], "k")
        for tab in tabs:
            assert settled(tab)["refused"] == 0
    decided = {k: v["decision"] for k, v in json.loads(decisions_path(path).read_text()).items()}
    assert decided == {**dict.fromkeys(ids[:6], "accept"), **dict.fromkeys(ids[12:18], "keep")}


LONG = "a class whose name is far too long to fit on any card"


def test_browser_photos_zoom_long_names_and_keys_back_from_the_sidebar(tmp_path):
    """Issue 18, item 5: the larger view sends a photo once and zooms; shrunk photos are not
    pixelated; long class names stay inside their cards; Esc in a sidebar control gives the
    keys back to the grid (a hint says so while the control has them)."""
    browser_or_skip()
    from labelclean.bench.app import card, run_drawn

    path = make_audit(tmp_path / "folder", files=True, n=40, classes=np.array(["cat", "dog", LONG, "owl"]))
    audit = review.load_audit(path)
    ids = [str(i) for i in audit.ordered("gain")["sample_id"]]
    camera_photo(Path(audit.source(audit.row(int(ids[0])).file_row)))
    with app_in_browser(tmp_path, path) as (page,):
        assert card(page, 0).locator("img").get_attribute("class") == ""  # a shrunk photo: smooth
        assert card(page, 1).locator("img").get_attribute("class") == "lc-sharp"  # 8 pixels, scaled up
        assert page.evaluate(
            "() => [...document.querySelectorAll('.lc-card')].every(c => c.scrollWidth <= c.clientWidth)"
        )
        long_name = page.locator(".lc-cname", has_text=LONG).first
        assert long_name.evaluate("el => el.scrollWidth > el.clientWidth")  # cut with an ellipsis
        assert LONG in long_name.evaluate("el => el.closest('.lc-class').title")

        box = page.locator(".lc-filters [name=class_add]")
        box.focus()
        assert page.locator(".lc-hint").is_visible() and "Classes" in page.locator(".lc-hint").inner_text()
        page.keyboard.press("Escape")
        assert page.locator(".lc-hint").is_hidden()
        assert page.evaluate("() => document.activeElement.classList.contains('lc-root')")
        press(page, "k")  # the keys are the grid's again
        assert json.loads(decisions_path(path).read_text())[ids[0]]["decision"] == "keep"
        before = run_drawn(page)
        page.locator(".lc-filters select[name=columns]").select_option("4")
        wait_drawn(page, before)
        assert page.evaluate("() => document.activeElement.tagName") != "SELECT"  # handed back at once
        press(page, "u")  # undo the keep: the photo's card has the focus again

        before = run_drawn(page)
        page.keyboard.press("Enter")
        wait_drawn(page, before)
        picture = page.locator(".lc-detail[data-full='1'] .lc-detail-pic img")
        assert picture.evaluate("img => img.naturalWidth") == 1600
        fitted = picture.evaluate("img => img.clientWidth")
        page.keyboard.press("z")
        assert page.locator(".lc-detail-pic.lc-zoom").count() == 1
        assert picture.evaluate("img => img.clientWidth") == 1600 > fitted
        page.keyboard.press("z")
        press(page, "a")  # decided: on to the next sample
        assert page.locator(".lc-detail").get_attribute("data-id") == ids[1]
        press(page, "ArrowLeft")  # back to the photo: the browser still has its picture
        assert page.evaluate("() => window.__labelcleanGrid.latest.data.detail.image") is None
        assert picture.evaluate("img => img.naturalWidth") == 1600


def this_hosts_address() -> str | None:
    """An address of this machine other than the loopback, if it has one (no packet is sent)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_labelclean_review_serves_the_app_to_this_computer_only(tmp_path, image_audit):
    """Issue 18, item 7: the README's command served the app on every interface, with usage
    statistics on. ``labelclean review AUDIT`` binds 127.0.0.1 and turns them off."""
    import socket
    import time
    import urllib.request

    from labelclean.bench.app import free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = tmp_path / "review.log"
    command = [
        sys.executable,
        "-m",
        "labelclean",
        "review",
        str(image_audit),
        "--port",
        str(port),
        "--no-browser",
    ]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        address = this_hosts_address()
        if address is not None:
            with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
                pass
        text = log.read_text()
        assert f"http://127.0.0.1:{port}" in text and "Collecting usage statistics" not in text
    finally:
        server.terminate()
        server.wait(timeout=30)
    done = subprocess.run(
        [sys.executable, "-m", "labelclean", "review", str(tmp_path / "nope.parquet")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and f"no audit file at {tmp_path / 'nope.parquet'}" in done.stderr
