"""The dashboard's trend of an entity in headless Chromium, with exact values from known counts.

The real HTTP service (``python -m producer``, SQLite sink in tmp_path) serves the page over the counts of
:mod:`tests.browser.trend_counts`; the browser scenario is ``tests/browser/trends.e2e.mjs``. Every value the
page shows (search matches, points, legend, notes, the publications that mention the entity) and every CSV
it downloads is compared with what those counts mean, computed here. Skipped like the other browser tests
when chromium, node or node_modules are missing (unless ``REQUIRE_BROWSER=1``).
"""

import json
import subprocess
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.browser.service import node_script, serve, sqlite_sink
from tests.browser.test_dashboard import CHROMIUM, REPO, require_browser
from tests.browser.trend_counts import (
    ANGOLA,
    BERLIN,
    MERKEL,
    MONDE,
    OTHER,
    QUIET,
    TRENDS,
    mentions,
    point,
    seed,
    totals,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCRIPT = REPO / "tests/browser/trends.e2e.mjs"
MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
MONTHS = [(year, month) for year in (2022, 2023, 2024) for month in range(1, 13)]
"""The months of "all time": from the first publication's first month to the last one's last."""
STEPS = [
    ["Auto (month)", False],
    ["Hour (over 2,000 points)", True],
    ["Day", False],
    ["Week", False],
    ["Month", False],
    ["Year", False],
]
UNDATED_NOTE = "had no date; they are counted at the time Kafka received them."


def percent(numerator: int, denominator: int) -> str:
    """As the page writes a share: one decimal, halves up (JavaScript's toFixed)."""
    exact = Decimal(100 * (numerator / denominator))
    return f"{exact.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def shown(counts: dict[str, int], measure: str) -> str:
    """A point as the chart's data table shows it."""
    if measure == "mentions":
        return str(counts["mentions"])
    if not counts["articles"]:
        return "no articles"
    mentioning, articles = counts["entity_articles"], counts["articles"]
    return f"{percent(mentioning, articles)} ({mentioning} of {articles})"


def monthly(publications: list[str], entity: tuple[str, str], measure: str) -> list[list[str]]:
    return [
        [
            f"{MONTH_NAMES[month - 1]} {year}",
            *(shown(point(name, entity, year, month), measure) for name in publications),
        ]
        for year, month in MONTHS
    ]


def share_legend(name: str, entity: tuple[str, str]) -> str:
    yearly = [point(name, entity, year) for year in (2022, 2023, 2024)]
    articles, mentioning = sum(p["articles"] for p in yearly), sum(p["entity_articles"] for p in yearly)
    return f"{name} {percent(mentioning, articles)} of {articles} articles"


def undated_note(publications: list[str], prefix: str = "") -> str:
    articles = sum(totals(name)[0] for name in publications)
    undated = sum(totals(name)[1] for name in publications)
    return f"{prefix}{undated} of {articles} articles {UNDATED_NOTE}"


def test_the_trend_of_an_entity_shows_the_counts_exactly(tmp_path: Path) -> None:
    require_browser()
    database = tmp_path / "counts.sqlite3"
    seed(database)
    with serve(sqlite_sink(database), tmp_path / "app.log") as base:
        config = {"baseUrl": base, "chromium": str(CHROMIUM), "artifacts": str(tmp_path)}
        records = run_scenario(config, tmp_path)
    steps = [record["step"] for record in records]
    assert steps == [*CHECKS, "done"], steps
    for record in records[:-1]:
        CHECKS[record["step"]](record)
    assert records[-1]["pageErrors"] == [], "JavaScript errors on the page"
    assert records[-1]["cspViolations"] == [], "Content-Security-Policy violations on the page"


def run_scenario(config: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    stderr_path = tmp_path / "browser.stderr"
    with stderr_path.open("w") as stderr:
        browser = node_script(SCRIPT, "TRENDS_E2E", config, stderr)
    try:
        stdout, _ = browser.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        browser.kill()
        stdout, _ = browser.communicate()
    records = [json.loads(line) for line in stdout.splitlines()]
    failed = [record for record in records if record["step"] == "failed"]
    assert not failed, f"browser scenario failed: {failed[0]['error']}\nlast view: {failed[0]['view']}"
    assert browser.returncode == 0, stderr_path.read_text()
    return records


# ---- the checks, one per step of tests/browser/trends.e2e.mjs, in its order ----


def check_start(record: dict[str, Any]) -> None:
    view = record["view"]
    assert view["trend"] is None
    [panel] = view["panels"]
    assert panel["notes"] == [undated_note([TRENDS])] == [f"2 of 38 articles {UNDATED_NOTE}"]
    assert panel["entities"] == ["Angela Merkel", "Berlin", "Washington, D.C.", '=HYPERLINK("x")']


def check_search_nothing(record: dict[str, Any]) -> None:
    search = record["view"]["search"]
    assert search["expanded"] == "true" and search["options"] == []
    assert search["message"] == (
        "No known entity starts with “zzz”: try the start of another name (case and accents do not matter)."
    )


def check_search(record: dict[str, Any]) -> None:
    view = record["view"]
    assert view["active"] == "entity-search"
    assert view["search"]["options"] == [
        {"text": "Angela Merkel", "label": "PERSON", "count": f"{mentions(MERKEL)} mentions", "selected": "true"},
        {"text": "Angola", "label": "GPE", "count": f"{mentions(ANGOLA)} mentions", "selected": "false"},
    ]
    assert mentions(MERKEL) == 25


def check_trend(record: dict[str, Any]) -> None:
    """Picked with the keyboard: the three publications that mention it most, as shares, per month."""
    view = record["view"]
    assert view["url"] == "?publication=Trends+Daily&refresh=0&entity=Angela+Merkel&entity-label=PERSON"
    assert view["active"] == "trend-title"
    assert view["search"]["expanded"] == "false"
    trend = view["trend"]
    lines = [TRENDS, MONDE, QUIET]
    assert trend["title"] == "Trend of Angela Merkel PERSON"
    assert trend["summary"] == "Share of each publication's articles that mention it, per month, all time."
    assert (trend["measure"], trend["step"], trend["steps"]) == ("share", "", STEPS)
    assert trend["head"] == ["Month", *lines]
    assert trend["rows"] == monthly(lines, MERKEL, "share")
    assert trend["rows"][17] == ["Jun 2023", "25.0% (5 of 20)", "60.0% (6 of 10)", "33.3% (1 of 3)"]
    assert trend["legend"] == [share_legend(name, MERKEL) for name in lines]
    assert trend["lines"] == 3
    assert trend["marks"] == 7  # one per point with articles (a share needs some)
    assert (
        trend["notes"]
        == [undated_note(lines, "In this chart, ")]
        == [f"In this chart, 5 of 60 articles {UNDATED_NOTE}"]
    )
    assert trend["chooser"] == [
        {"cells": [TRENDS, "14", "11", "38"], "checked": True, "disabled": False},
        {"cells": [MONDE, "10", "7", "19"], "checked": True, "disabled": False},
        {"cells": [QUIET, "1", "1", "3"], "checked": True, "disabled": False},
    ]
    assert view["panels"][0]["current"] == ["Angela Merkel"]


def check_compare(record: dict[str, Any]) -> None:
    """Two publications compared: the user's choice, kept in the URL."""
    view = record["view"]
    assert view["url"] == (
        "?publication=Trends+Daily&refresh=0&entity=Angela+Merkel&entity-label=PERSON"
        "&line=Trends+Daily&line=Le+%22Monde%22%2C+Paris"
    )
    trend = view["trend"]
    assert trend["head"] == ["Month", TRENDS, MONDE]
    assert trend["rows"] == monthly([TRENDS, MONDE], MERKEL, "share")
    assert trend["legend"] == [share_legend(TRENDS, MERKEL), share_legend(MONDE, MERKEL)]
    assert trend["lines"] == 2
    assert trend["notes"] == [f"In this chart, 5 of 57 articles {UNDATED_NOTE}"]
    assert [row["checked"] for row in trend["chooser"]] == [True, True, False]


def check_mentions(record: dict[str, Any]) -> None:
    view = record["view"]
    assert view["url"].endswith("&line=Trends+Daily&line=Le+%22Monde%22%2C+Paris&measure=mentions")
    trend = view["trend"]
    assert trend["measure"] == "mentions"
    assert trend["summary"] == "Mentions, per month, all time."
    assert trend["rows"] == monthly([TRENDS, MONDE], MERKEL, "mentions")
    assert trend["rows"][2] == ["Mar 2022", "6", "0"]
    assert trend["legend"] == [f"{TRENDS} 14 mentions", f"{MONDE} 10 mentions"]
    assert trend["marks"] == 2 * 36  # zeros are points too
    assert trend["ticks"][:3] == ["0", "5", "10"]


def check_year(record: dict[str, Any]) -> None:
    trend = record["view"]["trend"]
    assert record["view"]["url"].endswith("&measure=mentions&step=year")
    assert (trend["step"], trend["summary"]) == ("year", "Mentions, per year, all time.")
    assert trend["steps"][0] == ["Auto (month)", False]
    expected = [
        [str(year), *(str(point(name, MERKEL, year)["mentions"]) for name in (TRENDS, MONDE))]
        for year in (2022, 2023, 2024)
    ]
    assert trend["rows"] == expected == [["2022", "6", "1"], ["2023", "5", "9"], ["2024", "3", "0"]]


def check_csv_series(record: dict[str, Any]) -> None:
    assert record["file"] == "trend-Angela-Merkel-PERSON-year.csv"
    assert record["csv"] == (
        "entity,label,publication,step,start,end,articles,undated_articles,mentions,entity_articles\r\n"
        "Angela Merkel,PERSON,Trends Daily,year,2022-01-01T00:00:00Z,2023-01-01T00:00:00Z,10,0,6,4\r\n"
        "Angela Merkel,PERSON,Trends Daily,year,2023-01-01T00:00:00Z,2024-01-01T00:00:00Z,20,0,5,5\r\n"
        "Angela Merkel,PERSON,Trends Daily,year,2024-01-01T00:00:00Z,2025-01-01T00:00:00Z,8,2,3,2\r\n"
        'Angela Merkel,PERSON,"Le ""Monde"", Paris",year,2022-01-01T00:00:00Z,2023-01-01T00:00:00Z,5,0,1,1\r\n'
        'Angela Merkel,PERSON,"Le ""Monde"", Paris",year,2023-01-01T00:00:00Z,2024-01-01T00:00:00Z,10,3,9,6\r\n'
        'Angela Merkel,PERSON,"Le ""Monde"", Paris",year,2024-01-01T00:00:00Z,2025-01-01T00:00:00Z,4,0,0,0\r\n'
    )
    rows = [line.rsplit(",", 4)[1:] for line in record["csv"].splitlines()[1:]]
    assert rows == [
        [str(point(name, MERKEL, year)[key]) for key in ("articles", "undated_articles", "mentions", "entity_articles")]
        for name in (TRENDS, MONDE)
        for year in (2022, 2023, 2024)
    ]


def check_csv_mentioning(record: dict[str, Any]) -> None:
    assert record["file"] == "publications-Angela-Merkel-PERSON-all-time.csv"
    assert record["csv"] == (
        "entity,label,publication,start,end,mentions,articles,publication_articles\r\n"
        "Angela Merkel,PERSON,Trends Daily,,,14,11,38\r\n"
        'Angela Merkel,PERSON,"Le ""Monde"", Paris",,,10,7,19\r\n'
        "Angela Merkel,PERSON,Quiet Gazette,,,1,1,3\r\n"
    )


def check_csv_entities(record: dict[str, Any]) -> None:
    """The formula-like entity text is quoted and led by an apostrophe: a spreadsheet shows it as text."""
    assert record["file"] == "entities-Trends-Daily-all-time.csv"
    assert record["csv"] == (
        "publication,start,end,rank,entity,label,mentions,articles,articles_in_range\r\n"
        "Trends Daily,,,1,Angela Merkel,PERSON,14,11,38\r\n"
        "Trends Daily,,,2,Berlin,GPE,3,3,38\r\n"
        'Trends Daily,,,3,"Washington, D.C.",GPE,2,2,38\r\n'
        'Trends Daily,,,4,"\'=HYPERLINK(""x"")",ORG,1,1,38\r\n'
    )


def check_clicked(record: dict[str, Any]) -> None:
    """Clicked in the table: Berlin's default lines (most mentions first, then name) and the automatic step;
    the measure chosen before stays."""
    view = record["view"]
    assert view["url"] == "?publication=Trends+Daily&refresh=0&entity=Berlin&entity-label=GPE&measure=mentions"
    assert view["active"] == "trend-title"
    trend = view["trend"]
    lines = [MONDE, OTHER, TRENDS]
    assert (trend["title"], trend["step"], trend["measure"]) == ("Trend of Berlin GPE", "", "mentions")
    assert trend["head"] == ["Month", *lines]
    assert trend["rows"] == monthly(lines, BERLIN, "mentions")
    assert [row["cells"] for row in trend["chooser"]] == [
        [MONDE, "4", "3", "19"],
        [OTHER, "3", "3", "7"],
        [TRENDS, "3", "3", "38"],
    ]
    assert view["panels"][0]["current"] == ["Berlin"]


def check_back(record: dict[str, Any]) -> None:
    trend = record["view"]["trend"]
    assert record["view"]["url"].endswith(
        "&entity=Angela+Merkel&entity-label=PERSON&line=Trends+Daily"
        "&line=Le+%22Monde%22%2C+Paris&measure=mentions&step=year"
    )
    assert trend["rows"] == [["2022", "6", "1"], ["2023", "5", "9"], ["2024", "3", "0"]]


def check_nobody(record: dict[str, Any]) -> None:
    trend = record["view"]["trend"]
    assert trend["empty"] == "No publication mentions Angela Merkel (PERSON) in 2022-05-01 – 2022-05-31 UTC."
    assert trend["actions"] == ["Show all time"]
    assert trend["lines"] == 0 and trend["chooser"] == []


def check_all_time(record: dict[str, Any]) -> None:
    view = record["view"]
    assert view["url"] == "?publication=Other+News&refresh=0&entity=Angela+Merkel&entity-label=PERSON"
    assert view["trend"]["rows"] == monthly([TRENDS, MONDE, QUIET], MERKEL, "share")
    assert view["panels"][0]["notes"] == []  # Other News has no undated article: no note


def check_refused(record: dict[str, Any]) -> None:
    trend = record["view"]["trend"]
    assert trend["problems"] == [
        "The service rejected the request (422): step: more than 10,000 points: ask for a longer step or a "
        "shorter range."
    ]
    assert trend["step"] == "hour" and trend["lines"] == 0 and trend["rows"] == []
    assert len(trend["chooser"]) == 3  # the publications to choose from stay


def check_narrow(record: dict[str, Any]) -> None:
    view = record["view"]
    assert view["overflow"] <= 0, "the page scrolls sideways in a 380 px window"
    assert view["trend"]["rows"] == monthly([TRENDS, MONDE, QUIET], MERKEL, "share")


def check_closed(record: dict[str, Any]) -> None:
    view = record["view"]
    assert view["url"] == "?publication=Trends+Daily&refresh=0"
    assert view["trend"] is None
    assert view["active"] == "entity-search"


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "start": check_start,
    "search-nothing": check_search_nothing,
    "search": check_search,
    "trend": check_trend,
    "compare": check_compare,
    "mentions": check_mentions,
    "year": check_year,
    "csv-series": check_csv_series,
    "csv-mentioning": check_csv_mentioning,
    "csv-entities": check_csv_entities,
    "clicked": check_clicked,
    "back": check_back,
    "nobody": check_nobody,
    "all-time": check_all_time,
    "refused": check_refused,
    "narrow": check_narrow,
    "closed": check_closed,
}
