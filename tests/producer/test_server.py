"""``newscounts-producer`` as a real process: uvicorn on HOST:PORT, the dashboard, the OpenAPI page with
examples, streamed bodies refused over real HTTP, clean shutdown, and clear refusals to start misconfigured.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from devservices.process import free_port, wait_until_answering
from producer.app import STATIC_DIR
from tests.producer.support import API_KEY, SECOND_KEY

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PRODUCER = Path(sys.executable).with_name("newscounts-producer")


def server_env(bootstrap: str, topic: str, tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"API_KEYS", "API_KEYS_FILE"}}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC": topic,
            "SINK": "sqlite",
            "SQLITE_PATH": str(tmp_path / "counts.sqlite3"),
            "PORT": str(port),
            "API_KEYS": f"{API_KEY}, {SECOND_KEY}",
            "LOG_LEVEL": "debug",
        }
    )
    env.update(extra)
    return env


@contextmanager
def serving(env: dict[str, str], output: Path) -> Iterator[str]:
    """``newscounts-producer`` running with ``env`` (its output to ``output``); yields its base URL and stops
    it with SIGTERM afterwards, checking that it shut down cleanly."""
    with output.open("wb") as log:
        process = subprocess.Popen([str(PRODUCER)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_until_answering(f"{base}/healthz", process, output, timeout=20)
        yield base
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete." in output.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def server(kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A running ``newscounts-producer``; yields its base URL and the file its output goes to."""
    output = tmp_path / "server.log"
    env = server_env(kafka_bootstrap, fresh_topic("producer-server"), tmp_path, free_port())
    with serving(env, output) as base:
        yield base, output


def test_serves_ingest_dashboard_docs_and_shuts_down_cleanly(server: tuple[str, Path]) -> None:
    base, output = server
    with httpx.Client(base_url=base, timeout=30) as client:
        accepted = client.post("/articles", json={"publication": "R", "content": "x"}, headers={"X-API-Key": API_KEY})
        refused = client.post("/articles", json={"publication": "R", "content": "x"}, headers={"X-API-Key": "no"})
        page = client.get("/")
        static = client.get("/static/index.html")
        docs = client.get("/docs")
        ready = client.get("/readyz")

    assert accepted.status_code == 202
    assert refused.status_code == 401
    assert page.status_code == static.status_code == 200
    assert page.content == static.content == (STATIC_DIR / "index.html").read_bytes()
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert ready.json() == {"status": "ready", "kafka": "ok", "sink": "ok"}
    log = output.read_text()
    assert f"Uvicorn running on {base}" in log
    assert '"POST /articles HTTP/1.1" 202' in log
    assert API_KEY not in log and SECOND_KEY not in log


def test_a_streamed_oversized_body_is_refused_over_http(server: tuple[str, Path]) -> None:
    base, _ = server
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        yield b'[{"publication": "R", "content": "'
        while sent < 64 * 1024 * 1024:  # far more than MAX_BODY_BYTES (8 MiB)
            sent += 65536
            yield b"x" * 65536

    headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
    try:
        answer = httpx.post(f"{base}/articles/batch", content=endless(), headers=headers, timeout=30)
    except httpx.WriteError:  # the server may close the connection before the client finishes sending
        answer = None
    if answer is not None:
        assert answer.status_code == 413
        assert answer.json()["detail"].startswith("the request body is larger than MAX_BODY_BYTES (8388608 bytes)")
    assert httpx.get(f"{base}/healthz").status_code == 200


