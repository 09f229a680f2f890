"""Consumer settings, the Kafka configuration derived from them, and the log line format."""

import pytest
from pydantic import ValidationError

from consumer.logs import event
from consumer.settings import DEFAULT_EXCLUDED_LABELS, ConsumerSettings, GroupProtocol, available_cores
from consumer.worker import consumer_config
from tests.consumer.support import NER_CHUNK_CHARS


def test_defaults() -> None:
    settings = ConsumerSettings(_env_file=None)
    assert settings.consumer_processes == 16
    assert settings.flush_interval.total_seconds() == 10
    assert settings.excluded_labels == {"CARDINAL", "DATE", "TIME", "MONEY", "ORDINAL", "PERCENT", "QUANTITY"}
    assert settings.kafka_group_protocol is GroupProtocol.CLASSIC
    assert settings.ner_chunk_chars == NER_CHUNK_CHARS == 10_000  # what the tests' support module assumes


def test_excluded_labels_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCLUDED_LABELS", " date,Time ,, ")
    assert ConsumerSettings().excluded_labels == {"DATE", "TIME"}
    monkeypatch.setenv("EXCLUDED_LABELS", "")
    assert ConsumerSettings().excluded_labels == frozenset()
    assert ConsumerSettings(excluded_labels=DEFAULT_EXCLUDED_LABELS).excluded_labels == DEFAULT_EXCLUDED_LABELS


def test_a_time_budget_over_a_third_of_the_poll_interval_is_refused() -> None:
    with pytest.raises(ValidationError, match="FINAL_FLUSH_TIMEOUT must be at most a third of MAX_POLL_INTERVAL"):
        ConsumerSettings(final_flush_timeout="21s", max_poll_interval="1m")
    assert ConsumerSettings(final_flush_timeout="20s", max_poll_interval="1m").final_flush_timeout.total_seconds() == 20


def test_a_heartbeat_interval_over_a_third_of_the_session_timeout_is_refused() -> None:
    with pytest.raises(ValidationError, match="HEARTBEAT_INTERVAL must be at most a third of SESSION_TIMEOUT"):
        ConsumerSettings(heartbeat_interval="2001ms", session_timeout="6s")
    assert ConsumerSettings(heartbeat_interval="2s", session_timeout="6s").heartbeat_interval.total_seconds() == 2


def test_classic_protocol_config() -> None:
    config = consumer_config(ConsumerSettings(session_timeout="6s", kafka_group_id="g"), 3)
    assert config["group.protocol"] == "classic"
    assert config["partition.assignment.strategy"] == "cooperative-sticky"
    assert (config["session.timeout.ms"], config["heartbeat.interval.ms"]) == (6000, 500)
    assert (config["enable.auto.commit"], config["group.id"], config["client.id"]) == (
        False,
        "g",
        "newscounts-consumer-3",
    )
    assert "group.instance.id" not in config


def test_kip848_protocol_config_leaves_session_and_assignor_to_the_broker() -> None:
    config = consumer_config(ConsumerSettings(kafka_group_protocol="consumer"), 5)
    assert config["group.protocol"] == "consumer"
    assert not {"session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy"} & config.keys()


def test_static_membership_uses_the_prefix_and_the_worker_index() -> None:
    assert consumer_config(ConsumerSettings(group_instance_prefix="pod-2"), 5)["group.instance.id"] == "pod-2-5"


def test_static_membership_is_refused_with_kip848() -> None:
    with pytest.raises(ValidationError, match="GROUP_INSTANCE_PREFIX needs KAFKA_GROUP_PROTOCOL=classic"):
        ConsumerSettings(kafka_group_protocol="consumer", group_instance_prefix="pod-2")


def test_event_lines() -> None:
    assert event("flushed", 7, articles=12, ms=41) == "partition=7 event=flushed articles=12 ms=41"
    assert event("dead_lettered", error='not JSON: "x"', empty="") == (
        'event=dead_lettered error="not JSON: \\"x\\"" empty=""'
    )


def test_one_more_ner_process_than_cores_by_default() -> None:
    assert ConsumerSettings().ner_processes == available_cores() + 1
    assert ConsumerSettings(ner_processes=1).ner_processes == 1
