"""The dashboard's raw/aliased switch, in headless Chromium: the rows it shows are the read API's answer in
each view, and an aliased row lists the spellings it merged with their mentions.

One publication, two articles counted the way a worker counts them (``PendingPartition.add_article``, which
makes the aliased view with the shipped alias table), written in one flush."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumer.entities import article_entities
from consumer.pending import PendingPartition
from tests.browser.counts import GROUP_ID, TOPIC, dashboard_writer
from tests.browser.service import node_script, serve, sqlite_sink
from tests.browser.test_dashboard import CHROMIUM, REPO, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCRIPT = REPO / "tests/browser/views.e2e.mjs"
WINDOW = 1_595_203_200  # 2020-07-20T00:00:00Z
PUBLICATION = "Wire"


def seed(path: Path) -> None:
    pending = PendingPartition(None)
    found = [("Donald Trump", "PERSON"), ("Trump", "ORG"), ("Trump", "ORG")]
    pending.add_article(0, PUBLICATION, WINDOW, article_entities(found, set()))
    pending.add_article(1, PUBLICATION, WINDOW, article_entities([("US", "GPE")], set()))
    writer = dashboard_writer(path)
    try:
        writer.write(pending.to_flush(GROUP_ID, TOPIC, 0, 3600), writer.read_offset(GROUP_ID, TOPIC, 0))
    finally:
        writer.close()


def shown(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The read API's rows as the table shows them (the merged line only where other spellings were merged)."""
    rows = []
    for entity in entities:
        forms = entity.get("merged") or []
        own = len(forms) == 1 and (forms[0]["text"], forms[0]["label"]) == (entity["text"], entity["label"])
        spellings = " + ".join(f"{f['text']} ({f['label']}, {f['mentions']})" for f in forms)
        merged = None if not forms or own else f"= {spellings}"
        rows.append({k: entity[k] for k in ("text", "label", "mentions", "articles")} | {"merged": merged})
    return rows


def test_the_spellings_switch_shows_the_aliased_view_and_what_each_row_merged(tmp_path: Path) -> None:
    require_browser()
    seed(tmp_path / "counts.sqlite3")
    with serve(sqlite_sink(tmp_path / "counts.sqlite3"), tmp_path / "app.log") as base:
        answers = {
            view: httpx.get(f"{base}/publications/{PUBLICATION}/entities", params={"limit": 20, "view": view}).json()
            for view in ("raw", "aliased")
        }
        config = {"baseUrl": base, "chromium": str(CHROMIUM), "artifacts": str(tmp_path), "publication": PUBLICATION}
        script = node_script(SCRIPT, "VIEWS_E2E", config)
        out, _ = script.communicate(timeout=300)
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert not [r for r in records if "failed" in r], records
    raw, aliased, done = records
    assert (raw["url"], raw["view"]) == ("?publication=Wire&refresh=0", "raw")
    assert (aliased["url"], aliased["view"]) == ("?publication=Wire&view=aliased&refresh=0", "aliased")
    assert raw["rows"] == shown(answers["raw"]["entities"])
    assert aliased["rows"] == shown(answers["aliased"]["entities"])
    assert aliased["rows"] == [
        {
            "text": "Donald Trump",
            "label": "PERSON",
            "mentions": 3,
            "articles": 1,
            "merged": "= Trump (ORG, 2) + Donald Trump (PERSON, 1)",
        },
        {"text": "United States", "label": "GPE", "mentions": 1, "articles": 1, "merged": "= US (GPE, 1)"},
    ]
    assert done == {"done": True, "pageErrors": []}
