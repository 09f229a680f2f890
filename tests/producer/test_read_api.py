"""The read API over both real sinks: known flushes are written with the sink itself, and every answer must
equal the counts they hold (merged over windows, ranked, limited, filtered), with 404/422/503 where due.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.cloud import firestore

from common.keys import namespace_key, publication_key
from common.settings import SinkKind
from common.sinks.base import EntityTally, PartitionFlush, PublicationDelta, WindowDelta
from consumer.entities import article_entities
from consumer.pending import PendingPartition
from devservices.process import free_port
from producer.settings import ProducerSettings
from tests.producer.support import API_KEY, service, settings_for
from tests.sinks.support import Store, forget_the_aliased_view

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

HOUR = 3600
T0 = int(datetime(2020, 7, 20, tzinfo=UTC).timestamp())
T1, T2 = T0 + HOUR, T0 + 2 * HOUR
GROUP, TOPIC = "newscounts", "articles"


def window(articles: int, *entities: tuple[str, str, int, int], undated: int = 0) -> WindowDelta:
    return WindowDelta(
        articles=articles,
        entities={
            (text.casefold(), label): EntityTally(text=text, label=label, mentions=mentions, articles=in_articles)
            for text, label, mentions, in_articles in entities
        },
        undated_articles=undated,
    )


def flushes() -> list[PartitionFlush]:
    """Two partitions' flushes; Reuters spans both, in three windows, the last two with an undated article."""
    first = {
        "Reuters": {
            T0: window(3, ("Donald Trump", "PERSON", 5, 2), ("Fed", "ORG", 4, 3), ("Washington", "GPE", 1, 1)),
            T1: window(2, ("Donald Trump", "PERSON", 2, 1), ("China", "GPE", 3, 2), undated=1),
        },
        "CNN (Web News)": {T0: window(1, ("Atlanta", "GPE", 2, 1))},
    }
    second = {
        "Reuters": {T2: window(1, ("Fed", "ORG", 1, 1), undated=1)},
        "A/B Weekly": {T0: window(4, ("AB", "ORG", 4, 4), ("Bern", "GPE", 4, 2))},
        "Ünïcode Times": {T1: window(1, ("Zürich", "GPE", 1, 1))},
    }
    return [
        PartitionFlush(
            group_id=GROUP,
            topic=TOPIC,
            partition=partition,
            next_offset=next_offset,
            window_seconds=HOUR,
            publications={
                publication_key(name): PublicationDelta(name=name, windows=windows) for name, windows in pubs.items()
            },
        )
        for partition, next_offset, pubs in ((0, 10, first), (1, 6, second))
    ]


def write_known_counts(sink: Store) -> None:
    for flush in flushes():
        sink.write(flush, sink.read_offset(GROUP, TOPIC, flush.partition))


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def entity(text: str, label: str, mentions: int, articles: int) -> dict[str, Any]:
    return {"text": text, "label": label, "mentions": mentions, "articles": articles}


def answer_of(
    publication: str,
    articles: tuple[int, int],
    entities: list[dict[str, Any]],
    start: int | None = None,
    end: int | None = None,
) -> dict[str, Any]:
    """An entities answer; ``articles``: (articles, undated articles); ``start``/``end``: the range it covers
    (None: unbounded)."""
    return {
        "publication": publication,
        "articles": articles[0],
        "undated_articles": articles[1],
        "start": None if start is None else iso(start),
        "end": None if end is None else iso(end),
        "entities": entities,
    }


