"""The Kafka users of k8s/base/kafka-users.yaml against a real broker: SCRAM-SHA-512 logins and their ACLs.

A private broker from the Maven jars gets a SASL_PLAINTEXT SCRAM listener with ACLs enforced (what Strimzi
sets up for the TLS listener of k8s/base/kafka.yaml, minus TLS) and the ACLs of each KafkaUser. Then the
clients, configured by the service's own functions (``producer_config``, ``consumer_config``,
``DeadLetters.connect`` with ``security_config``), must be able to do their job, and nothing else: the HTTP
service cannot read ``articles``, the workers cannot write it, KEDA's user can only read the group's offsets.
"""

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclBinding, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from common.kafka_client import security_config
from common.settings import CommonSettings
from consumer.dead_letters import DeadLetter, DeadLetters
from consumer.settings import ConsumerSettings
from consumer.worker import consumer_config
from devservices.kafka import KafkaBroker, create_topics, temporary_broker
from producer.publisher import producer_config
from producer.settings import ProducerSettings

pytestmark = pytest.mark.integration

USERS_FILE = Path(__file__).resolve().parents[2] / "k8s" / "base" / "kafka-users.yaml"
TOPIC, DLQ, GROUP = "articles", "articles.dlq", "newscounts"
TIMEOUT = 30.0


def _kafka_users() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(USERS_FILE.read_text()) if doc and doc["kind"] == "KafkaUser"]


def _bindings(user: dict[str, Any]) -> list[AclBinding]:
    """The KafkaUser's ACLs as the broker stores them (Strimzi's principal is ``User:<KafkaUser name>``)."""
    return [
        AclBinding(
            ResourceType[acl["resource"]["type"].upper()],
            acl["resource"]["name"],
            ResourcePatternType[acl["resource"].get("patternType", "literal").upper()],
            f"User:{user['metadata']['name']}",
            acl.get("host", "*"),
            AclOperation[operation.upper()],
            AclPermissionType[acl.get("type", "allow").upper()],
        )
        for acl in user["spec"]["authorization"]["acls"]
        for operation in acl["operations"]
    ]


@pytest.fixture(scope="module")
def passwords() -> dict[str, str]:
    return {user["metadata"]["name"]: secrets.token_urlsafe(16) for user in _kafka_users()}


@pytest.fixture(scope="module")
def broker(passwords: dict[str, str]) -> Iterator[KafkaBroker]:
    with temporary_broker("scram-acls", scram_users=passwords) as started:
        create_topics(started.bootstrap, {TOPIC: 2, DLQ: 1})
        admin = AdminClient({"bootstrap.servers": started.bootstrap})
        bindings = [binding for user in _kafka_users() for binding in _bindings(user)]
        for future in admin.create_acls(bindings).values():
            future.result(timeout=TIMEOUT)
        yield started


def _login(broker: KafkaBroker, passwords: dict[str, str], user: str) -> dict[str, Any]:
    """What a process whose environment names this user and its password passes to the settings classes."""
    return {
        "kafka_bootstrap_servers": broker.scram_bootstrap,
        "kafka_security_protocol": "SASL_PLAINTEXT",
        "kafka_sasl_username": user,
        "kafka_sasl_password": passwords[user],
    }


def _deliver(producer: Producer, topic: str) -> KafkaError | None:
    """Produce one record; the delivery report's error (None when the broker acknowledged it), or the
    error ``produce`` raises at once when the client already knows the topic is not authorized."""
    outcome: list[KafkaError | None] = []
    try:
        producer.produce(topic, value=b'{"x": 1}', key=b"k", on_delivery=lambda error, _: outcome.append(error))
    except KafkaException as refused:
        error: KafkaError = refused.args[0]
        return error
    producer.flush(TIMEOUT)
    assert len(outcome) == 1, "no delivery report in time"
    return outcome[0]


