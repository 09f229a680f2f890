"""Every publication name an article may carry round-trips through the read API's URL path (hypothesis).

The name is written to a real SQLite sink the way the consumer writes it (keyed by ``publication_key``), put
in the path the way the dashboard does (``producer/static/app.js``: ``encodeURIComponent``, and a leading
``%20`` for ``.`` and ``..``, which clients drop as dot segments), both as ``GET /publications`` lists it and as
it was sent, and read back through the app: the answer must be that publication's counts, under its
normalized name. (A newline, ``%0A``, matches no route: a name is sent with its whitespace as spaces.)
"""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import anyio
import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.article import normalize_publication, publication_problem
from common.keys import publication_key
from common.settings import SinkKind
from common.sinks.base import EntityTally, PartitionFlush, PublicationDelta, WindowDelta
from common.sinks.factory import open_reader
from producer.app import create_app
from producer.reads import Reads
from producer.settings import ProducerSettings
from tests.common.test_article_properties import TRICKY
from tests.producer.support import API_KEY
from tests.sinks.support import Store

WINDOW = 1_595_203_200


def name_segment(name: str) -> str:
    """What the dashboard puts in the path for ``name`` (JavaScript's encodeURIComponent, then the dot rule)."""
    segment = quote(name, safe="-_.!~*'()")
    return f"%20{segment}" if segment in {".", ".."} else segment


accepted_names = (
    st.lists(st.sampled_from(TRICKY) | st.characters(), min_size=1, max_size=40)
    .map("".join)
    .filter(lambda name: publication_problem(normalize_publication(name)) is None)
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[FastAPI, Store]]:
    """The app reading a SQLite file (no broker needed for reads: the lifespan's Kafka producer is left out)."""
    settings = ProducerSettings(api_keys=API_KEY, sink=SinkKind.SQLITE, sqlite_path=tmp_path / "counts.sqlite3")
    store = Store(settings)
    application = create_app(settings)
    application.state.reads = Reads(lambda: open_reader(settings), 1)
    try:
        yield application, store
    finally:
        application.state.reads.close()
        store.close()


def test_every_accepted_name_round_trips_through_the_read_api_path(app: tuple[FastAPI, Store]) -> None:
    application, sink = app
    written = 0

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(accepted_names)
    def check(name: str) -> None:
        nonlocal written
        normalized = normalize_publication(name)
        entity = EntityTally(text=f"entity {written}", label="ORG", mentions=1, articles=1)
        group = application.state.settings.kafka_group_id
        lease = sink.read_offset(group, "t", 0)
        written += 1
        delta = PublicationDelta(normalized, {WINDOW: WindowDelta(1, {(entity.text, "ORG"): entity})})
        sink.write(PartitionFlush(group, "t", 0, written, 3600, {publication_key(normalized): delta}), lease)

        # As GET /publications lists it, and as it was sent (but for a newline, which no route matches)
        for spelling in (normalized, name.replace("\n", " ")):
            answer = anyio.run(get, application, f"/publications/{name_segment(spelling)}/entities?limit=0")
            assert answer.status_code == 200, (spelling, answer.text)
            assert answer.json()["publication"] == normalized
            assert {"text": entity.text, "label": "ORG", "mentions": 1, "articles": 1} in answer.json()["entities"]

    check()


@pytest.mark.parametrize("name", ["..", ".", "a/b", "a/../b", "?", "#", "%", "%2E%2E", "../offsets", " .. "])
def test_dot_segments_and_reserved_characters_get_a_path_the_service_maps_back(name: str) -> None:
    segment = name_segment(name)
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert segment not in {".", ".."}
    assert httpx.URL(f"http://x/publications/{segment}/entities").path.startswith("/publications/")


async def get(application: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://newscounts.test") as client:
        return await client.get(path)
