"""The one librdkafka security configuration every Kafka client merges, and the settings behind it."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from common.kafka_client import security_config
from common.settings import CommonSettings
from consumer.settings import ConsumerSettings
from consumer.worker import consumer_config
from loadtool.load import kafka_producer_config
from producer.publisher import producer_config
from producer.settings import ProducerSettings

SCRAM: dict[str, Any] = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "newscounts-producer",
    "kafka_sasl_password": "s3cret",
    "kafka_ssl_ca_location": Path("/etc/newscounts/kafka-ca/ca.crt"),
}


def test_plaintext_by_default() -> None:
    assert security_config(CommonSettings(_env_file=None)) == {"security.protocol": "plaintext"}


def test_sasl_ssl_gives_the_user_the_mechanism_and_the_ca() -> None:
    assert security_config(CommonSettings(**SCRAM)) == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "newscounts-producer",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/newscounts/kafka-ca/ca.crt",
    }


def test_each_protocol_gets_only_what_it_uses() -> None:
    tls = CommonSettings(kafka_security_protocol="SSL", kafka_ssl_ca_location=Path("/ca.crt"))
    assert security_config(tls) == {"security.protocol": "ssl", "ssl.ca.location": "/ca.crt"}
    assert security_config(CommonSettings(kafka_security_protocol="SSL")) == {"security.protocol": "ssl"}
    sasl_plain = CommonSettings(**{**SCRAM, "kafka_security_protocol": "SASL_PLAINTEXT"})
    assert "ssl.ca.location" not in security_config(sasl_plain)
    assert security_config(sasl_plain)["security.protocol"] == "sasl_plaintext"
    plain = CommonSettings(kafka_sasl_username="u", kafka_sasl_password="p")
    assert security_config(plain) == {"security.protocol": "plaintext"}, "credentials are sent only with SASL"


@pytest.mark.parametrize("missing", ["kafka_sasl_username", "kafka_sasl_password"])
def test_sasl_without_a_user_is_refused_with_what_to_set(missing: str) -> None:
    with pytest.raises(ValidationError, match="KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME and "):
        CommonSettings(**{**SCRAM, missing: ""})


def test_the_password_is_never_shown() -> None:
    settings = CommonSettings(**SCRAM)
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())


def test_every_client_merges_it() -> None:
    expected = security_config(CommonSettings(**SCRAM))
    producer = producer_config(ProducerSettings(**SCRAM))
    consumer = consumer_config(ConsumerSettings(**SCRAM), 0)
    load = kafka_producer_config("broker:9093", expected)
    for config in (producer, consumer, load):
        assert {key: config[key] for key in expected} == expected