def test_openapi_documents_every_endpoint_with_examples(server: tuple[str, Path]) -> None:
    spec = httpx.get(f"{server[0]}/openapi.json").json()

    assert sorted(spec["paths"]) == [
        "/articles",
        "/articles/batch",
        "/entities",
        "/entities/search",
        "/healthz",
        "/metrics",
        "/publications",
        "/publications/{publication}/entities",
        "/publications/{publication}/series",
        "/publications/{publication}/windows",
        "/readyz",
        "/status",
    ]
    status = spec["paths"]["/status"]["get"]
    assert status["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Status"
    }
    assert "Next-Cursor" in spec["paths"]["/publications"]["get"]["responses"]["200"]["headers"]
    single = spec["paths"]["/articles"]["post"]
    batch = spec["paths"]["/articles/batch"]["post"]
    assert single["requestBody"]["content"]["application/json"]["example"]["publication"] == "Reuters"
    assert batch["requestBody"]["content"]["application/json"]["example"][1]["publication"] == "CNN (Web News)"
    assert batch["requestBody"]["content"]["application/x-ndjson"]["example"].count("\n") == 2
    assert sorted(single["responses"]) == ["202", "401", "413", "415", "422", "503"]
    assert sorted(batch["responses"]) == ["202", "207", "401", "413", "415", "422", "503"]
    assert single["security"] == [{"APIKeyHeader": []}]
    schemas = spec["components"]["schemas"]
    for name in (
        "Accepted",
        "BatchResult",
        "ValidationErrorBody",
        "EntityCount",
        "Status",
        "PartitionStatus",
        "EntitySeries",
        "EntityMatch",
    ):
        assert schemas[name].get("examples") or any(
            "examples" in field for field in schemas[name]["properties"].values()
        ), name
    entities = spec["paths"]["/publications/{publication}/entities"]["get"]
    assert sorted(entities["responses"]) == ["200", "401", "404", "409", "422", "503"]
    assert [parameter["name"] for parameter in entities["parameters"]] == [
        "publication",
        "limit",
        "label",
        "start",
        "end",
        "view",
    ]
    # every read takes the view, raw by default; an aliased row lists what it merged
    for path, methods in spec["paths"].items():
        if path.startswith(("/publications", "/entities")):
            view = next(parameter for parameter in methods["get"]["parameters"] if parameter["name"] == "view")
            assert view["schema"]["default"] == "raw" and "409" in methods["get"]["responses"], path
    assert schemas["View"]["enum"] == ["raw", "aliased"]
    merged = schemas["EntityCount"]["properties"]["merged"]
    assert merged["examples"][0][0] == {"text": "Trump", "label": "ORG", "mentions": 480}
    assert "merged" not in schemas["EntityCount"].get("required", [])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"API_KEYS": ""},
            "newscounts-producer: no API key configured: set API_KEYS=<key>[,<key>...] or API_KEYS_FILE=<file with "
            "one key per line>; create a key with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
        ),
        (
            {"API_KEYS": "", "API_KEYS_FILE": "/nonexistent/keys"},
            "newscounts-producer: cannot read API_KEYS_FILE '/nonexistent/keys': No such file or directory",
        ),
        (
            {"MAX_BODY_BYTES": "1000"},
            "newscounts-producer: invalid settings: settings: MAX_BODY_BYTES (1000) must be greater than "
            "MAX_ARTICLE_BYTES (1000000), or no article of the largest size could be posted",
        ),
        (
            {"PRODUCE_TIMEOUT": "soon"},
            "newscounts-producer: invalid settings: PRODUCE_TIMEOUT: invalid duration 'soon': "
            "use a number with a unit, e.g. 500ms, 10s, 5m, 1h, 1d",
        ),
    ],
)
def test_refuses_to_start_misconfigured(tmp_path: Path, extra: dict[str, str], message: str) -> None:
    env = server_env("127.0.0.1:9", "articles", tmp_path, free_port(), **extra)
    finished = subprocess.run([sys.executable, "-m", "producer"], env=env, capture_output=True, text=True, timeout=60)

    assert finished.returncode == 1
    assert finished.stderr.startswith(message)


def test_api_keys_rotate_with_two_keys_live_then_a_restart(
    kafka_bootstrap: str, fresh_topic: Callable[..., str], tmp_path: Path
) -> None:
    """docs/deploy.md, "Rotating API keys": the key file holds the new key and the old one, both work; the
    file then loses the old key, and once the service restarts (it reads the file at start) only the new
    key works."""
    new_key, old_key = "new-key-" + "n" * 24, "old-key-" + "o" * 24
    keys = tmp_path / "keys"
    keys.write_text(f"# rotating: the new key first, the old one until every client moved\n{new_key}\n{old_key}\n")
    env = server_env(
        kafka_bootstrap, fresh_topic("key-rotation"), tmp_path, free_port(), API_KEYS="", API_KEYS_FILE=str(keys)
    )

    def statuses(base: str) -> dict[str, int]:
        article = {"publication": "R", "content": "x"}
        return {
            key: httpx.post(f"{base}/articles", json=article, headers={"X-API-Key": key}, timeout=30).status_code
            for key in (new_key, old_key)
        }

    with serving(env, tmp_path / "both-keys.log") as base:
        assert statuses(base) == {new_key: 202, old_key: 202}
        keys.write_text(f"{new_key}\n")
        assert statuses(base) == {new_key: 202, old_key: 202}, "read at start: the running service keeps both"
    with serving(env, tmp_path / "new-key.log") as base:
        assert statuses(base) == {new_key: 202, old_key: 401}
