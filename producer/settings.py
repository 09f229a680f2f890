"""Settings of the HTTP service, on top of the shared Kafka/sink settings.

Each setting is declared once here: its default, its environment variable (the field name in upper case)
and a one-line meaning. API keys are secrets: they never appear in ``repr`` or in logs.
"""

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from common.durations import Duration
from common.kafka_client import DEFAULT_COMPRESSION, DEFAULT_LINGER_MS
from common.settings import CommonSettings

MIB = 1024 * 1024


class ProducerSettings(CommonSettings):
    """What ``python -m producer`` reads from the environment."""

    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the HTTP server listens on.")
    api_keys: SecretStr = Field(
        SecretStr(""), description="API keys accepted in the X-API-Key header, comma-separated (secret)."
    )
    api_keys_file: Path | None = Field(
        None, description="File with more API keys, one per line (blank lines and # comments ignored)."
    )
    read_requires_key: bool = Field(False, description="Require an API key on the read endpoints too.")
    batch_max: int = Field(1000, gt=0, description="Most articles accepted in one POST /articles/batch.")
    max_body_bytes: int = Field(
        8 * MIB, gt=0, description="Largest accepted request body in bytes (413 above); > MAX_ARTICLE_BYTES."
    )
    produce_timeout: Duration = Field(
        timedelta(seconds=10),
        description="Longest wait for Kafka to acknowledge a record before answering 503 (e.g. 10s).",
    )
    retry_after: int = Field(5, gt=0, description="Seconds sent in the Retry-After header of a 503.")
    linger: Duration = Field(
        timedelta(milliseconds=DEFAULT_LINGER_MS),
        description="How long the Kafka producer waits to fill a batch (linger.ms).",
    )
    queue_max_messages: int = Field(
        100_000, gt=0, description="Records the Kafka producer may hold unacknowledged before answering 503."
    )
    queue_max_kbytes: int = Field(
        262_144, gt=0, description="KiB the Kafka producer may hold unacknowledged before answering 503."
    )
    kafka_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        DEFAULT_COMPRESSION, description="Compression of the records sent to Kafka: none, gzip, snappy, lz4 or zstd."
    )
    ready_timeout: Duration = Field(
        timedelta(seconds=2), description="Longest wait of /readyz for the broker and the sink each."
    )
    read_timeout: Duration = Field(
        timedelta(seconds=10), description="Longest wait of a read endpoint for the sink before answering 503."
    )
    read_threads: int = Field(
        4, gt=0, description="Threads running the read API's sink reads at once (one shared reader)."
    )
    head_timeout: Duration = Field(
        timedelta(seconds=10),
        description="Longest time a connection may take to send a request head (request line and headers): "
        "408 and closed after it (closed without an answer when nothing was sent).",
    )
    body_timeout: Duration = Field(
        timedelta(seconds=10),
        description="Longest pause in a request body (no new byte for that long): 408 and closed.",
    )
    cors_origins: str = Field(
        "", description="Origins allowed to call the API from a browser, comma-separated (default none)."
    )

    @model_validator(mode="after")
    def _body_holds_an_article(self) -> "ProducerSettings":
        if self.max_body_bytes <= self.max_article_bytes:
            raise ValueError(
                f"MAX_BODY_BYTES ({self.max_body_bytes}) must be greater than MAX_ARTICLE_BYTES "
                f"({self.max_article_bytes}), or no article of the largest size could be posted"
            )
        return self
