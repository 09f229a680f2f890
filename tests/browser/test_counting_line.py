"""The dashboard's counting line, in headless Chromium: what ``GET /status`` says of the real broker's lag.

The real HTTP service serves the page; its topic on the real broker holds records that a consumer group
committed only in part (the commits are made here, as the consumer makes them after a flush). The line must
say how many articles are behind, then "all counted" once everything is committed.
"""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser.service import node_script, serve, sqlite_sink
from tests.browser.test_dashboard import CHROMIUM, REPO, require_browser
from tests.consumer.support import produce
from tests.producer.support import commit

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

SCRIPT = REPO / "tests/browser/counting.e2e.mjs"


def test_the_dashboard_says_how_many_articles_are_still_to_count(
    kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path
) -> None:
    require_browser()
    topic = fresh_topic("counting-line", partitions=2)
    group = f"g-{topic}"
    ends = produce(kafka_bootstrap, topic, [(f"article-{n}".encode(), b"{}") for n in range(30)])
    commit(kafka_bootstrap, group, topic, {0: 2})
    behind = sum(ends.values()) - 2
    kafka = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "KAFKA_TOPIC": topic, "KAFKA_GROUP_ID": group}
    steps: list[Callable[[], None]] = [lambda: commit(kafka_bootstrap, group, topic, ends), lambda: None]
    with serve({**sqlite_sink(tmp_path / "counts.sqlite3"), **kafka}, tmp_path / "app.log") as base:
        config = {
            "baseUrl": base,
            "chromium": str(CHROMIUM),
            "artifacts": str(tmp_path),
            "expected": [f"counting: {behind} articles behind, ", "all counted"],
        }
        browser = node_script(SCRIPT, "COUNTING_E2E", config)
        assert browser.stdin is not None and browser.stdout is not None
        shown = []
        try:
            for line in browser.stdout:
                record = json.loads(line)
                assert "failed" not in record, record["failed"]
                if record.get("done"):
                    assert record["pageErrors"] == []
                    break
                shown.append(record["shown"])
                steps[len(shown) - 1]()
                browser.stdin.write("go\n")
                browser.stdin.flush()
        finally:
            browser.stdin.close()
            assert browser.wait(timeout=60) == 0
    assert shown[1] == "all counted"
    assert shown[0].startswith(f"counting: {behind} articles behind, "), shown