TRUMP_ALL = entity("Donald Trump", "PERSON", 7, 3)
FED_ALL = entity("Fed", "ORG", 5, 4)
CHINA = entity("China", "GPE", 3, 2)
WASHINGTON = entity("Washington", "GPE", 1, 1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Counts:
    client: httpx.AsyncClient
    settings: ProducerSettings


def sink_settings(kind: str, request: pytest.FixtureRequest, bootstrap: str, tmp_path: Path) -> ProducerSettings:
    if kind == "sqlite":
        return settings_for(bootstrap, TOPIC, tmp_path)
    project = request.getfixturevalue("firestore_project")
    return settings_for(bootstrap, TOPIC, tmp_path, sink=SinkKind.FIRESTORE, firestore_project=project)


@pytest.fixture(params=["sqlite", "firestore"])
async def counts(request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Counts]:
    settings = sink_settings(request.param, request, kafka_bootstrap, tmp_path)
    sink = Store(settings)
    try:
        write_known_counts(sink)
    finally:
        sink.close()
    async with service(settings) as client:
        yield Counts(client, settings)


async def test_publications_most_articles_first(counts: Counts) -> None:
    answer = await counts.client.get("/publications")

    assert answer.status_code == 200
    body = answer.json()
    assert [(p["publication"], p["articles"], p["undated_articles"]) for p in body] == [
        ("Reuters", 6, 2),
        ("A/B Weekly", 4, 0),
        ("CNN (Web News)", 1, 0),
        ("Ünïcode Times", 1, 0),
    ]
    for summary in body:
        updated = datetime.fromisoformat(summary["updated_at"])
        assert updated.tzinfo is not None
        assert abs(datetime.now(UTC) - updated) < timedelta(hours=1)


async def test_entities_all_time_ranked_by_mentions_then_text(counts: Counts) -> None:
    answer = await counts.client.get("/publications/Reuters/entities")

    assert answer.status_code == 200
    assert answer.json() == answer_of("Reuters", (6, 2), [TRUMP_ALL, FED_ALL, CHINA, WASHINGTON])


async def test_entities_limit_and_limit_zero(counts: Counts) -> None:
    two = await counts.client.get("/publications/Reuters/entities", params={"limit": 2})
    every = await counts.client.get("/publications/Reuters/entities", params={"limit": 0})

    assert two.json()["entities"] == [TRUMP_ALL, FED_ALL]
    assert every.json()["entities"] == [TRUMP_ALL, FED_ALL, CHINA, WASHINGTON]


async def test_entities_ties_are_ordered_by_text(counts: Counts) -> None:
    answer = await counts.client.get("/publications/A%2FB%20Weekly/entities")

    assert answer.json() == answer_of("A/B Weekly", (4, 0), [entity("AB", "ORG", 4, 4), entity("Bern", "GPE", 4, 2)])


@pytest.mark.parametrize("label", ["GPE", "gpe", " GPE "])
async def test_entities_of_one_label(counts: Counts, label: str) -> None:
    answer = await counts.client.get("/publications/Reuters/entities", params={"label": label})

    assert answer.json() == answer_of("Reuters", (6, 2), [CHINA, WASHINGTON])


@pytest.mark.parametrize(("label", "expected"), [("NOPE", []), ("", [TRUMP_ALL, FED_ALL, CHINA, WASHINGTON])])
async def test_an_unknown_label_is_empty_and_an_empty_label_is_all(
    counts: Counts, label: str, expected: list[dict[str, Any]]
) -> None:
    answer = await counts.client.get("/publications/Reuters/entities", params={"label": label})

    assert answer.status_code == 200
    assert answer.json() == answer_of("Reuters", (6, 2), expected)


JAN_2021 = int(datetime(2021, 1, 1, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("start", "end", "articles", "entities", "covered"),
    [
        (iso(T1), iso(T2), (2, 1), [CHINA, entity("Donald Trump", "PERSON", 2, 1)], (T1, T2)),
        (
            "2020-07-20",
            "2020-07-20T01:00:01",
            (5, 1),
            [TRUMP_ALL, entity("Fed", "ORG", 4, 3), CHINA, WASHINGTON],
            (T0, T2),
        ),
        (iso(T2 + 1800), None, (1, 1), [entity("Fed", "ORG", 1, 1)], (T2, None)),
        (
            None,
            "2020-07-20T00:30:00+00:00",
            (3, 0),
            [entity("Donald Trump", "PERSON", 5, 2), entity("Fed", "ORG", 4, 3), WASHINGTON],
            (None, T1),
        ),
        ("2021-01-01", "2021-01-02", (0, 0), [], (JAN_2021, JAN_2021 + 86_400)),
    ],
)
async def test_entities_of_the_windows_overlapping_a_range_merged(
    counts: Counts,
    start: str | None,
    end: str | None,
    articles: tuple[int, int],
    entities: list[dict[str, Any]],
    covered: tuple[int | None, int | None],
) -> None:
    params = {key: value for key, value in (("start", start), ("end", end)) if value is not None}
    answer = await counts.client.get("/publications/Reuters/entities", params=params)

    assert answer.status_code == 200
    assert answer.json() == answer_of("Reuters", articles, entities, *covered)


async def test_windows_in_time_order_with_their_top_entities(counts: Counts) -> None:
    answer = await counts.client.get("/publications/Reuters/windows")

    assert answer.status_code == 200
    assert answer.json() == [
        {
            "start": iso(T0),
            "end": iso(T1),
            "articles": 3,
            "entities": [entity("Donald Trump", "PERSON", 5, 2), entity("Fed", "ORG", 4, 3), WASHINGTON],
        },
        {"start": iso(T1), "end": iso(T2), "articles": 2, "entities": [CHINA, entity("Donald Trump", "PERSON", 2, 1)]},
        {"start": iso(T2), "end": iso(T2 + HOUR), "articles": 1, "entities": [entity("Fed", "ORG", 1, 1)]},
    ]


async def test_windows_limit_and_range(counts: Counts) -> None:
    answer = await counts.client.get(
        "/publications/Reuters/windows", params={"start": iso(T1), "end": iso(T2 + 1), "limit": 1}
    )

    assert answer.json() == [
        {"start": iso(T1), "end": iso(T2), "articles": 2, "entities": [CHINA]},
        {"start": iso(T2), "end": iso(T2 + HOUR), "articles": 1, "entities": [entity("Fed", "ORG", 1, 1)]},
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/publications/A%2FB%20Weekly/windows",
        "/publications/A/B%20Weekly/windows",
        "/publications/A/B Weekly/windows",
        "/publications/%20A/B%20%20Weekly%20/windows",
    ],
)
async def test_a_name_with_a_slash_encoded_or_not(counts: Counts, path: str) -> None:
    answer = await counts.client.get(path)

    assert answer.status_code == 200
    assert answer.json() == [
        {
            "start": iso(T0),
            "end": iso(T1),
            "articles": 4,
            "entities": [entity("AB", "ORG", 4, 4), entity("Bern", "GPE", 4, 2)],
        }
    ]


async def test_names_as_sent_url_encoded(counts: Counts) -> None:
    cnn = await counts.client.get("/publications/CNN%20(Web%20News)/entities")
    unicode = await counts.client.get("/publications/%C3%9Cn%C3%AFcode%20Times/entities")

    assert cnn.json() == answer_of("CNN (Web News)", (1, 0), [entity("Atlanta", "GPE", 2, 1)])
    assert unicode.json() == answer_of("Ünïcode Times", (1, 0), [entity("Zürich", "GPE", 1, 1)])


@pytest.mark.parametrize("path", ["/publications/Nobody/entities", "/publications/reuters/windows"])
async def test_an_unknown_publication_is_a_404(counts: Counts, path: str) -> None:
    answer = await counts.client.get(path)

    name = path.split("/")[2]
    assert answer.status_code == 404
    assert answer.json() == {
        "detail": f"no counts for publication {name!r}: GET /publications lists the known names "
        "(send the name URL-encoded, exactly as in the articles)"
    }


@pytest.mark.parametrize(
    ("query", "field", "problem"),
    [
        ("limit=-1", "limit", "Input should be greater than or equal to 0"),
        ("limit=ten", "limit", "Input should be a valid integer, unable to parse string as an integer"),
        ("limit=1000001", "limit", "Input should be less than or equal to 1000000"),
        ("start=2020-07-21&end=2020-07-20", "end", "must be later than start"),
        ("start=2020-07-20&end=2020-07-20", "end", "must be later than start"),
        ("start=yesterday", "start", "Input should be a valid datetime or date, input is too short"),
        ("end=2020-02-30", "end", "day is out of range for month"),
        (
            "start=2020-07-20T25:00:00",
            "start",
            "Input should be a valid datetime or date, unexpected extra characters at the end of the input",
        ),
    ],
)
async def test_bad_parameters_are_a_422_naming_them(counts: Counts, query: str, field: str, problem: str) -> None:
    for endpoint in ("entities", "windows"):
        answer = await counts.client.get(f"/publications/Reuters/{endpoint}?{query}")

        assert answer.status_code == 422
        assert answer.json() == {"detail": f"{field}: {problem}", "errors": [{"field": field, "problem": problem}]}


async def test_a_label_longer_than_any_is_a_422(counts: Counts) -> None:
    answer = await counts.client.get("/publications/Reuters/entities", params={"label": "L" * 65})

    problem = "String should have at most 64 characters"
    assert answer.status_code == 422
    assert answer.json() == {"detail": f"label: {problem}", "errors": [{"field": "label", "problem": problem}]}


async def test_an_empty_publication_is_a_422(counts: Counts) -> None:
    answer = await counts.client.get("/publications/%20/entities")

    assert answer.status_code == 422
    assert answer.json()["detail"] == "publication: must not be empty or only whitespace"


async def test_garbage_parameters_never_get_a_500(counts: Counts) -> None:
    paths = [
        "/publications/%FF%FE/entities",
        "/publications/%00/entities",
        "/publications/" + "n" * 10_000 + "/entities",
        "/publications/" + "%2F" * 300 + "/windows",
        "/publications/Reuters/entities?label=" + "L" * 5000,
        "/publications/Reuters/entities?label=%00",
        "/publications/Reuters/entities?limit=99999999999999999999999",
        "/publications/Reuters/entities?start=0001-01-01&end=9999-12-31T23:59:59",
        "/publications/Reuters/windows?start=9999-12-31T23:59:59Z",
        "/publications/Reuters/windows?start=2020-07-20T00:00:00%2B14:00&end=2020-07-20T00:00:00-12:00",
        "/publications/Reuters/windows?start=1e308",
        "/publications/Reuters/windows?start=-1",
        "/publications/Reuters/entities?start=2020-07-20&start=2020-07-21",
        "/publications/entities",
        "/publications//entities",
        "/publications/Reuters/entities/extra",
        "/publications/Reuters",
    ]
    statuses = []
    for path in paths:
        answer = await counts.client.get(path)
        statuses.append(answer.status_code)
        assert answer.status_code in {200, 404, 405, 422}, (path[:80], answer.text)
    # a NUL in a name (the second path) is a character no publication may hold: 422
    assert statuses == [404, 422, 404, 404, 422, 200, 422, 200, 200, 200, 422, 200, 200, 404, 422, 404, 404]


async def test_reads_may_require_a_key(kafka_bootstrap: str, tmp_path: Path) -> None:
    async with service(settings_for(kafka_bootstrap, TOPIC, tmp_path, read_requires_key=True)) as client:
        without = await client.get("/publications")
        wrong = await client.get("/publications/Reuters/entities", headers={"X-API-Key": "nope"})
        with_key = await client.get("/publications", headers={"X-API-Key": API_KEY})
        health = await client.get("/healthz")

    assert (without.status_code, wrong.status_code, with_key.status_code) == (401, 401, 200)
    assert with_key.json() == []
    assert health.status_code == 200


async def test_an_unreadable_sqlite_sink_is_a_503(
    kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    topic = fresh_topic("producer-read")
    settings = settings_for(kafka_bootstrap, topic, tmp_path, sqlite_path=not_a_directory / "counts.sqlite3")
    async with service(settings) as client:
        answers = [await client.get(path) for path in ("/publications", "/publications/Reuters/entities")]
        ready = await client.get("/readyz")

    for answer in answers:
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "5"
        assert answer.json()["detail"].startswith("the counts store cannot be read right now (")
        assert answer.json()["detail"].endswith("; check SQLITE_PATH); retry later")
        assert str(not_a_directory) in answer.json()["detail"]
    assert ready.status_code == 503
    assert ready.json()["kafka"] == "ok"
    assert ready.json()["sink"].startswith("the counts store cannot be read: ")
    assert ready.json()["sink"].endswith("; check SQLITE_PATH")


async def test_an_unreachable_firestore_is_a_503(
    kafka_bootstrap: str,
    fresh_topic: Callable[..., str],
    tmp_path: Path,
    firestore_project: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    settings = settings_for(
        kafka_bootstrap,
        fresh_topic("producer-read"),
        tmp_path,
        sink=SinkKind.FIRESTORE,
        firestore_project=firestore_project,
        read_timeout="2s",
        ready_timeout="1s",
    )
    async with service(settings) as client:
        publications = await client.get("/publications")
        ready = await client.get("/readyz")

    assert publications.status_code == 503
    assert publications.headers["retry-after"] == "5"
    assert publications.json()["detail"].startswith("the counts store cannot be read right now (")
    assert ready.status_code == 503
    assert ready.json()["kafka"] == "ok"
    assert ready.json()["sink"].startswith("the counts store cannot be read: ")


async def test_publications_come_a_page_at_a_time(counts: Counts) -> None:
    first = await counts.client.get("/publications", params={"limit": 2})
    cursor = first.headers["next-cursor"]
    assert first.headers["link"] == f'</publications?limit=2&cursor={cursor}>; rel="next"'
    second = await counts.client.get("/publications", params={"limit": 2, "cursor": cursor})

    assert [(p["publication"], p["articles"]) for p in first.json()] == [("Reuters", 6), ("A/B Weekly", 4)]
    assert [(p["publication"], p["articles"]) for p in second.json()] == [("CNN (Web News)", 1), ("Ünïcode Times", 1)]
    assert "next-cursor" not in second.headers and "link" not in second.headers
    reuters = first.json()[0]
    assert (reuters["start"], reuters["end"]) == (iso(T0), iso(T2 + HOUR))
    bad = await counts.client.get("/publications", params={"limit": 2, "cursor": "garbage"})
    problem = "not a cursor this service issued: send the Next-Cursor of the previous page"
    assert (bad.status_code, bad.json()) == (
        422,
        {"detail": f"cursor: {problem}", "errors": [{"field": "cursor", "problem": problem}]},
    )


def point(start: int, end: int, articles: int, undated: int, mentions: int, mentioned: int) -> dict[str, Any]:
    return {
        "start": iso(start),
        "end": iso(end),
        "articles": articles,
        "undated_articles": undated,
        "mentions": mentions,
        "entity_articles": mentioned,
    }


async def test_a_series_of_one_entity(counts: Counts) -> None:
    hourly = await counts.client.get(
        "/publications/Reuters/series", params={"text": "donald trump", "label": "person", "step": "hour"}
    )
    daily = await counts.client.get(
        "/publications/Reuters/series",
        params={"text": "Donald Trump", "label": "PERSON", "start": "2020-07-19", "end": "2020-07-21T00:00:01"},
    )

    assert hourly.status_code == 200
    assert hourly.json() == {
        "publication": "Reuters",
        "text": "donald trump",
        "label": "PERSON",
        "step": "hour",
        "start": iso(T0),
        "end": iso(T2 + HOUR),
        "points": [point(T0, T1, 3, 0, 5, 2), point(T1, T2, 2, 1, 2, 1), point(T2, T2 + HOUR, 1, 1, 0, 0)],
    }
    day = 86_400
    assert daily.json()["points"] == [
        point(T0 - day, T0, 0, 0, 0, 0),
        point(T0, T0 + day, 6, 2, 7, 3),
        point(T0 + day, T0 + 2 * day, 0, 0, 0, 0),
    ]


async def test_the_publications_of_an_entity(counts: Counts) -> None:
    answer = await counts.client.get("/entities", params={"text": "Fed", "label": "ORG"})
    ranged = await counts.client.get("/entities", params={"text": "fed", "label": "org", "start": "2020-07-20T01:00"})

    assert answer.status_code == 200
    fed = {"publication": "Reuters", "mentions": 5, "articles": 4, "publication_articles": 6}
    assert answer.json() == {"text": "Fed", "label": "ORG", "start": None, "end": None, "publications": [fed]}
    assert ranged.json() == {"text": "fed", "label": "ORG", "start": iso(T0), "end": None, "publications": [fed]}


async def test_entity_search_ignores_case_and_accents(counts: Counts) -> None:
    zurich = await counts.client.get("/entities/search", params={"q": "ZU"})
    places = await counts.client.get("/entities/search", params={"q": "b", "label": "gpe"})

    assert zurich.status_code == 200
    assert zurich.json() == [entity("Zürich", "GPE", 1, 1)]
    assert places.json() == [entity("Bern", "GPE", 4, 2)]


@pytest.mark.parametrize(
    ("path", "field", "problem"),
    [
        ("/publications/Reuters/entities?view=merged", "view", "Input should be 'raw' or 'aliased'"),
        ("/publications?view=Aliased", "view", "Input should be 'raw' or 'aliased'"),
        ("/entities/search?q=a&view=", "view", "Input should be 'raw' or 'aliased'"),
        ("/publications/Reuters/series?text=Fed", "label", "Field required"),
        ("/entities?label=ORG", "text", "Field required"),
        ("/entities/search", "q", "Field required"),
        (
            "/publications/Reuters/series?text=Fed&label=ORG&step=fortnight",
            "step",
            "Input should be 'hour', 'day', 'week', 'month' or 'year'",
        ),
        (
            "/publications/Reuters/series?text=Fed&label=ORG&step=hour&start=2000-01-01",
            "step",
            "more than 10,000 points: ask for a longer step or a shorter range",
        ),
        ("/publications?limit=1001", "limit", "Input should be less than or equal to 1000"),
    ],
)
async def test_bad_trend_parameters_are_a_422_naming_them(counts: Counts, path: str, field: str, problem: str) -> None:
    answer = await counts.client.get(path)

    assert answer.status_code == 422
    assert answer.json() == {"detail": f"{field}: {problem}", "errors": [{"field": field, "problem": problem}]}


async def test_a_series_of_an_unknown_publication_is_a_404(counts: Counts) -> None:
    answer = await counts.client.get("/publications/Nobody/series", params={"text": "Fed", "label": "ORG"})

    assert answer.status_code == 404


WIRE = [
    (T0, [("Donald Trump", "PERSON"), ("Trump", "ORG"), ("Trump", "ORG"), ("US", "GPE")]),
    (T0, [("Trump", "ORG"), ("U.S.", "GPE")]),
    (T1, [("Donald Trump", "PERSON"), ("Trump", "PERSON")]),
]
"""Three articles of "Wire": their aliased view merges Trump/ORG (next to Donald Trump) and Trump/PERSON under
Donald Trump, and US and U.S. under United States; the Trump/ORG of the second article stays (no full name)."""


def wire_flush() -> PartitionFlush:
    """The articles counted as the consumer counts them: both views, in one flush."""
    pending = PendingPartition(None)
    for offset, (window_start, found) in enumerate(WIRE):
        pending.add_article(offset, "Wire", window_start, article_entities(found, set()))
    return pending.to_flush(GROUP, TOPIC, 2, HOUR)


def form(text: str, label: str, mentions: int) -> dict[str, Any]:
    return {"text": text, "label": label, "mentions": mentions}


def merging(text: str, label: str, mentions: int, articles: int, *merged: dict[str, Any]) -> dict[str, Any]:
    return {**entity(text, label, mentions, articles), "merged": list(merged)}


DONALD_MERGED = [form("Donald Trump", "PERSON", 2), form("Trump", "ORG", 2), form("Trump", "PERSON", 1)]
DONALD = merging("Donald Trump", "PERSON", 5, 2, *DONALD_MERGED)
UNITED_STATES = merging("United States", "GPE", 2, 2, form("U.S.", "GPE", 1), form("US", "GPE", 1))
TRUMP_ORG = merging("Trump", "ORG", 1, 1)


@pytest.fixture(params=["sqlite", "firestore"])
async def views(request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Counts]:
    settings = sink_settings(request.param, request, kafka_bootstrap, tmp_path)
    sink = Store(settings)
    try:
        sink.write(wire_flush(), sink.read_offset(GROUP, TOPIC, 2))
    finally:
        sink.close()
    async with service(settings) as client:
        yield Counts(client, settings)


async def test_the_raw_view_is_the_default_and_has_no_merged_rows(views: Counts) -> None:
    default = await views.client.get("/publications/Wire/entities")
    raw = await views.client.get("/publications/Wire/entities", params={"view": "raw"})

    assert default.status_code == raw.status_code == 200
    assert (
        default.json()
        == raw.json()
        == answer_of(
            "Wire",
            (3, 0),
            [
                entity("Trump", "ORG", 3, 2),
                entity("Donald Trump", "PERSON", 2, 2),
                entity("Trump", "PERSON", 1, 1),
                entity("U.S.", "GPE", 1, 1),
                entity("US", "GPE", 1, 1),
            ],
        )
    )


async def test_the_aliased_view_of_every_read(views: Counts) -> None:
    aliased = {"view": "aliased"}
    entities = await views.client.get("/publications/Wire/entities", params=aliased)
    windows = await views.client.get("/publications/Wire/windows", params=aliased)
    series = await views.client.get(
        "/publications/Wire/series", params={**aliased, "text": "Donald Trump", "label": "PERSON", "step": "hour"}
    )
    trump = await views.client.get("/entities", params={**aliased, "text": "Trump", "label": "ORG"})
    raw_trump = await views.client.get("/entities", params={"text": "Trump", "label": "ORG"})
    search = await views.client.get("/entities/search", params={**aliased, "q": "u"})
    publications = await views.client.get("/publications", params=aliased)

    assert entities.json() == answer_of("Wire", (3, 0), [DONALD, UNITED_STATES, TRUMP_ORG])
    assert windows.json() == [
        {
            "start": iso(T0),
            "end": iso(T1),
            "articles": 2,
            "entities": [
                merging("Donald Trump", "PERSON", 3, 1, form("Trump", "ORG", 2), form("Donald Trump", "PERSON", 1)),
                UNITED_STATES,
                TRUMP_ORG,
            ],
        },
        {
            "start": iso(T1),
            "end": iso(T2),
            "articles": 1,
            "entities": [
                merging("Donald Trump", "PERSON", 2, 1, form("Donald Trump", "PERSON", 1), form("Trump", "PERSON", 1))
            ],
        },
    ]
    assert series.json() == {
        "publication": "Wire",
        "text": "Donald Trump",
        "label": "PERSON",
        "step": "hour",
        "start": iso(T0),
        "end": iso(T2),
        "points": [point(T0, T1, 2, 0, 3, 1), point(T1, T2, 1, 0, 2, 1)],
        "merged": DONALD_MERGED,
    }
    wire = {"publication": "Wire", "mentions": 1, "articles": 1, "publication_articles": 3}
    assert trump.json() == {"text": "Trump", "label": "ORG", "start": None, "end": None, "publications": [wire]}
    assert raw_trump.json()["publications"] == [{**wire, "mentions": 3, "articles": 2}]
    assert search.json() == [UNITED_STATES]
    assert [p["publication"] for p in publications.json()] == ["Wire"]


async def test_a_firestore_namespace_of_the_layout_before_is_a_409_saying_to_recount(
    request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = sink_settings("firestore", request, kafka_bootstrap, tmp_path)
    sink = Store(settings)
    try:
        sink.write(wire_flush(), sink.read_offset(GROUP, TOPIC, 2))
    finally:
        sink.close()
    store = firestore.Client(project=settings.firestore_project)
    try:  # what a namespace claimed before layout 2 holds: no layout field
        store.collection("namespaces").document(namespace_key(settings.namespace)).update(
            {"layout": firestore.DELETE_FIELD}
        )
    finally:
        store.close()
    async with service(settings) as client:
        answer = await client.get("/publications/Wire/entities")
    assert answer.status_code == 409, answer.text
    assert answer.json() == {
        "detail": "counts namespace 'newscounts' was counted in layout 1 of this sink, this version reads and "
        "writes layout 2: recount the topic into a new namespace with `python -m consumer.recount --namespace "
        "NEW_NAME` and point COUNTS_NAMESPACE at it (docs/sinks.md, 'Upgrading')"
    }


async def test_the_aliased_view_of_a_namespace_counted_before_it_is_a_409_saying_to_recount(
    request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path: Path
) -> None:
    for kind in ("sqlite", "firestore"):
        settings = sink_settings(kind, request, kafka_bootstrap, tmp_path / kind)
        sink = Store(settings)
        try:
            sink.write(wire_flush(), sink.read_offset(GROUP, TOPIC, 2))
        finally:
            sink.close()
        spec = ("sqlite", str(settings.sqlite_path)) if kind == "sqlite" else ("firestore", settings.firestore_project)
        forget_the_aliased_view(spec, settings.namespace)
        async with service(settings) as client:
            answers = [
                await client.get(path)
                for path in (
                    "/publications?view=aliased",
                    "/publications/Wire/entities?view=aliased",
                    "/publications/Wire/windows?view=aliased",
                    "/publications/Wire/series?text=Trump&label=ORG&view=aliased",
                    "/entities?text=Trump&label=ORG&view=aliased",
                    "/entities/search?q=t&view=aliased",
                )
            ]
            raw = await client.get("/publications/Wire/entities")
        for answer in answers:
            assert answer.status_code == 409, answer.text
            assert answer.json() == {
                "detail": "counts namespace 'newscounts' holds no aliased view (it was counted before that view "
                "existed): ask for view=raw, or recount the topic into a new namespace with `python -m "
                "consumer.recount --namespace NEW_NAME` and point COUNTS_NAMESPACE at it (docs/aliases.md, "
                "'Recounting')"
            }
        assert raw.status_code == 200 and len(raw.json()["entities"]) == 5
