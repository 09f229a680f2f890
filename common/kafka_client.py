"""The connection settings every Kafka client of newscounts merges into its librdkafka configuration.

One function, so the HTTP service's producer (and its broker checks), each consumer worker, the dead-letter
producer and the load tool all talk to the brokers the same way: plain TCP by default, or TLS and/or SASL
(SCRAM-SHA-512 against the Strimzi listener of k8s/) as KAFKA_SECURITY_PROTOCOL says.
"""

from common.settings import CommonSettings, KafkaSecurityProtocol

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
