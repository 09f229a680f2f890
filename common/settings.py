"""Settings both services read. Each setting is declared once, with its default, its environment variable
(the field name in upper case) and a one-line meaning; ``python -m common.settings`` prints the README table.
"""

import os
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.article import DEFAULT_MAX_ARTICLE_BYTES
from common.durations import Duration
from common.sinks.buckets import DAY_SECONDS


class KafkaSecurityProtocol(StrEnum):
    """How the Kafka clients talk to the brokers (librdkafka's ``security.protocol``)."""

    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SinkKind(StrEnum):
    FIRESTORE = "firestore"
    SQLITE = "sqlite"


def default_sink() -> SinkKind:
    """Firestore when an emulator or Google credentials are configured, else the embedded SQLite file."""
    configured = os.environ.get("FIRESTORE_EMULATOR_HOST") or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    return SinkKind.FIRESTORE if configured else SinkKind.SQLITE


class CommonSettings(BaseSettings):
    """Kafka, sink and counting settings shared by the HTTP service and the consumer group."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port."
    )
    kafka_topic: str = Field("articles", description="Topic the articles are published to and consumed from.")
    kafka_dlq_topic: str = Field(
        "articles.dlq", description="Dead-letter topic for messages that are not valid articles."
    )
    kafka_group_id: str = Field(
        "newscounts", description="Consumer group id; also part of the offset keys stored in the sink."
    )
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        KafkaSecurityProtocol.PLAINTEXT,
        description="How the Kafka clients connect: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (TLS + user/password).",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512",
        description="SASL mechanism with SASL_PLAINTEXT or SASL_SSL: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN.",
    )
    kafka_sasl_username: str = Field("", description="Kafka user name with SASL_PLAINTEXT or SASL_SSL.")
    kafka_sasl_password: SecretStr = Field(
        SecretStr(""), description="Kafka user's password with SASL_PLAINTEXT or SASL_SSL (secret)."
    )
    kafka_ssl_ca_location: Path | None = Field(
        None,
        description="CA certificate (PEM file) the brokers' TLS certificates must chain to (default: the system's).",
    )
    counts_namespace: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Counts namespace the consumer group writes and the read API serves (default: "
        "KAFKA_GROUP_ID); one group per namespace, a new one to recount (docs/sinks.md).",
    )
    sink: SinkKind = Field(
        default_factory=default_sink,
        description="Where counts live: `firestore` or `sqlite` (default: `firestore` when "
        "FIRESTORE_EMULATOR_HOST or GOOGLE_APPLICATION_CREDENTIALS is set, else `sqlite`).",
    )
    sqlite_path: Path = Field(Path("data/newscounts.sqlite3"), description="SQLite database file (SINK=sqlite).")
    firestore_project: str = Field(
        "newscounts-dev", description="Google Cloud project id of the Firestore database (SINK=firestore)."
    )
    firestore_database: str = Field("(default)", description="Firestore database id (SINK=firestore).")
    window: Duration = Field(
        timedelta(hours=1),
        description="Tumbling window size, aligned to the UTC epoch; must divide a day (e.g. 30s, 5m, 1h, 1d).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level: debug, info, warning or error."
    )
    max_article_bytes: int = Field(
        DEFAULT_MAX_ARTICLE_BYTES, gt=0, description="Largest accepted article `content`, in UTF-8 bytes."
    )

    @model_validator(mode="after")
    def _sasl_has_a_user(self) -> "CommonSettings":
        sasl = self.kafka_security_protocol in (KafkaSecurityProtocol.SASL_PLAINTEXT, KafkaSecurityProtocol.SASL_SSL)
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol.value} needs KAFKA_SASL_USERNAME and "
                "KAFKA_SASL_PASSWORD (on Kubernetes: the KafkaUser's Secret, see docs/deploy.md)"
            )
        return self

    @model_validator(mode="after")
    def _window_is_whole_seconds(self) -> "CommonSettings":
        if self.window.total_seconds() != int(self.window.total_seconds()):
            raise ValueError("WINDOW must be a whole number of seconds, e.g. 30s, 5m, 1h")
        if DAY_SECONDS % int(self.window.total_seconds()):
            raise ValueError(
                "WINDOW must divide a day (86400s), so that days, months and years are made of whole windows: "
                "e.g. 30s, 5m, 15m, 1h, 6h, 1d"
            )
        return self

    @property
    def namespace(self) -> str:
        """The counts namespace in effect: COUNTS_NAMESPACE, else KAFKA_GROUP_ID."""
        return self.counts_namespace or self.kafka_group_id
