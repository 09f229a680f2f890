"""``temporary_broker``: a second one of the same name is refused and leaves the running one alone (it used to
empty the running broker's data folder before refusing: a second ``python -m bench`` killed the first run)."""

import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from devservices.kafka import create_topics, temporary_broker

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_second_broker_of_the_same_name_is_refused_and_the_running_one_keeps_its_records() -> None:
    name = f"kafka-twice-{uuid.uuid4().hex[:6]}"
    with temporary_broker(name) as broker:
        create_topics(broker.bootstrap, {"kept": 1})
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        producer.produce("kept", b"before")
        assert producer.flush(30) == 0
        with pytest.raises(RuntimeError, match=f"'{name}' is already running"), temporary_broker(name):
            pass
        assert (broker.home / "data" / "meta.properties").exists()
        producer.produce("kept", b"after")
        assert producer.flush(30) == 0
        reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "check", "enable.auto.commit": False})
        try:
            reader.assign([TopicPartition("kept", 0, 0)])
            values = [message.value() for message in reader.consume(2, timeout=30)]
        finally:
            reader.close()
        assert values == [b"before", b"after"]
