"""Pure logic of the HTTP service: settings, API keys, error descriptions, producer configuration."""

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import HTTPException
from pydantic import ValidationError

from common.article import Article
from producer.auth import NoApiKeys, key_is_valid, load_api_keys
from producer.batch_body import split_json_array, split_ndjson
from producer.errors import FieldProblem, validation_problems
from producer.ingest import kafka_value
from producer.metrics import route_template
from producer.publisher import producer_config
from producer.settings import ProducerSettings


@pytest.fixture(autouse=True)
def no_producer_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults under test, whatever the shell running the tests exports."""
    for name in ProducerSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_settings_defaults() -> None:
    settings = ProducerSettings()

    assert (settings.host, settings.port, settings.batch_max, settings.max_body_bytes) == (
        "127.0.0.1",
        8000,
        1000,
        8 << 20,
    )
    assert (settings.produce_timeout, settings.linger, settings.retry_after) == (
        timedelta(seconds=10),
        timedelta(milliseconds=5),
        5,
    )
    assert settings.read_requires_key is False
    assert settings.cors_origins == ""


def test_settings_come_from_upper_case_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "HOST": "0.0.0.0",
        "PORT": "9000",
        "API_KEYS": "a,b",
        "READ_REQUIRES_KEY": "true",
        "BATCH_MAX": "50",
        "PRODUCE_TIMEOUT": "1500ms",
        "LINGER": "20ms",
    }.items():
        monkeypatch.setenv(name, value)

    settings = ProducerSettings()

    assert (settings.host, settings.port, settings.batch_max, settings.read_requires_key) == ("0.0.0.0", 9000, 50, True)
    assert settings.api_keys.get_secret_value() == "a,b"
    assert (settings.produce_timeout, settings.linger) == (timedelta(milliseconds=1500), timedelta(milliseconds=20))


def test_api_keys_never_show_in_repr() -> None:
    settings = ProducerSettings(api_keys="super-secret-key")

    assert "super-secret-key" not in repr(settings)
    assert "super-secret-key" not in str(settings.model_dump())


def test_the_body_limit_must_exceed_the_article_limit() -> None:
    with pytest.raises(
        ValidationError, match=r"MAX_BODY_BYTES \(1000\) must be greater than MAX_ARTICLE_BYTES \(1000\)"
    ):
        ProducerSettings(max_body_bytes=1000, max_article_bytes=1000)


def test_keys_from_both_sources_without_blanks_comments_or_duplicates(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    file.write_text("# comment\n\n  k2 \nk3\nk1\n")

    keys = load_api_keys(ProducerSettings(api_keys=" k1, ,k2,", api_keys_file=file))

    assert keys == (b"k1", b"k2", b"k3")


def test_no_key_at_all_is_refused() -> None:
    with pytest.raises(NoApiKeys, match="no API key configured: set API_KEYS="):
        load_api_keys(ProducerSettings(api_keys=" , "))


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(NoApiKeys, match=f"cannot read API_KEYS_FILE '{tmp_path}/absent': No such file or directory"):
        load_api_keys(ProducerSettings(api_keys="k", api_keys_file=tmp_path / "absent"))


@pytest.mark.parametrize(
    ("candidate", "valid"),
    [("k1", True), ("k3", True), ("k", False), ("k1 ", False), ("K1", False), ("k1,k3", False), ("ключ", False)],
)
def test_key_check(candidate: str, valid: bool) -> None:
    assert key_is_valid(candidate, (b"k1", b"k2", b"k3")) is valid


def test_validation_problems_name_fields_not_inputs() -> None:
    with pytest.raises(ValidationError) as caught:
        Article.model_validate({"publication": "secret-input", "content": 5})

    assert validation_problems(caught.value) == [
        FieldProblem(field="content", problem="Input should be a valid string")
    ]
    assert validation_problems(
        [{"type": "greater_than_equal", "loc": ("query", "limit"), "msg": "Input should be greater than or equal to 0"}]
    ) == [FieldProblem(field="limit", problem="Input should be greater than or equal to 0")]


def test_a_whole_item_problem_is_named_as_asked() -> None:
    with pytest.raises(ValidationError) as caught:
        Article.model_validate([1, 2])

    assert validation_problems(caught.value, whole="item") == [
        FieldProblem(field="item", problem="expected a JSON object (one article)")
    ]


def test_the_kafka_value_is_the_normalized_article_with_its_id() -> None:
    article = Article.model_validate(
        {"publication": " A  B ", "content": "x", "url": "u", "published_at": "2020-01-02"}
    )

    assert kafka_value(article) == (
        b'{"publication":"A B","content":"x","url":"u","published_at":"2020-01-02T00:00:00Z",'
        b'"id":"' + article.article_id.encode() + b'"}'
    )


def test_ndjson_skips_blank_lines_and_keeps_bad_ones() -> None:
    body = b'{"a":1}\r\n\n  \t\n{bad\n{"b":2}'

    assert split_ndjson(body, 3) == [b'{"a":1}\r', b"{bad", b'{"b":2}']
    assert split_ndjson(b"\n" * 1_000_000 + b"x\n \n", 1) == [b"x"]


def test_a_json_array_is_split_into_raw_elements() -> None:
    body = b' [ {"a": 1} ,\n [2, {"x": "]"}], "s", NaN ] '

    assert split_json_array(body, 4) == ['{"a": 1}', '[2, {"x": "]"}]', '"s"', "NaN"]
    assert split_json_array(b"[]", 1) == []


@pytest.mark.parametrize(
    ("body", "limit"), [(b"[" + b"{}," * 1_000_000 + b"{}]", 1000), (b"{}\n" * 1_000_000, 1000), (b"[1,2]", 1)]
)
def test_splitting_stops_at_the_first_item_over_the_limit(body: bytes, limit: int) -> None:
    split = split_ndjson if body.startswith(b"{") else split_json_array

    with pytest.raises(HTTPException) as refused:
        split(body, limit)

    assert refused.value.status_code == 413
    assert refused.value.detail == (
        f"the batch holds more than BATCH_MAX ({limit}) articles: split it into batches of at most {limit}"
    )


def test_metrics_are_labelled_by_route_template() -> None:
    class Route:
        path = "/publications/{publication:path}/entities"

    assert route_template({"route": Route(), "path": "/publications/CNN/entities"}) == Route.path
    assert route_template({"path": "/static/app.js"}) == "/static"
    assert route_template({"path": "/wp-admin.php"}) == "unmatched"


def test_the_producer_is_durable_and_bounded() -> None:
    config = producer_config(ProducerSettings(produce_timeout="3s", linger="10ms", queue_max_messages=7))

    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["message.timeout.ms"] == 3000
    assert config["linger.ms"] == 10.0
    assert config["queue.buffering.max.messages"] == 7
    assert config["allow.auto.create.topics"] is False
