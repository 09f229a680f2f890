"""The settings every Kafka client of newscounts merges into its librdkafka configuration.

One function, so the HTTP service's producer (and its broker checks), each consumer worker, the dead-letter
producer and the load tool all talk to the brokers the same way: plain TCP by default, or TLS and/or SASL
(SCRAM-SHA-512 against the Strimzi listener of k8s/) as KAFKA_SECURITY_PROTOCOL says.
"""

from typing import Final

from common.settings import CommonSettings, KafkaSecurityProtocol

DEFAULT_LINGER_MS: Final = 5
"""How long a producer of ours waits to fill a batch by default (the HTTP service's LINGER)."""

DEFAULT_COMPRESSION: Final = "lz4"
"""The compression of the records we produce by default (the HTTP service's KAFKA_COMPRESSION)."""

SASL_PROTOCOLS = frozenset({KafkaSecurityProtocol.SASL_PLAINTEXT, KafkaSecurityProtocol.SASL_SSL})
TLS_PROTOCOLS = frozenset({KafkaSecurityProtocol.SSL, KafkaSecurityProtocol.SASL_SSL})


def security_config(settings: CommonSettings) -> dict[str, str]:
    """librdkafka's ``security.protocol`` and, as the protocol needs them, the SASL user and the TLS CA file.

    The result holds the password: merge it into a client's config, never log it.
    """
    protocol = settings.kafka_security_protocol
    config = {"security.protocol": protocol.value.lower()}
    if protocol in SASL_PROTOCOLS:
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username
        config["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if protocol in TLS_PROTOCOLS and settings.kafka_ssl_ca_location is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_ca_location)
    return config


def durable_producer_config(
    security: dict[str, str], bootstrap_servers: str, client_id: str, linger_ms: float, compression: str
) -> dict[str, str | float | bool]:
    """A producer that loses and repeats nothing: idempotent, acknowledged by every in-sync replica (the HTTP
    service's articles, and the load tool's, which measures the same path)."""
    return {
        **security,
        "bootstrap.servers": bootstrap_servers,
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": linger_ms,
        "compression.type": compression,
    }
