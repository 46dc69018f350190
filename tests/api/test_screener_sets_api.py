"""The screener set catalog over HTTP, and its hot reload from the YAML file."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import submit_screener
from tests.stack import Stack

SUMMARY_KEYS = {"name", "display_name", "description", "categories", "ticker_count"}


class TestListScreenerSets:
    def test_lists_the_shipped_sets_without_tickers(self, alice: httpx.Client) -> None:
        response = alice.get("/api/screener-sets")
        assert response.status_code == 200, response.text
        sets = {s["name"]: s for s in response.json()}
        assert {"us_large_caps", "tech_majors", "crypto_majors", "dividend_aristocrats"} <= set(
            sets
        )
        for one in sets.values():
            assert set(one) == SUMMARY_KEYS, one
            assert one["description"]
            assert one["categories"]
            assert one["ticker_count"] > 0
        assert 490 <= sets["us_large_caps"]["ticker_count"] <= 510


class TestGetScreenerSet:
    def test_one_set_has_its_tickers(self, alice: httpx.Client) -> None:
        response = alice.get("/api/screener-sets/tech_majors")
        assert response.status_code == 200, response.text
        found = response.json()
        assert {"AAPL", "MSFT", "NVDA"} <= set(found["tickers"])
        assert found["ticker_count"] == len(found["tickers"]) == len(set(found["tickers"]))
        assert "technology" in found["categories"]

    def test_unknown_set_is_404_listing_known_sets(self, alice: httpx.Client) -> None:
        response = alice.get("/api/screener-sets/tech_majorz")
        assert response.status_code == 404, response.text
        body = response.json()
        assert body["error"] == "ScreenerSetNotFound"
        assert "tech_majors" in body["detail"]


class TestListPresets:
    def test_lists_presets_with_their_criteria(self, alice: httpx.Client) -> None:
        response = alice.get("/api/screener-sets/presets")
        assert response.status_code == 200, response.text
        presets = {p["name"]: p for p in response.json()}
        assert {"value", "quality", "growth"} <= set(presets)
        assert presets["quality"]["criteria"]["return_on_equity_min"] == 0.15
        for one in presets.values():
            assert one["description"]
            assert one["criteria"], one
            assert None not in one["criteria"].values()


def replace_file(path: Path, text: str) -> None:
    """Swap the file atomically, with an mtime the API's catalog cannot mistake for the old one."""
    mtime = max(path.stat().st_mtime_ns, time.time_ns()) + 1_000_000_000
    staged = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    staged.write_text(text)
    os.utime(staged, ns=(mtime, mtime))
    os.replace(staged, path)


def with_set(original: str, name: str, tickers: str) -> str:
    """The file with one more set, first under `sets:`."""
    added = (
        f"sets:\n  {name}:\n    display_name: Hot reload test\n"
        f"    description: Added by a test while the API runs.\n"
        f"    categories: [equity, test]\n    tickers: [{tickers}]\n\n"
    )
    assert original.count("\nsets:\n") == 1
    return original.replace("\nsets:\n", "\n" + added, 1)


@pytest.fixture
def screener_sets_file(stack: Stack, alice: httpx.Client) -> Iterator[Path]:
    """The stack's catalog file, put back as it was (and reloaded) after the test."""
    path = Path(stack.env["FLOWDESK_SCREENER_SETS_PATH"])
    original = path.read_text()
    try:
        yield path
    finally:
        replace_file(path, original)
        alice.get("/api/screener-sets")  # the API reloads on the next read
        assert alice.get("/ready").json()["screener_sets"] == "ok"


class TestCatalogHotReload:
    def test_edits_are_served_without_restart_and_bad_edits_are_refused(
        self, alice: httpx.Client, screener_sets_file: Path
    ) -> None:
        name = f"hot_reload_{uuid.uuid4().hex[:8]}"
        original = screener_sets_file.read_text()

        replace_file(screener_sets_file, with_set(original, name, "AAPL, MSFT, KO"))
        listed = {s["name"]: s for s in alice.get("/api/screener-sets").json()}
        assert listed[name]["ticker_count"] == 3
        assert alice.get(f"/api/screener-sets/{name}").json()["tickers"] == ["AAPL", "MSFT", "KO"]
        run_id = submit_screener(alice, screener_set=name, top_n=3)
        snapshot = alice.get(f"/api/runs/{run_id}").json()["snapshot"]
        assert snapshot["screener_set"] == name
        assert snapshot["tickers"] == ["AAPL", "MSFT", "KO"]
        assert alice.get("/ready").json()["screener_sets"] == "ok"

        replace_file(screener_sets_file, with_set(original, name, "aapl, MSFT"))
        after_bad_edit = alice.get(f"/api/screener-sets/{name}")
        assert after_bad_edit.status_code == 200, "the last good catalog keeps serving"
        assert after_bad_edit.json()["tickers"] == ["AAPL", "MSFT", "KO"]
        ready = alice.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        assert set(ready.json()["checks"].values()) == {"ok"}
        problem = ready.json()["screener_sets"]
        assert name in problem
        assert "ticker 'aapl'" in problem
        assert "AAPL" in problem, "the message says how to fix it"

    def test_restored_file_drops_the_added_set(
        self, alice: httpx.Client, screener_sets_file: Path
    ) -> None:
        name = f"hot_reload_{uuid.uuid4().hex[:8]}"
        original = screener_sets_file.read_text()
        replace_file(screener_sets_file, with_set(original, name, "AAPL"))
        assert alice.get(f"/api/screener-sets/{name}").status_code == 200
        replace_file(screener_sets_file, original)
        assert alice.get(f"/api/screener-sets/{name}").status_code == 404
        assert alice.get("/ready").json()["screener_sets"] == "ok"

    def test_ready_reports_a_bad_edit_before_any_catalog_read(
        self, anonymous: httpx.Client, screener_sets_file: Path
    ) -> None:
        # An operator checks /ready right after editing the file; nothing else has read it.
        name = f"hot_reload_{uuid.uuid4().hex[:8]}"
        replace_file(screener_sets_file, with_set(screener_sets_file.read_text(), name, "aapl"))
        ready = anonymous.get("/ready")
        assert ready.status_code == 200, ready.text
        assert "ticker 'aapl'" in ready.json()["screener_sets"]
