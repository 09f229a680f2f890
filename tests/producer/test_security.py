"""Security of the HTTP service, beyond what the producer tests already check (missing/wrong/non-ASCII keys,
keys absent from in-process logs, answers and metrics, 413 bodies, garbage bodies):

- keys sent anywhere but a whole, exact ``X-API-Key`` header are refused;
- the key comparison is constant-time by construction (code-level: ``hmac.compare_digest`` against every key,
  no early exit, no other comparison of a key anywhere);
- a real server's own output (uvicorn access log, debug logging) never contains a key;
- the real server refuses oversized headers and declared bodies without waiting for them;
- no JSON value (huge numbers, deep nesting, surrogates, NULs) gets a 5xx; a client gone mid-body is a 499;
- slowloris: heads must arrive within HEAD_TIMEOUT, bodies without pauses over BODY_TIMEOUT (raw sockets);
- log lines escape what clients sent, and the access log redacts keys sent in the URL;
- every answer carries the security headers (a CSP allowing no other origin), and the pages and the
  service's own files name no other host; the vendored Swagger UI is its pinned release;
- the read API cannot address anything but the publication named: hostile names are 404s or their own
  counts, names never reach a Firestore path or an SQL text (code-level checks of both sinks).
"""

import ast
import hashlib
import hmac
import inspect
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
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
from producer.app import STATIC_DIR, create_app
from producer.security_headers import SECURITY_HEADERS
from producer.settings import ProducerSettings
from tests.chaos.support import producer_service
from tests.producer.support import API_KEY, ARTICLE_PLACES, SECOND_KEY, service, settings_for, topic_size
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


READS_KEYS = {"auth.py", "app.py", "__main__.py"}


