"""The HTTP service against its own OpenAPI schema: schemathesis generates requests for every operation
(valid and invalid ones, from the schema and its examples) and sends them to a real ``python -m producer``
(uvicorn, real broker, a SQLite sink holding a few counts).

Every response must conform to the schema (status code documented, content type, body schema, headers),
and no answer may be a 5xx except a 503 the operation documents. ``SCHEMATHESIS_MAX_EXAMPLES`` sets the
examples per operation (default 30 in ``make test``; the full run in docs/reliability.md used 1000).
"""

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from common.keys import publication_key
from common.settings import SinkKind
from common.sinks.base import EntityTally, OffsetLease, PartitionFlush, PublicationDelta, WindowDelta
from common.sinks.sqlite import SqliteWriter
from devservices.process import free_port
from producer.app import create_app
from producer.settings import ProducerSettings
from tests.chaos.support import producer_service
from tests.producer.support import API_KEY

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENT: Counter[str] = Counter()
"""Requests sent, by operation, generation mode and status (printed at the end: docs/reliability.md)."""

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))
REPO = Path(__file__).resolve().parents[2]


@schemathesis.serializer("application/x-ndjson")
def ndjson(context: schemathesis.SerializationContext, value: Any) -> bytes:
    """The batch endpoint's NDJSON body: a string in the schema, sent as its UTF-8 bytes (a generated
    non-string, in negative cases, as its JSON text)."""
    if isinstance(value, bytes):
        return value
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode("utf-8", "surrogatepass")


def seed(path: Path) -> None:
    """A publication with a window and two entities, so the read operations also answer 200 (in the service's
    default counts namespace, ``newscounts``)."""
    sink = SqliteWriter(path, "newscounts", "g", 3600)
    window = WindowDelta(
        articles=2,
        entities={
            ("angela merkel", "PERSON"): EntityTally("Angela Merkel", "PERSON", mentions=3, articles=2),
            ("berlin", "GPE"): EntityTally("Berlin", "GPE", mentions=1, articles=1),
        },
    )
    flush = PartitionFlush(
        group_id="g",
        topic="t",
        partition=0,
        next_offset=2,
        window_seconds=3600,
        publications={publication_key("Reuters"): PublicationDelta(name="Reuters", windows={1_595_203_200: window})},
    )
    sink.write(flush, OffsetLease(None, None))
    sink.close()


@pytest.fixture(scope="module")
def service_url(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    folder = tmp_path_factory.mktemp("schemathesis")
    topic = f"schemathesis-{os.getpid()}-{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result(30)
    seed(folder / "counts.sqlite3")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"API_KEYS", "API_KEYS_FILE"}}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        KAFKA_TOPIC=topic,
        SINK="sqlite",
        SQLITE_PATH=str(folder / "counts.sqlite3"),
        PORT=str(port),
        API_KEYS=API_KEY,
        LOG_LEVEL="warning",
        # small bodies keep thousands of generated requests cheap; the limits are still exercised
        MAX_BODY_BYTES="65536",
        MAX_ARTICLE_BYTES="32768",
        BATCH_MAX="20",
    )
    log = folder / "server.log"
    with producer_service(env, log) as service:
        try:
            yield service.url
        finally:
            print(f"\nschemathesis: {sum(SENT.values())} requests")
            for line, count in sorted(SENT.items()):
                print(f"  {count:6d}  {line}")
    assert "Traceback" not in log.read_text(), log.read_text()[-5000:]


def own_schema() -> dict[str, Any]:
    """The OpenAPI document the service serves at /openapi.json (the same code builds it)."""
    settings = ProducerSettings(api_keys=API_KEY, sink=SinkKind.SQLITE, sqlite_path=Path("unused.sqlite3"))
    return create_app(settings).openapi()


OPENAPI = own_schema()
schema = schemathesis.openapi.from_dict(OPENAPI)


def test_the_schema_tested_is_the_one_the_service_serves(service_url: str) -> None:
    assert httpx.get(f"{service_url}/openapi.json").json() == OPENAPI


def documented_503_only(ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]) -> bool:
    """No 5xx at all, except a 503 that the operation documents (Kafka or the sink unavailable)."""
    documented = set(case.operation.definition.raw.get("responses", {}))
    if response.status_code >= 500 and not (response.status_code == 503 and "503" in documented):
        raise AssertionError(f"{response.status_code} from {case.method} {case.formatted_path}: {response.text[:300]}")
    return True


CHECKS: list[Callable[..., Any]] = [
    documented_503_only,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_every_answer_conforms_to_the_schema_and_none_is_a_5xx(service_url: str, case: schemathesis.Case[Any]) -> None:
    response = case.call_and_validate(base_url=service_url, headers={"X-API-Key": API_KEY}, checks=CHECKS, timeout=30)
    mode = case.meta.generation.mode.value if case.meta is not None else "explicit"
    SENT[f"{case.method} {case.path} {mode} {response.status_code}"] += 1


READ_OPERATIONS = ["/publications/{publication}/entities", "/publications/{publication}/windows"]


@pytest.mark.parametrize("path", READ_OPERATIONS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_reads_of_a_known_publication_conform_to_the_schema(service_url: str, path: str, mode: GenerationMode) -> None:
    """Generated names are almost never known (404): here the name is the seeded one, the query generated."""
    strategy = schema[path]["GET"].as_strategy(mode, path_parameters={"publication": "Reuters"})

    @given(case=strategy)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(
            base_url=service_url, headers={"X-API-Key": API_KEY}, checks=CHECKS, timeout=30
        )
        SENT[f"{case.method} {path.replace('{publication}', 'Reuters')} {mode.value} {response.status_code}"] += 1

    check()
