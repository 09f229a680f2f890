"""End-to-end test of the dashboard in headless Chromium: what the page shows equals the read API's answer.

The real HTTP service (``python -m producer``, SQLite sink in tmp_path) serves the page. Counts come from the
consumer's counting code run on real sample articles and written through the sink API
(:mod:`tests.browser.counts`). The browser scenario is ``tests/browser/dashboard.e2e.mjs`` (playwright-core
driving Debian's chromium); it prints what the page shows after each step and this test checks each
observation against the read API at that moment. Skipped with the reason when chromium, node or
node_modules are missing, unless ``REQUIRE_BROWSER=1`` (CI): then it fails.
"""

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumer.nlp import load_ner
from consumer.settings import ConsumerSettings
from tests.browser.counts import count_articles, dashboard_writer
from tests.browser.service import node_script, serve, sqlite_sink, unreachable_sink

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests/browser/dashboard.e2e.mjs"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
INSTALL_HINT = "apt-get install chromium chromium-driver; npm ci"

CNN, WASHINGTON_TIMES, POLITICO = "CNN (Web News)", "Washington Times", "Politico"
FIRST_COUNTED = [*range(0, 9), *range(200, 207), *range(400, 404)]
"""Indexes into the sample file: 9 CNN, 7 Washington Times and 4 Politico articles, all dated."""
COUNTED_LATER = [207, 208]
"""Two more Washington Times articles, written while the page is open."""


def require_browser() -> None:
    missing = [
        what
        for what, present in (
            (f"chromium at {CHROMIUM}", CHROMIUM.exists()),
            ("node", shutil.which("node") is not None),
            ("node_modules/playwright-core", (REPO / "node_modules/playwright-core").is_dir()),
        )
        if not present
    ]
    if missing:
        reason = f"browser test needs {', '.join(missing)} ({INSTALL_HINT})"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


def api(base: str, path: str, **params: Any) -> Any:
    response = httpx.get(f"{base}{path}", params={k: v for k, v in params.items() if v is not None}, timeout=10)
    response.raise_for_status()
    return response.json()


def shown(entities: list[dict[str, Any]], *, with_labels: bool = True) -> list[dict[str, Any]]:
    """The read API's entities as the page shows them (labels hidden while one label is filtered)."""
    return [{**entity, "label": entity["label"] if with_labels else None} for entity in entities]


