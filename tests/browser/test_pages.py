"""The API docs and the dashboard in headless Chromium, offline and under the service's CSP.

The real HTTP service (``python -m producer``, SQLite sink in tmp_path) serves both pages; the browser
(``tests/browser/pages.e2e.mjs``) aborts every request to another host and records it. Checked: ``/docs``
renders every operation of ``/openapi.json`` from the service's own files and runs a request; the dashboard
opens publications named ``..``, ``.`` and one with ``/ ? # %`` and a non-BMP character, each showing its
own counts; no request left for another host; no CSP violation, console error or script error on either page.

The docs page's screenshot goes to ``tmp_path``, or to ``API_DOCS_SCREENSHOT`` when set (the README's
``docs/img/api-docs.png`` is made with ``API_DOCS_SCREENSHOT=docs/img/api-docs.png``).
"""

import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from common.keys import publication_key
from common.sinks.base import EntityTally, PartitionFlush, PublicationDelta, WindowDelta
from tests.browser.counts import GROUP_ID, TOPIC, dashboard_writer
from tests.browser.service import serve, sqlite_sink
from tests.browser.test_dashboard import CHROMIUM, REPO, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCRIPT = REPO / "tests/browser/pages.e2e.mjs"
NAMES = ["..", ".", "A/B? #1 100% 🚀 News", "Reuters"]
"""Dot segments (browsers drop them from a path even as %2E%2E), URL delimiters, and a non-BMP character."""
FILLERS = [f"Filler {number:03}" for number in range(100)]
"""Publications with more articles than any of NAMES: the pickers list these (one page of 100), so NAMES are
opened from beyond the first page of GET /publications."""
WINDOW = 1_595_203_200  # 2020-07-20T00:00:00Z


def seed(path: Path) -> None:
    """Each name gets as many articles as its position plus one, and two entities spelled after it."""
    publications = {publication_key(name): PublicationDelta(name, {WINDOW: WindowDelta(10, {})}) for name in FILLERS}
    for articles, name in enumerate(NAMES, start=1):
        entities = {
            (f"{kind} of {name}".casefold(), kind): EntityTally(f"{kind} of {name}", kind, articles, articles)
            for kind in ("PERSON", "ORG")
        }
        publications[publication_key(name)] = PublicationDelta(name, {WINDOW: WindowDelta(articles, entities)})
    writer = dashboard_writer(path)
    try:
        flush = PartitionFlush(GROUP_ID, TOPIC, 0, len(NAMES), 3600, publications)
        writer.write(flush, writer.read_offset(GROUP_ID, TOPIC, 0))
    finally:
        writer.close()


def run_pages(config: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    finished = subprocess.run(
        ["node", str(SCRIPT)],
        cwd=REPO,
        env={**os.environ, "PAGES_E2E": json.dumps(config)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    records = [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]
    failed = [record for record in records if record["step"] == "failed"]
    assert not failed, f"browser scenario failed: {failed[0]}"
    assert finished.returncode == 0, finished.stderr[-3000:]
    return records


def test_docs_and_dashboard_work_offline_under_the_csp(tmp_path: Path) -> None:
    require_browser()
    seed(tmp_path / "counts.sqlite3")
    screenshot = Path(os.environ.get("API_DOCS_SCREENSHOT") or tmp_path / "api-docs.png")
    with serve(sqlite_sink(tmp_path / "counts.sqlite3"), tmp_path / "app.log") as base:
        spec = httpx.get(f"{base}/openapi.json").json()
        config = {
            "baseUrl": base,
            "chromium": str(CHROMIUM),
            "names": NAMES,
            "screenshot": str(screenshot.resolve()),
            "artifacts": str(tmp_path),
        }
        records = run_pages(config, tmp_path)
        expected = {
            name: httpx.get(f"{base}/publications/{quote(name, safe='').replace('.', '%2E')}/entities?limit=0")
            for name in NAMES
        }

    docs, *dashboards, done = records
    assert docs["step"] == "docs" and done["step"] == "done"
    assert docs["title"].startswith("newscounts")
    operations = sorted((method.upper(), path) for path, item in spec["paths"].items() for method in item)
    assert sorted((method, path) for method, path in docs["operations"]) == operations
    assert docs["answered"] == "200"  # "Try it out" on GET /healthz reached the service
    assert screenshot.read_bytes().startswith(b"\x89PNG")

    assert [record["name"] for record in dashboards] == NAMES
    for record in dashboards:
        name, panel = record["name"], record["panel"]
        answer = expected[name]
        assert answer.status_code == 200, (name, answer.text)
        articles = answer.json()["articles"]
        assert panel["heading"] == name
        assert panel["summary"].startswith(f"{articles} article{'s' if articles > 1 else ''} in all time"), panel
        assert panel["entities"] == [entity["text"] for entity in answer.json()["entities"]], panel
        assert panel["notice"] == "" and panel["bars"] == 1, panel
        listed = [option["text"] for option in panel["picker"]]
        assert listed[:100] == [f"{filler} (10 articles)" for filler in FILLERS], listed
        assert panel["picker"][100:] == [
            {"text": name, "selected": True, "disabled": False},  # beyond the page: not "(no counts)"
            {
                "text": "(the 100 with most articles; open another with ?publication=NAME)",
                "selected": False,
                "disabled": True,
            },
        ], panel["picker"]

    assert done["elsewhere"] == [], "requests to other hosts"
    assert done["cspViolations"] == [], "Content-Security-Policy violations"
    assert done["pageErrors"] == [] and done["consoleErrors"] == [], (done["pageErrors"], done["consoleErrors"])