def test_the_key_check_has_no_early_exit_and_keys_are_compared_nowhere_else() -> None:
    source = inspect.getsource(auth.key_is_valid)
    loops = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.For)]
    assert len(loops) == 1
    assert not [node for node in ast.walk(loops[0]) if isinstance(node, ast.Return | ast.Break)]
    for path in sorted((REPO / "producer").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            # the keys are only ever read by key_is_valid's callers: no ==, in, startswith... on them elsewhere
            # (__main__ hands them to the log formatter, which checks query values with key_is_valid)
            if isinstance(node, ast.Attribute) and node.attr == "api_keys" and path.name not in READS_KEYS:
                raise AssertionError(f"{path.name}:{node.lineno} reads the API keys")
            if isinstance(node, ast.Compare) and path.name == "auth.py":
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                assert not names & {"given", "candidate", "key", "keys"}, f"auth.py:{node.lineno} compares a key"


# --- the real server: its output never holds a key; oversized headers and declared bodies ---


@pytest.fixture
def real_server(kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``python -m producer`` at debug level, small limits; yields its URL and the file its output goes to."""
    with running_server(kafka_bootstrap, fresh_topic("security-server"), tmp_path) as server:
        yield server


@pytest.fixture
def timed_server(kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """:func:`real_server` with HEAD_TIMEOUT and BODY_TIMEOUT of 2 s."""
    topic = fresh_topic("security-timeouts")
    with running_server(kafka_bootstrap, topic, tmp_path, HEAD_TIMEOUT="2s", BODY_TIMEOUT="2s") as server:
        yield server


@contextmanager
def running_server(bootstrap: str, topic: str, tmp_path: Path, **extra: str) -> Iterator[tuple[str, Path]]:
    output = tmp_path / "server.log"
    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC": topic,
        "SINK": "sqlite",
        "SQLITE_PATH": str(tmp_path / "counts.sqlite3"),
        "PORT": str(free_port()),
        "API_KEYS": f"{API_KEY},{SECOND_KEY}",
        "LOG_LEVEL": "debug",
        "MAX_BODY_BYTES": "100000",
        "MAX_ARTICLE_BYTES": "50000",
        **extra,
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
            # keys sent in the URL by mistake: secret-named parameters, any parameter equal to a key, a bare key
            client.get("/publications/Nobody/entities", params={"api_key": API_KEY, "limit": 5}).status_code,
            client.get("/publications", params={"x": SECOND_KEY, "TOKEN": "abc", "label": "ORG"}).status_code,
            client.get(f"/healthz?{quote(API_KEY)}").status_code,
        ]
    assert answers == [202, 207, 401, 422, 413, 404, 404, 200, 200]
    time.sleep(0.5)
    logged = output.read_text()
    assert '"POST /articles HTTP/1.1" 401' in logged  # the access log is on, and shows no header
    for secret in (API_KEY, SECOND_KEY, near_miss):
        assert secret not in logged
    assert '"GET /publications/Nobody/entities?api_key=[redacted]&limit=5 HTTP/1.1" 404' in logged
    assert '"GET /publications?x=[redacted]&TOKEN=[redacted]&label=ORG HTTP/1.1" 200' in logged
    assert '"GET /healthz?[redacted] HTTP/1.1" 200' in logged


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


# --- no input gives a 5xx: numbers, nesting and strings that Python's or pydantic's parsers refuse ---

NASTY_JSON: dict[str, bytes] = {
    "integer of 4,301 digits": b"1" * 4301,
    "integer of 40,000 digits": b"9" * 40_000,
    "negative integer of 5,000 digits": b"-" + b"1" * 5000,
    "float of 5,000 digits": b"1." + b"1" * 5000,
    "float exponent 999999": b"1e999999",
    "float under the smallest": b"-1e-400",
    "arrays nested 20,000 deep": b"[" * 20_000 + b"]" * 20_000,
    "objects nested 5,000 deep": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "lone high surrogate, escaped": b'"a\\ud800b"',
    "lone low surrogate, escaped": b'"\\udfff"',
    "surrogate as UTF-8 bytes": b'"a\xed\xa0\x80b"',
    "NUL, escaped": b'"a\\u0000b"',
    "NUL byte, raw": b'"a\x00b"',
}
"""JSON values (raw text) that have each broken a JSON service somewhere: Python's int() refuses more than 4,300
digits, deep nesting exhausts recursion, surrogates and NULs break encoders and C strings."""


@pytest.mark.integration
@pytest.mark.slow
def test_no_json_value_gets_a_5xx_on_any_write_endpoint(real_server: tuple[str, Path]) -> None:
    url, output = real_server
    answers: dict[int, int] = {}
    with httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": API_KEY}) as client:
        for name, value in NASTY_JSON.items():
            for place in ARTICLE_PLACES:
                item = place % value
                for path, content_type, body, allowed in [
                    ("/articles", "application/json", item, {202, 422}),
                    ("/articles/batch", "application/json", b"[" + item + b"]", {202, 207, 422}),
                    ("/articles/batch", "application/x-ndjson", item + b"\n", {202, 207, 422}),
                ]:
                    answer = client.post(path, content=body, headers={"Content-Type": content_type})
                    assert answer.status_code in allowed, (name, place, path, content_type, answer.text[:300])
                    answers[answer.status_code] = answers.get(answer.status_code, 0) + 1
    logged = output.read_text()
    assert "Traceback" not in logged and "unexpected error" not in logged, logged[-3000:]
    assert answers[422] > answers.get(202, 0) > 0  # most are refused; NULs and surrogates in content are text


# --- a client that goes away mid-body is not a server error ---


def until_closed(connection: socket.socket, limit: float = 30) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``limit`` seconds)."""
    connection.settimeout(limit)
    answer = b""
    try:
        while chunk := connection.recv(65536):
            answer += chunk
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open for {limit} s; got {answer[:200]!r}") from None
    return answer


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def metric_lines(url: str, prefix: str) -> list[str]:
    return [line for line in httpx.get(f"{url}/metrics").text.splitlines() if line.startswith(prefix)]


@pytest.mark.integration
@pytest.mark.slow
def test_a_client_gone_mid_body_is_a_499_logged_without_a_traceback(real_server: tuple[str, Path]) -> None:
    url, output = real_server
    for path in ("/articles", "/articles/batch"):
        with connect(url) as connection:
            connection.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: {API_KEY}\r\n"
                "Content-Length: 5000\r\n\r\n".encode()
                + b'[{"publication": "P", "content": "half of it'
            )
            time.sleep(0.3)  # the app is reading the body when the client goes
    time.sleep(1)
    requests = metric_lines(url, "newscounts_http_requests_total")
    assert 'newscounts_http_requests_total{method="POST",route="/articles",status="499"} 1.0' in requests
    assert 'newscounts_http_requests_total{method="POST",route="/articles/batch",status="499"} 1.0' in requests
    assert not [line for line in requests if 'status="5' in line], requests
    logged = output.read_text()
    assert logged.count("the client disconnected before sending the whole body") == 2, logged[-3000:]
    assert "Traceback" not in logged and "unexpected error" not in logged and " ERROR " not in logged


# --- slowloris: heads and bodies must arrive within HEAD_TIMEOUT and without pauses over BODY_TIMEOUT ---


@pytest.mark.integration
@pytest.mark.slow
def test_a_connection_that_sends_nothing_or_part_of_a_head_is_closed(timed_server: tuple[str, Path]) -> None:
    url, output = timed_server
    with connect(url) as idle:
        assert until_closed(idle) == b""  # nothing asked, nothing answered
    with connect(url) as partial:
        partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        answer = until_closed(partial)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer[:200]
    assert answer.endswith(b"\r\n\r\nRequest head not complete within 2s: send the whole head at once.")
    assert b"connection: close\r\n" in answer and b"x-frame-options: DENY\r\n" in answer
    assert "the request head was not complete within HEAD_TIMEOUT: 408" in output.read_text()


@pytest.mark.integration
@pytest.mark.slow
def test_a_stalled_body_gets_408_with_or_without_a_key_and_a_steady_one_is_accepted(
    timed_server: tuple[str, Path],
) -> None:
    url, output = timed_server
    head = "POST /articles HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
    with connect(url) as stalled:
        stalled.sendall(f"{head}X-API-Key: {API_KEY}\r\n\r\n{{".encode())
        answer = until_closed(stalled)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer[:200]
    assert answer.endswith(b"Request body stalled for more than 2s: send it without pauses.")
    with connect(url) as keyless:  # answered 401 at once; the connection must not stay open for the rest
        keyless.sendall(f"{head}\r\n{{".encode())
        answer = until_closed(keyless)
    assert answer.startswith(b"HTTP/1.1 401 Unauthorized\r\n"), answer[:200]

    article = json.dumps({"publication": "Steady", "content": "Angela Merkel " * 5}).encode()
    with connect(url) as steady:  # pauses shorter than BODY_TIMEOUT are not a stall
        steady.sendall(f"{head.replace('100', str(len(article)))}X-API-Key: {API_KEY}\r\n\r\n".encode())
        for start in range(0, len(article), 20):
            time.sleep(0.2)
            steady.sendall(article[start : start + 20])
        answer = exchange(steady, b"")
    assert answer.startswith(b"HTTP/1.1 202 Accepted\r\n"), answer[:300]

    requests = metric_lines(url, "newscounts_http_requests_total")
    assert 'newscounts_http_requests_total{method="POST",route="/articles",status="408"} 1.0' in requests
    assert 'newscounts_http_requests_total{method="POST",route="/articles",status="401"} 1.0' in requests
    logged = output.read_text()
    assert '"POST /articles": the request body stalled for more than BODY_TIMEOUT: 408' in logged
    assert '"POST /articles": the rest of the request body did not come within BODY_TIMEOUT: closed' in logged
    assert "Traceback" not in logged and "the client disconnected" not in logged


# --- log lines: nothing raw from the client, no key from a URL ---

SPOOFING_PATH = "/publications/%1B%5B2J%E2%80%AE%E2%80%8B%E2%81%A6x%0D%0Aforged%EF%BB%BF/entities"
"""A terminal escape (clear screen), a right-to-left override, a zero-width space, a left-to-right isolate, a
CR LF that would start a forged line, and a BOM."""


@pytest.mark.integration
@pytest.mark.slow
def test_every_log_line_escapes_control_bidi_and_zero_width_characters(timed_server: tuple[str, Path]) -> None:
    url, output = timed_server
    assert httpx.get(f"{url}{SPOOFING_PATH}").status_code == 404  # no route matches a newline
    with connect(url) as connection:  # the path reaches a log line of its own once the body stalls
        connection.sendall(f"POST {SPOOFING_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{{".encode())
        assert until_closed(connection).startswith(b"HTTP/1.1 404 ")
    time.sleep(0.5)
    lines = output.read_text().splitlines()
    unsafe = [line for line in lines if not line.isprintable()]
    assert unsafe == [], unsafe
    spoof = "/publications/\\x1b[2J\\u202e\\u200b\\u2066x\\r\\nforged\\ufeff/entities"
    assert [line for line in lines if spoof in line and "BODY_TIMEOUT" in line], lines[-20:]
    assert not [line for line in lines if line.startswith("forged")]


# --- security headers on every answer; the pages load nothing from another host ---

EXPECTED_HEADERS = {name.lower(): value for name, value in SECURITY_HEADERS.items()}
STATIC_FILES = sorted(path.relative_to(STATIC_DIR).as_posix() for path in STATIC_DIR.rglob("*") if path.is_file())
VENDORED = "swagger-ui/"
URL = re.compile(r"https?://[^\s\"'<>()]+")
NAMESPACES = {"http://www.w3.org/2000/svg"}
"""XML namespace names (an SVG's ``xmlns``, ``createElementNS``): identifiers, never fetched."""


@pytest.mark.integration
@pytest.mark.anyio
async def test_every_kind_of_answer_carries_the_security_headers(
    kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path
) -> None:
    app = create_app(settings_for(kafka_bootstrap, fresh_topic("security-headers"), tmp_path, max_body_bytes=2_000_000))

    @app.get("/test-only-bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    key = {"X-API-Key": API_KEY}
    requests: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", "/", {}, 200),
        ("GET", "/docs", {}, 200),
        ("GET", "/openapi.json", {}, 200),
        ("GET", "/healthz", {}, 200),
        ("GET", "/metrics", {}, 200),
        ("GET", "/publications", {}, 200),
        ("GET", "/publications/Nobody/entities", {}, 404),
        ("GET", "/publications/Nobody/entities", {"params": {"limit": -1}}, 422),
        ("GET", "/nowhere", {}, 404),
        ("GET", "/redoc", {}, 404),
        ("GET", "/static/nothing.js", {}, 404),
        ("DELETE", "/articles", {}, 405),
        ("POST", "/articles", {"json": ARTICLE}, 401),
        ("POST", "/articles", {"content": b"x", "headers": {**key, "Content-Type": "text/plain"}}, 415),
        ("POST", "/articles", {"json": {"publication": "P"}, "headers": key}, 422),
        ("POST", "/articles", {"content": b"x" * 2_000_001, "headers": {**key, **JSON}}, 413),
        ("POST", "/articles", {"json": ARTICLE, "headers": key}, 202),
        ("POST", "/articles/batch", {"json": [ARTICLE, {}], "headers": key}, 207),
        ("GET", "/test-only-bug", {}, 500),
        *[("GET", f"/static/{name}", {}, 200) for name in STATIC_FILES],
    ]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://newscounts.test") as client,
    ):
        for method, path, options, status in requests:
            answer = await client.request(method, path, **options)
            assert answer.status_code == status, (method, path, answer.text[:200])
            sent = {name: answer.headers.get(name) for name in EXPECTED_HEADERS}
            assert sent == EXPECTED_HEADERS, (method, path, status)


