"""Security of the HTTP service, beyond what the producer tests already check (missing/wrong/non-ASCII keys,
keys absent from in-process logs, answers and metrics, 413 bodies, garbage bodies):

- keys sent anywhere but a whole, exact ``X-API-Key`` header are refused;
- the key comparison is constant-time by construction (code-level: ``hmac.compare_digest`` against every key,
  no early exit, no other comparison of a key anywhere);
- a real server's own output (uvicorn access log, debug logging) never contains a key;
- the real server refuses oversized headers and declared bodies without waiting for them;
- the read API cannot address anything but the publication named: hostile names are 404s or their own
  counts, names never reach a Firestore path or an SQL text (code-level checks of both sinks).
"""

import ast
import hmac
import inspect
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from common.keys import publication_document_id, publication_key
from common.settings import SinkKind
from common.sinks.base import EntityTally, PartitionFlush, PublicationDelta, WindowDelta
from devservices.process import free_port
from producer import auth
from producer.settings import ProducerSettings
from tests.chaos.support import producer_service
from tests.producer.support import API_KEY, SECOND_KEY, service, settings_for, topic_size
from tests.sinks.support import Store

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
ARTICLE = {"publication": "R", "content": "Angela Merkel"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- keys: only a whole, exact X-API-Key header ---

MISPLACED_KEYS: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("padded", {"X-API-Key": f" {API_KEY} "}, {}),
    ("prefix", {"X-API-Key": API_KEY[:-1]}, {}),
    ("suffix", {"X-API-Key": API_KEY + "0"}, {}),
    ("upper case", {"X-API-Key": API_KEY.upper()}, {}),
    ("bearer token", {"Authorization": f"Bearer {API_KEY}"}, {}),
    ("basic auth", {"Authorization": "Basic " + API_KEY}, {}),
    ("other header", {"Api-Key": API_KEY}, {}),
    ("query parameter", {}, {"X-API-Key": API_KEY, "api_key": API_KEY}),
    ("cookie", {"Cookie": f"X-API-Key={API_KEY}"}, {}),
]


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_key_anywhere_but_a_whole_exact_header_is_refused(
    kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = fresh_topic("security-keys")
    async with service(settings_for(kafka_bootstrap, topic, tmp_path)) as client:
        for name, headers, params in MISPLACED_KEYS:
            single = await client.post("/articles", json=ARTICLE, headers=headers, params=params)
            batch = await client.post("/articles/batch", json=[ARTICLE], headers=headers, params=params)
            assert (name, single.status_code, batch.status_code) == (name, 401, 401)
            assert API_KEY not in single.text + batch.text
        lower_case_name = await client.post("/articles", json=ARTICLE, headers={"x-api-key": API_KEY})
    assert lower_case_name.status_code == 202  # header names are case-insensitive in HTTP
    assert topic_size(kafka_bootstrap, topic) == 1


# --- constant-time comparison, checked in the code ---


@pytest.mark.parametrize("candidate", [API_KEY, SECOND_KEY, "third-key", "wrong", "", API_KEY[:-1]])
def test_every_configured_key_is_compared_with_compare_digest_whatever_matched(
    candidate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = (API_KEY.encode(), SECOND_KEY.encode(), b"third-key")
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(given: bytes, key: bytes) -> bool:
        compared.append((given, key))
        return bool(real(given, key))

    monkeypatch.setattr(hmac, "compare_digest", spy)  # producer.auth looks it up on the module at each call
    valid = auth.key_is_valid(candidate, keys)

    assert valid == (candidate.encode() in keys)
    assert compared == [(candidate.encode(), key) for key in keys]


def test_the_key_check_has_no_early_exit_and_keys_are_compared_nowhere_else() -> None:
    source = inspect.getsource(auth.key_is_valid)
    loops = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.For)]
    assert len(loops) == 1
    assert not [node for node in ast.walk(loops[0]) if isinstance(node, ast.Return | ast.Break)]
    for path in sorted((REPO / "producer").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            # the keys are only ever read by key_is_valid's caller: no ==, in, startswith... on them elsewhere
            if isinstance(node, ast.Attribute) and node.attr == "api_keys" and path.name not in {"auth.py", "app.py"}:
                raise AssertionError(f"{path.name}:{node.lineno} reads the API keys")
            if isinstance(node, ast.Compare) and path.name == "auth.py":
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                assert not names & {"given", "candidate", "key", "keys"}, f"auth.py:{node.lineno} compares a key"


# --- the real server: its output never holds a key; oversized headers and declared bodies ---


@pytest.fixture
def real_server(kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``python -m producer`` at debug level, small limits; yields its URL and the file its output goes to."""
    port = free_port()
    output = tmp_path / "server.log"
    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC": fresh_topic("security-server"),
        "SINK": "sqlite",
        "SQLITE_PATH": str(tmp_path / "counts.sqlite3"),
        "PORT": str(port),
        "API_KEYS": f"{API_KEY},{SECOND_KEY}",
        "LOG_LEVEL": "debug",
        "MAX_BODY_BYTES": "100000",
        "MAX_ARTICLE_BYTES": "50000",
    }
    with producer_service(env, output) as service:
        yield service.url, output


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_servers_output_never_holds_a_key(real_server: tuple[str, Path]) -> None:
    url, output = real_server
    near_miss = API_KEY[:-3] + "xyz"
    with httpx.Client(base_url=url, timeout=30) as client:
        answers = [
            client.post("/articles", json=ARTICLE, headers={"X-API-Key": API_KEY}).status_code,
            client.post("/articles/batch", json=[ARTICLE, {}], headers={"X-API-Key": SECOND_KEY}).status_code,
            client.post("/articles", json=ARTICLE, headers={"X-API-Key": near_miss}).status_code,
            client.post("/articles", json={"publication": 5}, headers={"X-API-Key": API_KEY}).status_code,
            client.post("/articles", content=b"x" * 200_000, headers={**JSON, "X-API-Key": API_KEY}).status_code,
            client.get("/publications/Nobody/entities", headers={"X-API-Key": API_KEY}).status_code,
        ]
    assert answers == [202, 207, 401, 422, 413, 404]
    time.sleep(0.5)
    logged = output.read_text()
    assert '"POST /articles HTTP/1.1" 401' in logged  # the access log is on, and shows no header
    for secret in (API_KEY, SECOND_KEY, near_miss):
        assert secret not in logged


def raw_request(url: str, request: bytes) -> bytes:
    """Send raw bytes and read what the server answers before it closes (or 10 s pass)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and len(answer) > 12:
                    break
        except TimeoutError:
            pass
    return answer


@pytest.mark.integration
@pytest.mark.slow
def test_an_oversized_declared_body_is_refused_without_waiting_for_it(real_server: tuple[str, Path]) -> None:
    url, _ = real_server
    head = b"POST /articles HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n"

    assert raw_request(url, head + b"\r\n{").startswith(b"HTTP/1.1 401 ")
    assert raw_request(url, head + f"X-API-Key: {API_KEY}\r\n\r\n{{".encode()).startswith(b"HTTP/1.1 413 ")


@pytest.mark.integration
@pytest.mark.slow
def test_an_oversized_header_is_refused(real_server: tuple[str, Path]) -> None:
    """uvicorn's default parser (httptools) took headers of any size into memory (a 64 MiB header was answered
    200 and the process grew by 64 MiB); the service now bounds the request head (producer.http_protocol)."""
    url, _ = real_server
    answer = raw_request(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * MIB + b"\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 400 ") and b"Request head too large" in answer, answer[:200]
    assert httpx.get(f"{url}/healthz").status_code == 200


def exchange(connection: socket.socket, request: bytes) -> bytes:
    """Send one request on an open connection and read its whole answer (by its Content-Length)."""
    connection.sendall(request)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.mark.integration
@pytest.mark.slow
def test_the_head_bound_counts_only_heads_on_every_request_of_a_connection(real_server: tuple[str, Path]) -> None:
    """A head just under 64 KiB passes, a body over 64 KiB sent with its head is not mistaken for a head, and
    the second request of a kept-alive connection is bounded too, even when its head arrives in pieces."""
    url, _ = real_server
    host, port = url.removeprefix("http://").split(":")
    articles = [{"publication": "Bound", "title": f"t{n}", "content": "x" * 40_000} for n in range(2)]
    body = json.dumps(articles).encode()
    assert 64 * 1024 < len(body) < 100_000
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        padded = exchange(connection, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 60_000 + b"\r\n\r\n")
        assert padded.startswith(b"HTTP/1.1 200 ")
        posted = exchange(
            connection,
            b"POST /articles/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"X-API-Key: {API_KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body,
        )
        assert posted.startswith(b"HTTP/1.1 202 "), posted[:300]
        answer = b""
        try:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ")
            for _ in range(100):  # 100 KiB of header, 1 KiB at a time
                connection.sendall(b"a" * 1024)
                time.sleep(0.002)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed before the whole head was sent
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Request head too large" in answer, answer[:200]


# --- the read API addresses the named publication and nothing else ---

T0 = int(datetime(2020, 7, 20, tzinfo=UTC).timestamp())
HOSTILE = [
    "../offsets",
    "..",
    "a/b",
    "%2e%2e",
    "publications/x/entities",
    "Reuters/entities",
    "offsets",
    "Robert'); DROP TABLE publications;--",
    "' OR '1'='1",
    "Reuters\x00",
    "__name__",
]
"""Names that would reach another document or table if a name were ever concatenated into a path or SQL."""


def seeded(sink: Store, names: list[str]) -> None:
    """Reuters (2 articles) and each of ``names`` (1 article, one entity spelled as the name)."""
    publications = {publication_key("Reuters"): counts_of("Reuters", 2)}
    publications.update({publication_key(name): counts_of(name, 1) for name in names})
    flush = PartitionFlush("newscounts", "articles", 0, 7, 3600, publications)
    sink.write(flush, sink.read_offset("newscounts", "articles", 0))


def counts_of(name: str, articles: int) -> PublicationDelta:
    entity = EntityTally(text=f"Entity of {name}", label="ORG", mentions=articles, articles=articles)
    return PublicationDelta(name=name, windows={T0: WindowDelta(articles, {(entity.text.casefold(), "ORG"): entity})})


def sink_settings(kind: str, request: pytest.FixtureRequest, bootstrap: str, tmp_path: Path) -> ProducerSettings:
    if kind == "sqlite":
        return settings_for(bootstrap, "articles", tmp_path)
    project = request.getfixturevalue("firestore_project")
    return settings_for(bootstrap, "articles", tmp_path, sink=SinkKind.FIRESTORE, firestore_project=project)


@pytest.fixture(params=["sqlite", "firestore"])
async def read_api(request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Any]:
    settings = sink_settings(request.param, request, kafka_bootstrap, tmp_path)
    sink = Store(settings)
    seeded(sink, [])
    async with service(settings) as client:
        yield client, sink
    sink.close()


def entities_path(name: str) -> str:
    """The name percent-encoded, dots too (an unencoded ``..`` segment is removed by the client's URL parser)."""
    return f"/publications/{quote(name, safe='').replace('.', '%2E')}/entities?limit=0"


@pytest.mark.integration
@pytest.mark.anyio
async def test_hostile_names_are_404s_and_never_reach_other_data(read_api: Any) -> None:
    client, sink = read_api
    before = sink.read_offset("newscounts", "articles", 0)
    paths = [entities_path(name) for name in HOSTILE]
    paths += [
        "/publications/..%2Foffsets/entities",
        "/publications/%2e%2e/%2e%2e/offsets/entities",
        "/publications/Reuters/entities/entities",
        "/publications/Reuters%2Fentities/windows",
        "/publications/%252e%252e/windows",
    ]
    for path in paths:
        answer = await client.get(path)
        assert answer.status_code == 404, (path, answer.text)
        assert "Entity of Reuters" not in answer.text
    assert sink.read_offset("newscounts", "articles", 0) == before
    reuters = await client.get(entities_path("Reuters"))
    assert reuters.json()["articles"] == 2


@pytest.mark.integration
@pytest.mark.anyio
async def test_hostile_names_that_exist_answer_their_own_counts_only(read_api: Any) -> None:
    client, sink = read_api
    sink.write(
        PartitionFlush(
            "newscounts",
            "articles",
            1,
            len(HOSTILE),
            3600,
            {publication_key(name): counts_of(name, 1) for name in HOSTILE},
        ),
        sink.read_offset("newscounts", "articles", 1),
    )
    for name in HOSTILE:
        answer = await client.get(entities_path(name))
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json() == {
            "publication": name,
            "articles": 1,
            "start": None,
            "end": None,
            "entities": [{"text": f"Entity of {name}", "label": "ORG", "mentions": 1, "articles": 1}],
        }
    listed = (await client.get("/publications")).json()
    assert sorted(item["publication"] for item in listed) == sorted([*HOSTILE, "Reuters"])
    assert sink.read_offset("newscounts", "articles", 0).next_offset == 7


@pytest.mark.parametrize("name", [*HOSTILE, "é" * 200, "🚀" * 200])
def test_a_publication_key_is_a_single_safe_path_segment(name: str) -> None:
    key = publication_key(name)
    assert re.fullmatch(r"p_[A-Za-z0-9_-]+", key) and len(key.encode()) < 1500  # Firestore's id limit


SQL_CALLS = {"execute", "executemany", "executescript"}
FIRESTORE_PATH_CALLS = {"document", "collection", "collection_group"}
KEY_FUNCTIONS = {
    "publication_key",
    "publication_document_id",
    "namespace_key",
    "entity_key",
    "offset_key",
    "count_document_id",
}


def calls(path: Path, names: set[str]) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names
    ]


def test_sqlite_statements_are_constant_text_with_bound_parameters() -> None:
    found = calls(REPO / "common" / "sinks" / "sqlite.py", SQL_CALLS)
    assert found
    for call in found:
        statement = call.args[0]
        assert isinstance(statement, ast.Constant | ast.Name), f"sqlite.py:{call.lineno}: SQL built at run time"


def test_firestore_paths_are_constants_or_encoded_keys() -> None:
    modules = sorted((REPO / "common" / "sinks").glob("firestore*.py"))
    assert len(modules) >= 3
    for path in modules:
        for call in calls(path, FIRESTORE_PATH_CALLS):
            for argument in call.args:
                allowed = isinstance(argument, ast.Constant) or (
                    isinstance(argument, ast.Call)
                    and isinstance(argument.func, ast.Name)
                    and argument.func.id in KEY_FUNCTIONS
                )
                assert allowed, f"{path.name}:{call.lineno}: {ast.unparse(argument)} in a document path"


def test_a_publication_key_is_checked_before_it_names_a_document() -> None:
    assert publication_document_id(publication_key("a/b")) == publication_key("a/b")
    for bad in ("a/b", "p_a/b", "..", "p_", "__x__", "p_x y"):
        with pytest.raises(ValueError, match="not a publication key"):
            publication_document_id(bad)