def _first_message(consumer: Consumer) -> Message:
    """The first message or error the consumer gets."""
    for _ in range(int(TIMEOUT)):
        message = consumer.poll(1.0)
        if message is not None:
            return message
    raise AssertionError("nothing consumed in time")


def _refused_to_read(config: dict[str, Any]) -> bool:
    """True when a consumer with ``config``, reading partition 0 of articles directly, is refused by the
    topic's ACL (a group error on the way, from the unused group's coordinator, does not count); it must
    never get a record."""
    consumer = Consumer({**config, "group.id": "assign-only", "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
    try:
        for _ in range(int(TIMEOUT)):
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            assert error is not None, "read a record it must not read"
            if error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                return True
        return False
    finally:
        consumer.close()


def test_the_http_service_writes_articles_and_cannot_read_them(broker: KafkaBroker, passwords: dict[str, str]) -> None:
    settings = ProducerSettings(**_login(broker, passwords, "newscounts-producer"), api_keys="k", api_keys_file=None)
    producer = Producer(producer_config(settings))
    assert _deliver(producer, TOPIC) is None
    assert producer.list_topics(TOPIC, timeout=TIMEOUT).topics[TOPIC].error is None  # /readyz's broker check
    denied = _deliver(producer, DLQ)
    assert denied is not None and denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert _refused_to_read(security_config(settings) | {"bootstrap.servers": broker.scram_bootstrap})


def test_the_workers_read_in_their_group_write_dead_letters_and_cannot_write_articles(
    broker: KafkaBroker, passwords: dict[str, str]
) -> None:
    writer = ProducerSettings(**_login(broker, passwords, "newscounts-producer"), api_keys="k", api_keys_file=None)
    assert _deliver(Producer(producer_config(writer)), TOPIC) is None
    settings = ConsumerSettings(**_login(broker, passwords, "newscounts-consumer"), kafka_group_id=GROUP)
    consumer = Consumer(consumer_config(settings, 0))
    try:
        consumer.subscribe([TOPIC])
        message = _first_message(consumer)
        assert message.error() is None and message.value() == b'{"x": 1}'
        committed = consumer.commit(message=message, asynchronous=False)
        assert committed is not None and [tp.error for tp in committed] == [None]
    finally:
        consumer.close()
    dead_letters = DeadLetters.connect(broker.scram_bootstrap, DLQ, "test-dead-letters", security_config(settings))
    dead_letters.send(DeadLetter(key=b"k", value=b"not an article", headers=[("error", b"test")]))
    assert dead_letters.deliver(TIMEOUT)
    denied = _deliver(Producer(security_config(settings) | {"bootstrap.servers": broker.scram_bootstrap}), TOPIC)
    assert denied is not None and denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_keda_reads_the_group_offsets_and_nothing_else(broker: KafkaBroker, passwords: dict[str, str]) -> None:
    config = security_config(CommonSettings(**_login(broker, passwords, "newscounts-keda"))) | {
        "bootstrap.servers": broker.scram_bootstrap
    }
    lag_reader = Consumer({**config, "group.id": GROUP, "enable.auto.commit": False})
    try:
        (offsets,) = lag_reader.committed([TopicPartition(TOPIC, 0)], timeout=TIMEOUT)
        assert offsets.error is None
        low, high = lag_reader.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=TIMEOUT)
        assert (low, high) != (-1, -1)
    finally:
        lag_reader.close()
    assert _refused_to_read(config)


def test_a_wrong_password_is_refused(broker: KafkaBroker, passwords: dict[str, str]) -> None:
    login = _login(broker, passwords, "newscounts-producer") | {"kafka_sasl_password": "wrong"}
    errors: list[KafkaError] = []
    config: dict[str, Any] = security_config(CommonSettings(**login)) | {"bootstrap.servers": broker.scram_bootstrap}
    config["error_cb"] = errors.append
    admin = AdminClient(config)
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=10)
    admin.poll(1)
    assert KafkaError._AUTHENTICATION in {error.code() for error in errors}