def day_after(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


@dataclass
class Scenario:
    """What the checks need: the service, the custom range chosen, and the views observed so far."""

    base: str
    custom: dict[str, str]
    views: dict[str, Any] = field(default_factory=dict)

    def entities(self, publication: str, **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = api(self.base, f"/publications/{publication}/entities", **params)
        return answer


def test_dashboard_shows_the_read_api_counts(tmp_path: Path, sample_articles: list[dict[str, Any]]):
    require_browser()
    articles = [sample_articles[i] for i in FIRST_COUNTED]
    times_days = sorted(a["published_at"][:10] for a in articles if a["publication"] == WASHINGTON_TIMES)
    assert len(times_days) == 7

    nlp = load_ner(ConsumerSettings().ner_model)
    sink = dashboard_writer(tmp_path / "counts.sqlite3")
    try:
        with (
            serve(sqlite_sink(tmp_path / "counts.sqlite3"), tmp_path / "app.log") as base,
            serve(unreachable_sink(), tmp_path / "unreachable-app.log") as broken,
        ):
            scenario = Scenario(base, {"from": times_days[1], "to": times_days[4]})
            config = {
                "baseUrl": base,
                "brokenUrl": broken,
                "chromium": str(CHROMIUM),
                "publications": [CNN, WASHINGTON_TIMES, POLITICO],
                "custom": scenario.custom,
                "artifacts": str(tmp_path),
            }
            writes = {
                "nothing-counted": lambda: count_articles(sink, nlp, articles),
                "counting-more": lambda: count_articles(sink, nlp, [sample_articles[i] for i in COUNTED_LATER]),
            }
            run_scenario(config, writes, scenario, tmp_path)
    finally:
        sink.close()
    assert list(scenario.views) == list(CHECKS)


def run_scenario(
    config: dict[str, Any], writes: dict[str, Callable[[], None]], scenario: Scenario, tmp_path: Path
) -> None:
    """Run the browser script; check each observation as it comes (before any later write); do the writes
    the script waits for."""
    stderr_path = tmp_path / "browser.stderr"
    with stderr_path.open("w") as stderr:
        browser = node_script(SCRIPT, "DASHBOARD_E2E", config, stderr)
    assert browser.stdin is not None and browser.stdout is not None
    try:
        for line in browser.stdout:
            record = json.loads(line)
            step = record["step"]
            if step == "failed":
                pytest.fail(f"browser scenario failed: {record['error']}\nlast view: {record['view']}")
            if step == "done":
                assert record["pageErrors"] == [], "JavaScript errors on the page"
                assert record["cspViolations"] == [], "Content-Security-Policy violations on the page"
                break
            if record.get("waiting"):
                writes[step]()
                browser.stdin.write("go\n")
                browser.stdin.flush()
                continue
            CHECKS[step](record["view"], scenario)
            scenario.views[step] = record["view"]
        assert browser.wait(timeout=60) == 0, stderr_path.read_text()
    finally:
        if browser.poll() is None:
            browser.kill()
            browser.wait()


# ---- the checks, one per step of tests/browser/dashboard.e2e.mjs, in its order ----


def check_nothing_counted(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["panels"] == []
    assert view["message"].startswith("No articles counted yet - post some to /articles")
    assert view["notice"] == ""


def check_first_counts(view: dict[str, Any], scenario: Scenario) -> None:
    publications = api(scenario.base, "/publications")
    assert [(row["publication"], row["articles"]) for row in publications] == [
        (CNN, 9),
        (WASHINGTON_TIMES, 7),
        (POLITICO, 4),
    ]
    assert view["options"] == [f"{row['publication']} ({row['articles']} articles)" for row in publications]
    assert view["values"]["publication-1"] == CNN  # most articles first: the default
    assert view["url"] == "?publication=CNN+%28Web+News%29&refresh=1"
    [panel] = view["panels"]
    assert panel["heading"] == CNN
    assert panel["summary"].startswith("9 articles in all time")
    assert panel["entities"] == shown(scenario.entities(CNN)["entities"])
    assert len(panel["entities"]) == 20
    assert panel["bars"] > 0


def check_pick(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["values"]["publication-1"] == WASHINGTON_TIMES
    assert view["url"] == "?publication=Washington+Times&refresh=1"
    assert view["title"] == "Washington Times · newscounts"
    [panel] = view["panels"]
    assert panel["summary"].startswith("7 articles in all time")
    assert panel["entities"] == shown(scenario.entities(WASHINGTON_TIMES)["entities"])


def check_last_hour(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["url"] == "?publication=Washington+Times&range=1h&refresh=1"
    [panel] = view["panels"]
    assert panel["summary"].startswith("0 articles in ")
    assert panel["entities"] == []
    assert panel["bars"] == 0
    assert panel["state"].startswith(f"No articles of {WASHINGTON_TIMES} in ")
    assert "Its counted articles run from " in panel["state"]


def check_custom_prefilled(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["visible"]["from"] and view["visible"]["to"]
    [panel] = view["panels"]
    # Prefilled with the publication's whole span: the same counts as all time.
    assert panel["summary"].startswith("7 articles in ")
    start, end = view["values"]["from"], day_after(view["values"]["to"])
    answer = scenario.entities(WASHINGTON_TIMES, start=start, end=end)
    everything = scenario.entities(WASHINGTON_TIMES)  # the same counts; the answers say different ranges
    assert (answer["articles"], answer["entities"]) == (everything["articles"], everything["entities"])
    assert panel["entities"] == shown(answer["entities"])


def check_custom_from(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["values"]["from"] == scenario.custom["from"]


def check_custom(view: dict[str, Any], scenario: Scenario) -> None:
    custom = scenario.custom
    assert view["url"] == (
        f"?publication=Washington+Times&range=custom&from={custom['from']}&to={custom['to']}&refresh=1"
    )
    answer = scenario.entities(WASHINGTON_TIMES, start=custom["from"], end=day_after(custom["to"]))
    assert 0 < answer["articles"] < 7  # a different answer from all time: the page must have followed
    [panel] = view["panels"]
    assert panel["summary"].startswith(f"{answer['articles']} articles in {custom['from']} – {custom['to']} UTC")
    assert panel["entities"] == shown(answer["entities"])
    assert panel["entities"] != scenario.views["pick"]["panels"][0]["entities"]
    assert panel["bars"] > 0


def check_back(view: dict[str, Any], scenario: Scenario) -> None:
    before = scenario.views["custom-from"]
    assert view["url"] == before["url"]
    assert view["values"] == before["values"]
    assert view["panels"] == before["panels"]


def check_forward(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["url"] == scenario.views["custom"]["url"]
    assert view["panels"] == scenario.views["custom"]["panels"]


def check_all_time(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["url"] == "?publication=Washington+Times&refresh=1"
    assert view["panels"][0]["entities"] == scenario.views["pick"]["panels"][0]["entities"]


def check_label(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["url"] == "?publication=Washington+Times&label=PERSON&refresh=1"
    answer = scenario.entities(WASHINGTON_TIMES, label="PERSON")
    assert answer["entities"] and {entity["label"] for entity in answer["entities"]} == {"PERSON"}
    assert view["panels"][0]["entities"] == shown(answer["entities"], with_labels=False)


def check_keyboard(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["values"]["top"] == "50"
    assert view["url"] == "?publication=Washington+Times&label=PERSON&top=50&refresh=1"
    assert view["active"] == "top"
    answer = scenario.entities(WASHINGTON_TIMES, label="PERSON", limit=50)
    assert len(answer["entities"]) > 20
    assert view["panels"][0]["entities"] == shown(answer["entities"], with_labels=False)


def check_compare_on(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["values"]["compare"] is True
    assert view["visible"]["publication-2"] and view["visible"]["publication-3"]
    # The first publication not shown yet joins: CNN (most articles).
    assert [panel["publication"] for panel in view["panels"]] == [WASHINGTON_TIMES, CNN]


def check_compare(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["url"] == ("?publication=Washington+Times&publication=Politico&label=PERSON&top=50&refresh=1")
    assert [panel["publication"] for panel in view["panels"]] == [WASHINGTON_TIMES, POLITICO]
    for panel in view["panels"]:
        answer = scenario.entities(panel["publication"], label="PERSON", limit=50)
        assert panel["entities"] == shown(answer["entities"], with_labels=False)
        assert panel["entities"]


def check_reload(view: dict[str, Any], scenario: Scenario) -> None:
    before = scenario.views["compare"]
    assert view["url"] == before["url"]
    assert view["values"] == before["values"]
    assert view["panels"] == before["panels"]


def check_steady(view: dict[str, Any], scenario: Scenario) -> None:
    before = scenario.views["reload"]
    assert view["panels"][0]["marker"] == "kept", "a refresh with unchanged counts redrew the panel"
    assert [{**panel, "marker": None} for panel in view["panels"]] == before["panels"]


def check_refreshed(view: dict[str, Any], scenario: Scenario) -> None:
    before = scenario.views["reload"]
    assert view["url"] == before["url"]
    assert view["values"] == before["values"]
    assert view["active"] == "label"  # the focused control kept its focus
    times, politico = view["panels"]
    assert times["summary"].startswith("9 articles in all time")
    assert times["entities"] == shown(
        scenario.entities(WASHINGTON_TIMES, label="PERSON", limit=50)["entities"], with_labels=False
    )
    assert politico == before["panels"][1]
    assert times["marker"] is None  # redrawn with the new counts


def check_narrow(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["overflow"] <= 0, "the page scrolls sideways in a 380 px window"
    assert all(panel["width"] <= 380 for panel in view["panels"])
    assert view["panels"][0]["entities"] == scenario.views["refreshed"]["panels"][0]["entities"]


def check_store_unreachable(view: dict[str, Any], scenario: Scenario) -> None:
    assert view["notice"].startswith("Cannot reach the counts store (503): ")
    assert "the counts store cannot be read right now (no answer within 2s)" in view["notice"]
    assert view["panels"] == []


CHECKS: dict[str, Callable[[dict[str, Any], Scenario], None]] = {
    "nothing-counted": check_nothing_counted,
    "first-counts": check_first_counts,
    "pick": check_pick,
    "last-hour": check_last_hour,
    "custom-prefilled": check_custom_prefilled,
    "custom-from": check_custom_from,
    "custom": check_custom,
    "back": check_back,
    "forward": check_forward,
    "all-time": check_all_time,
    "label": check_label,
    "keyboard": check_keyboard,
    "compare-on": check_compare_on,
    "compare": check_compare,
    "reload": check_reload,
    "steady": check_steady,
    "refreshed": check_refreshed,
    "narrow": check_narrow,
    "store-unreachable": check_store_unreachable,
}