@pytest.mark.integration
@pytest.mark.slow
def test_the_services_own_answers_carry_the_security_headers_too(real_server: tuple[str, Path]) -> None:
    """Answers the HTTP protocol writes itself, before any app code runs."""
    url, _ = real_server
    too_large = raw_request(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * MIB + b"\r\n\r\n")
    not_http = raw_request(url, b"NOT HTTP AT ALL\r\n\r\n")
    for answer in (too_large, not_http):
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
        head = answer.partition(b"\r\n\r\n")[0].decode().lower()
        for name, value in EXPECTED_HEADERS.items():
            assert f"\r\n{name}: {value.lower()}" in head, (name, head)


def test_the_content_security_policy_allows_no_other_origin() -> None:
    directives = dict(part.strip().split(" ", 1) for part in SECURITY_HEADERS["Content-Security-Policy"].split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    for sources in directives.values():  # only the origin itself (and data: images): no host, no inline, no eval
        assert set(sources.split()) <= {"'self'", "'none'", "data:"}, sources
    assert directives["img-src"] == "'self' data:"


@pytest.mark.anyio
async def test_the_pages_and_the_services_own_files_name_no_other_host() -> None:
    """``/``, ``/docs`` and every static file the service wrote itself hold no http(s) URL (XML namespace names
    aside). The vendored Swagger UI is checked against its release instead (below), and in a real browser with
    every other host unreachable (tests/browser/test_pages.py)."""
    app = create_app(ProducerSettings(api_keys=API_KEY, sink=SinkKind.SQLITE, sqlite_path=Path("unused.sqlite3")))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://newscounts.test") as client:
        pages = {path: (await client.get(path)).text for path in ("/", "/docs")}
        own = [name for name in STATIC_FILES if not name.startswith(VENDORED)]
        pages |= {f"/static/{name}": (await client.get(f"/static/{name}")).text for name in own}
        for path in ("/", "/docs"):  # every file a page refers to is served by the service itself
            for reference in re.findall(r'(?:src|href)="([^"]+)"', pages[path]):
                assert reference.startswith("/") and not reference.startswith("//"), (path, reference)
                assert (await client.get(reference)).status_code == 200, (path, reference)
    assert {"/static/docs.js", "/static/app.js", "/static/index.html"} <= set(pages)
    for path, text in pages.items():
        assert set(URL.findall(text)) <= NAMESPACES, path
        assert "<script>" not in text and " style=" not in text, path  # nothing inline for the CSP to refuse


def test_the_vendored_swagger_ui_is_the_pinned_release_and_loads_nothing_from_its_stylesheet() -> None:
    from devservices import swagger_ui

    folder = STATIC_DIR / "swagger-ui"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["package"], manifest["version"], manifest["integrity"]) == (
        swagger_ui.PACKAGE,
        swagger_ui.VERSION,
        swagger_ui.INTEGRITY,
    )
    assert sorted(manifest["sha256"]) == sorted(swagger_ui.FILES)
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, f"{name} differs from the release"
    stylesheet = (folder / "swagger-ui.css").read_text()
    targets = re.findall(r"url\(\s*['\"]?([^'\")]*)", stylesheet)
    assert targets and all(target.startswith("data:") for target in targets)
    assert "validatorUrl: null" in (STATIC_DIR / "docs.js").read_text()  # no badge fetched from a validator


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
    "__name__",
]
"""Names that would reach another document or table if a name were ever concatenated into a path or SQL."""

REFUSED = ["Reuters\x00", "Reuters\u200b", "Reuters\u202e", "Reuters\x1b[2J"]
"""Names no article may carry (common.article.publication_problem): refused before any read."""


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
async def test_names_with_refused_characters_are_422s_even_when_the_sink_holds_them(read_api: Any) -> None:
    client, sink = read_api
    sink.write(  # as a sink written before the rule might hold them
        PartitionFlush(
            "newscounts", "articles", 1, len(REFUSED), 3600, {publication_key(n): counts_of(n, 1) for n in REFUSED}
        ),
        sink.read_offset("newscounts", "articles", 1),
    )
    for name in REFUSED:
        answer = await client.get(entities_path(name))
        assert answer.status_code == 422, (name, answer.text)
        assert answer.json()["detail"].startswith("publication: must not contain "), answer.text
        assert "Entity of" not in answer.text


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
