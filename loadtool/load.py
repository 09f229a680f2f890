"""Load tool: send articles from JSONL / JSONL.gz files to the HTTP service or straight to Kafka.

``python -m loadtool demo/wikinews-cc-by.jsonl.gz --count 10000 --batch 100`` reads and validates every
line with the shared :class:`~common.article.Article` model (invalid lines are counted and skipped), builds
the stream of articles to send (order, limit, repetitions with fresh ids, publication skew), sends it with the
chosen concurrency and optional target rate while a progress bar shows rate and errors, and ends with a
summary: sent, accepted, rejected, errors by status, rate, latency percentiles. With ``--wait`` it then
follows the counting (:mod:`loadtool.wait`).

The pure parts (reading, the article stream, the rate schedule, percentiles) are plain functions so the
benchmark suite (``python -m bench``) reuses them and the tests check them exactly.
"""

import argparse
import asyncio
import gzip
import hashlib
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from confluent_kafka import KafkaError, Message, Producer
from pydantic import ValidationError
from tqdm import tqdm

from common.article import MAX_ID_CHARS, Article, describe_validation_error
from common.kafka_client import (
    DEFAULT_COMPRESSION,
    DEFAULT_LINGER_MS,
    durable_producer_config,
    security_config,
)
from common.settings import CommonSettings
from loadtool.wait import Counting, format_counting, read_status, wait_until_counted

GZIP_MAGIC = b"\x1f\x8b"


# --- reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceArticle:
    """One valid line of an input file: the JSON object as written, and its article id."""

    record: dict[str, Any]
    article_id: str


@dataclass(frozen=True)
class InvalidLine:
    """A line that is not a valid article, and why (``path:line: reason``)."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class SourceFile:
    """What the input files held: the valid articles in file order and the invalid lines."""

    articles: list[SourceArticle] = field(default_factory=list)
    invalid: list[InvalidLine] = field(default_factory=list)


def open_lines(path: Path) -> Iterator[str]:
    """The text lines of a JSONL file, gunzipped when the file starts with the gzip magic bytes."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    with gzip.open(path, "rt", encoding="utf-8") if compressed else path.open(encoding="utf-8") as lines:
        yield from lines


def read_articles(paths: Iterable[Path]) -> SourceFile:
    """Parse and validate every non-blank line; a bad line is recorded with its reason, never sent."""
    source = SourceFile()
    for path in paths:
        for number, line in enumerate(open_lines(path), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                source.invalid.append(InvalidLine(str(path), number, f"not JSON: {error.msg}"))
                continue
            if not isinstance(record, dict):
                source.invalid.append(InvalidLine(str(path), number, "not a JSON object"))
                continue
            try:
                article = Article.model_validate(record)
            except ValidationError as error:
                source.invalid.append(InvalidLine(str(path), number, describe_validation_error(error)))
                continue
            source.articles.append(SourceArticle(record, article.article_id))
    return source


# --- the stream of articles to send ------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One article to send: the JSON object and its article id (the Kafka key)."""

    record: dict[str, Any]
    article_id: str


@dataclass(frozen=True)
class Skew:
    """A share of the articles relabeled to a few hot publications (``PUB1,PUB2:0.8``)."""

    publications: tuple[str, ...]
    share: float


def parse_skew(text: str) -> Skew:
    """``"CNN (Web News),Vox:0.8"`` -> 80% of the articles relabeled to those two, in turn."""
    names, colon, share_text = text.rpartition(":")
    publications = tuple(name.strip() for name in names.split(",") if name.strip())
    if not colon or not publications:
        raise ValueError(f"invalid --skew {text!r}: use PUB1,PUB2:SHARE, e.g. 'CNN (Web News),Vox:0.8'")
    try:
        share = float(share_text)
    except ValueError:
        raise ValueError(f"invalid --skew share {share_text!r}: use a number between 0 and 1, e.g. 0.8") from None
    if not 0 < share <= 1:
        raise ValueError(f"invalid --skew share {share}: it must be greater than 0 and at most 1")
    return Skew(publications, share)


def interleave_publications(articles: Sequence[SourceArticle]) -> list[SourceArticle]:
    """Round-robin over publications (each keeps its file order), so every prefix is a balanced mix.

    Sample files are often grouped by publication; without this a ``--limit`` would take one publication.
    """
    groups: dict[str, list[SourceArticle]] = {}
    for article in articles:
        groups.setdefault(Article.model_validate(article.record).publication, []).append(article)
    mixed: list[SourceArticle] = []
    for rank in range(max((len(group) for group in groups.values()), default=0)):
        mixed.extend(group[rank] for group in groups.values() if rank < len(group))
    return mixed


def repetition_id(article_id: str, repetition: int) -> str:
    """The id of the ``repetition``-th copy (1, 2, ...) of an article: ``{article_id}-r{repetition}``.

    An id that would exceed the 200-character limit is first shortened to its sha256 prefix.
    """
    candidate = f"{article_id}-r{repetition}"
    if len(candidate) <= MAX_ID_CHARS:
        return candidate
    return f"{hashlib.sha256(article_id.encode()).hexdigest()[:32]}-r{repetition}"


def repeat_to_count(articles: Sequence[SourceArticle], count: int) -> Iterator[Outgoing]:
    """``count`` articles cycling over ``articles``: the first pass as written, pass k >= 1 with the
    explicit ``id`` :func:`repetition_id` (k), so every copy is a distinct article with its own key."""
    if not articles and count:
        raise ValueError("no valid article to send: the input files hold none")
    for index in range(count):
        repetition, position = divmod(index, len(articles))
        source = articles[position]
        if repetition == 0:
            yield Outgoing(source.record, source.article_id)
        else:
            new_id = repetition_id(source.article_id, repetition)
            yield Outgoing({**source.record, "id": new_id}, new_id)


def is_hot(index: int, share: float) -> bool:
    """Whether position ``index`` is relabeled: spreads exactly floor(n * share) hot positions evenly
    over the first n, for every n."""
    return math.floor((index + 1) * share + 1e-9) > math.floor(index * share + 1e-9)


def apply_skew(stream: Iterable[Outgoing], skew: Skew) -> Iterator[Outgoing]:
    """Relabel the hot share of the stream to the skew's publications in turn; bodies stay the same, so a
    skewed run does the same NER work as a balanced one. The id is pinned so it does not change."""
    hot = 0
    for index, outgoing in enumerate(stream):
        if is_hot(index, skew.share):
            publication = skew.publications[hot % len(skew.publications)]
            hot += 1
            record = {**outgoing.record, "publication": publication, "id": outgoing.article_id}
            yield Outgoing(record, outgoing.article_id)
        else:
            yield outgoing


def drop_published_at(stream: Iterable[Outgoing]) -> Iterator[Outgoing]:
    """Remove ``published_at`` so each article is counted in the window of its Kafka timestamp (now)."""
    for outgoing in stream:
        record = {key: value for key, value in outgoing.record.items() if key != "published_at"}
        yield Outgoing(record, outgoing.article_id)


def chunks(stream: Iterable[Outgoing], size: int) -> Iterator[list[Outgoing]]:
    """Consecutive lists of ``size`` articles (the last may be shorter)."""
    chunk: list[Outgoing] = []
    for outgoing in stream:
        chunk.append(outgoing)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- pacing and statistics ---------------------------------------------------------------------------


def due_offset(request_index: int, articles_per_request: int, rate: float | None) -> float:
    """Seconds after the start at which request ``request_index`` is due for a target ``rate`` in
    articles/s (an open-loop schedule: request i carries articles i*n .. i*n+n-1); 0 without a rate."""
    if rate is None:
        return 0.0
    return request_index * articles_per_request / rate


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Summary:
    """The outcome of a run. ``statuses`` counts articles by outcome: an HTTP status (``"202"``, ``"422"``),
    a transport error (``"ConnectTimeout"``) or, for Kafka, ``"delivered"`` or a Kafka error name."""

    target: str
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    """Seconds per request (HTTP) or per record from produce to acknowledgment (Kafka)."""
    elapsed: float = 0.0
    invalid_lines: int = 0
    positions: list[tuple[int, int]] = field(default_factory=list)
    """(partition, offset) of each accepted article, when asked for (``--wait`` follows them)."""

    @property
    def accepted(self) -> int:
        return self.statuses["202"] + self.statuses["delivered"]

    @property
    def rejected(self) -> int:
        """Articles the service refused (4xx): sending them again will not help."""
        return sum(count for status, count in self.statuses.items() if status.isdigit() and status.startswith("4"))

    @property
    def errors(self) -> int:
        """Articles not acknowledged for another reason (5xx, transport or Kafka errors): retry later."""
        return self.sent - self.accepted - self.rejected

    @property
    def rate(self) -> float:
        """Accepted articles per second."""
        return self.accepted / self.elapsed if self.elapsed > 0 else 0.0

    def latency_ms(self, q: float) -> float | None:
        value = percentile(self.latencies, q)
        return None if value is None else value * 1000

    def as_dict(self) -> dict[str, Any]:
        """The figures, for ``--summary-json`` and the benchmark results."""
        return {
            "target": self.target,
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "errors": self.errors,
            "statuses": dict(sorted(self.statuses.items())),
            "invalid_lines": self.invalid_lines,
            "elapsed_s": round(self.elapsed, 3),
            "rate_per_s": round(self.rate, 1),
            "requests": len(self.latencies),
            "latency_ms": {f"p{q}": _round(self.latency_ms(q)) for q in (50, 95, 99)},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


HINTS = {
    "401": "401: the API key is missing or wrong: pass --api-key or set API_KEY.",
    "413": "413: a body was too large: lower --batch (or raise the service's MAX_BODY_BYTES/BATCH_MAX).",
    "415": "415: the service did not accept the content type (is --url pointing at the newscounts service?).",
    "422": "422: the service found articles invalid (see its answer); they were not counted.",
    "503": "503: Kafka was unavailable or the service's queue was full: lower --concurrency/--rate and resend.",
}


def format_summary(summary: Summary) -> str:
    """The human summary printed at the end of a run."""
    figures = summary.as_dict()
    latency = figures["latency_ms"]
    lines = [
        f"Target:    {summary.target}",
        f"Sent:      {summary.sent} articles in {summary.elapsed:.1f}s ({len(summary.latencies)} requests)",
        f"Accepted:  {summary.accepted}  ({summary.rate:.1f} articles/s)",
        f"Rejected:  {summary.rejected}",
        f"Errors:    {summary.errors}",
        "By status: " + (", ".join(f"{status}={count}" for status, count in figures["statuses"].items()) or "-"),
        "Latency:   " + ", ".join(f"{name} {_ms(value)}" for name, value in latency.items()),
    ]
    if summary.invalid_lines:
        lines.append(f"Invalid input lines skipped: {summary.invalid_lines}")
    lines.extend(HINTS[status] for status in sorted(summary.statuses) if status in HINTS)
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


# --- sending -----------------------------------------------------------------------------------------


class Progress:
    """The live progress bar: articles done, rate, and errors so far."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar = tqdm(total=total, unit="art", desc="sent", disable=not enabled, dynamic_ncols=True, smoothing=0.1)
        self._failed = 0

    def advance(self, articles: int, failed: int) -> None:
        self._bar.update(articles)
        if failed:
            self._failed += failed
            self._bar.set_postfix(errors=self._failed, refresh=False)

    def close(self) -> None:
        self._bar.close()


async def send_http(
    requests: Iterable[list[Outgoing]],
    *,
    url: str,
    api_key: str | None,
    batch: bool,
    concurrency: int,
    rate: float | None,
    progress: Progress,
    request_timeout: float = 30.0,
    on_response: Callable[[list[Outgoing], Counter[str], float], None] | None = None,
    keep_positions: bool = False,
) -> Summary:
    """POST each request (one article to ``/articles``, or a list to ``/articles/batch``) with at most
    ``concurrency`` in flight, each not before its :func:`due_offset` when a ``rate`` is given.

    ``on_response(articles, outcomes, answered_at)`` is called after each answer (``time.monotonic()``);
    ``keep_positions`` fills :attr:`Summary.positions` from the answers.
    """
    endpoint = f"{url.rstrip('/')}/articles/batch" if batch else f"{url.rstrip('/')}/articles"
    summary = Summary(target=endpoint)
    headers = {"Content-Type": "application/json", **({"X-API-Key": api_key} if api_key else {})}
    pending = enumerate(requests)

    async def worker(session: aiohttp.ClientSession, started: float) -> None:
        for index, articles in pending:
            delay = started + due_offset(index, len(articles), rate) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            body: Any = [item.record for item in articles] if batch else articles[0].record
            data = json.dumps(body).encode()
            sent_at = time.monotonic()
            try:
                async with session.post(endpoint, data=data, headers=headers) as response:
                    answer = await response.read()
                    outcomes = http_outcomes(response.status, answer, len(articles), batch)
                    if keep_positions:
                        summary.positions.extend(http_positions(response.status, answer))
            except (aiohttp.ClientError, TimeoutError) as error:
                outcomes = Counter({type(error).__name__: len(articles)})
            answered_at = time.monotonic()
            summary.latencies.append(answered_at - sent_at)
            summary.sent += len(articles)
            summary.statuses.update(outcomes)
            progress.advance(len(articles), len(articles) - outcomes["202"])
            if on_response is not None:
                on_response(articles, outcomes, answered_at)

    # aiohttp, not httpx: httpx's AsyncClient spends far more CPU per request and slows down as
    # concurrency grows (encode/httpx#3215), so the load tool, not the service, would be measured.
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.monotonic()
        await asyncio.gather(*(worker(session, started) for _ in range(concurrency)))
        summary.elapsed = time.monotonic() - started
    return summary


def http_outcomes(status: int, body: bytes, articles: int, batch: bool) -> Counter[str]:
    """Articles per outcome of one answer; a batch answer (202/207/503) reports each item's status."""
    if batch and status in (202, 207, 503):
        try:
            return Counter(str(item["status"]) for item in json.loads(body)["results"])
        except (ValueError, KeyError, TypeError):
            pass
    return Counter({str(status): articles})


def http_positions(status: int, body: bytes) -> list[tuple[int, int]]:
    """(partition, offset) of each article an answer says was stored: ``{"partition", "offset"}`` for one
    article, each accepted item of a batch's ``results``."""
    if status not in (202, 207, 503):
        return []
    try:
        answer = json.loads(body)
        items = answer.get("results", [answer])
        return [(int(item["partition"]), int(item["offset"])) for item in items if item.get("status", 202) == 202]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def kafka_value(outgoing: Outgoing) -> bytes:
    """The record value: the article's JSON object with its ``id`` filled in (as the HTTP service sends)."""
    return json.dumps({**outgoing.record, "id": outgoing.article_id}, ensure_ascii=False).encode()


def kafka_producer_config(bootstrap: str, security: dict[str, str]) -> dict[str, str | float | bool]:
    """The HTTP service's producer settings at their defaults, for a fair comparison, connecting as
    ``security`` says (:func:`common.kafka_client.security_config`)."""
    return durable_producer_config(security, bootstrap, "newscounts-load", DEFAULT_LINGER_MS, DEFAULT_COMPRESSION)


def send_kafka(
    stream: Iterable[Outgoing],
    *,
    bootstrap: str,
    topic: str,
    rate: float | None,
    progress: Progress,
    flush_timeout: float = 60.0,
    security: dict[str, str] | None = None,
    keep_positions: bool = False,
) -> Summary:
    """Produce each article keyed by its id; latency is produce-to-acknowledgment per record. ``security``:
    how to connect (default plain TCP, as to the local broker); ``keep_positions`` fills
    :attr:`Summary.positions` from the delivery reports."""
    summary = Summary(target=f"kafka {bootstrap} topic {topic}")
    producer = Producer(kafka_producer_config(bootstrap, security or {}))
    producer.list_topics(topic, timeout=30)  # connect before the clock starts

    def on_delivery(sent_at: float) -> Callable[[KafkaError | None, Message], None]:
        def report(error: KafkaError | None, message: Message) -> None:
            summary.latencies.append(time.monotonic() - sent_at)
            summary.statuses["delivered" if error is None else error.name()] += 1
            if keep_positions and error is None:
                summary.positions.append((message.partition() or 0, message.offset() or 0))
            progress.advance(1, 0 if error is None else 1)

        return report

    started = time.monotonic()
    for index, outgoing in enumerate(stream):
        due = started + due_offset(index, 1, rate)
        while (remaining := due - time.monotonic()) > 0:
            producer.poll(remaining)
        value = kafka_value(outgoing)
        while True:
            try:
                producer.produce(
                    topic, value, key=outgoing.article_id.encode(), on_delivery=on_delivery(time.monotonic())
                )
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                producer.poll(0.05)
        summary.sent += 1
        producer.poll(0)
    undelivered = producer.flush(flush_timeout)
    summary.elapsed = time.monotonic() - started
    if undelivered:
        summary.statuses["not acknowledged in time"] += undelivered
    return summary


# --- command line ------------------------------------------------------------------------------------


def build_stream(source: SourceFile, options: argparse.Namespace) -> tuple[Iterator[Outgoing], int]:
    """The articles to send, in order, after --interleave, --limit, --count, --live and --skew."""
    articles = interleave_publications(source.articles) if options.interleave else source.articles
    if options.limit is not None:
        articles = articles[: options.limit]
    count = options.count if options.count is not None else len(articles)
    stream: Iterator[Outgoing] = repeat_to_count(articles, count)
    if options.live:
        stream = drop_published_at(stream)
    if options.skew is not None:
        stream = apply_skew(stream, options.skew)
    return stream, count


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _skew(text: str) -> Skew:
    try:
        return parse_skew(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m loadtool",
        description="Send articles from JSONL or JSONL.gz files to the newscounts HTTP service (default) or "
        "straight to Kafka (--kafka), with a live progress bar and a summary at the end. Every line is "
        "validated first; invalid lines are counted, reported and skipped.",
        epilog="Order of the steps: read, --interleave, --limit, --count, --live, --skew. "
        "Exit code 0 when every article was accepted (and, with --wait, counted) and no input line was invalid, "
        "else 1.",
    )
    cli.add_argument("files", nargs="+", type=Path, metavar="FILE", help="JSONL or JSONL.gz files of articles.")
    cli.add_argument("--url", default="http://127.0.0.1:8000", help="Base URL of the HTTP service.")
    cli.add_argument(
        "--api-key",
        default=os.environ.get("API_KEY"),
        help="Value of the X-API-Key header (default: the API_KEY environment variable).",
    )
    cli.add_argument(
        "--batch",
        type=_positive_int,
        default=1,
        metavar="N",
        help="Articles per request: 1 posts each to /articles (default); N > 1 posts lists to /articles/batch.",
    )
    cli.add_argument(
        "--concurrency", type=_positive_int, default=8, metavar="N", help="HTTP requests in flight (default 8)."
    )
    cli.add_argument(
        "--rate",
        type=_positive_float,
        help="Target articles per second (open-loop schedule); default: as fast as possible.",
    )
    cli.add_argument(
        "--kafka",
        metavar="BOOTSTRAP",
        help="Produce straight to Kafka at BOOTSTRAP instead of HTTP, connecting as KAFKA_SECURITY_PROTOCOL, "
        "KAFKA_SASL_* and KAFKA_SSL_CA_LOCATION say (the services' settings; default plain TCP).",
    )
    cli.add_argument("--topic", default="articles", help="Kafka topic with --kafka (default articles).")
    cli.add_argument(
        "--limit", type=_positive_int, metavar="N", help="Use only the first N valid articles of the input."
    )
    cli.add_argument(
        "--count",
        type=_positive_int,
        metavar="N",
        help="Send exactly N articles, cycling over the input. The first pass is sent as written; in pass k "
        "(k = 1, 2, ...) each article gets the explicit id '<its article id>-r<k>' (its article id being its "
        "'id', else the hash of publication and url), so every copy is a distinct article with its own "
        "Kafka key, and the counts grow by one article per copy.",
    )
    cli.add_argument(
        "--interleave",
        action="store_true",
        help="Take the input round-robin across publications, so any --limit/--count prefix is a balanced mix "
        "(sample files are often grouped by publication).",
    )
    cli.add_argument(
        "--skew",
        type=_skew,
        metavar="PUB1,PUB2:SHARE",
        help="Relabel a SHARE (0..1) of the articles, spread evenly, to the listed publications in turn, e.g. "
        "'CNN (Web News),Fox Online News:0.8'. Bodies are unchanged (the same NER work as unskewed); the "
        "relabeled articles keep their article id as explicit 'id'.",
    )
    cli.add_argument(
        "--live",
        action="store_true",
        help="Drop published_at, so each article is counted in the window of its Kafka timestamp, like a live feed.",
    )
    cli.add_argument(
        "--timeout", type=_positive_float, default=30.0, metavar="S", help="Seconds per HTTP request (default 30)."
    )
    cli.add_argument(
        "--wait",
        action="store_true",
        help="After sending, show a second progress bar, of counting (from GET /status at --url), until the "
        "consumer group has counted every accepted article; then print the sent and counted rates.",
    )
    cli.add_argument(
        "--wait-timeout",
        type=_positive_float,
        metavar="S",
        help="With --wait: stop waiting S seconds after sending started (default: until all are counted).",
    )
    cli.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")
    cli.add_argument("--summary-json", type=Path, metavar="PATH", help="Also write the summary as JSON to PATH.")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    missing = [str(path) for path in options.files if not path.is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 1
    source = read_articles(options.files)
    for line in source.invalid[:5]:
        print(f"invalid line skipped: {line}", file=sys.stderr)
    if len(source.invalid) > 5:
        print(f"... and {len(source.invalid) - 5} more invalid lines", file=sys.stderr)
    if not source.articles:
        print("error: the input holds no valid article; nothing was sent", file=sys.stderr)
        return 1
    if options.wait:
        try:
            read_status(options.url)
        except (OSError, ValueError) as error:
            print(
                f"error: --wait follows GET {options.url}/status, which did not answer ({error}): is the HTTP "
                "service running (`make run`)? Nothing was sent.",
                file=sys.stderr,
            )
            return 1
    stream, count = build_stream(source, options)
    progress = Progress(count, enabled=not options.no_progress)
    started = time.monotonic()
    try:
        if options.kafka:
            summary = send_kafka(
                stream,
                bootstrap=options.kafka,
                topic=options.topic,
                rate=options.rate,
                progress=progress,
                security=security_config(CommonSettings()),
                keep_positions=options.wait,
            )
        else:
            summary = asyncio.run(
                send_http(
                    chunks(stream, options.batch),
                    url=options.url,
                    api_key=options.api_key,
                    batch=options.batch > 1,
                    concurrency=options.concurrency,
                    rate=options.rate,
                    progress=progress,
                    request_timeout=options.timeout,
                    keep_positions=options.wait,
                )
            )
    finally:
        progress.close()
    summary.invalid_lines = len(source.invalid)
    print(format_summary(summary))
    figures = summary.as_dict()
    counting = None
    if options.wait:
        counting = follow_counting(options, summary, started)
        figures["counted"] = {
            "articles": counting.counted,
            "elapsed_s": round(counting.elapsed, 3),
            "rate_per_s": round(counting.rate, 1),
        }
    if options.summary_json:
        options.summary_json.write_text(json.dumps(figures, indent=2) + "\n")
    all_counted = counting is None or counting.complete
    return 0 if summary.accepted == summary.sent == count and not source.invalid and all_counted else 1


def follow_counting(options: argparse.Namespace, summary: Summary, started: float) -> Counting:
    """The ``--wait`` step: the counting progress bar, then the counted figures and both rates."""
    print(f"Waiting until the consumer group has counted the {len(summary.positions)} accepted articles...")
    counting = wait_until_counted(
        options.url, summary.positions, started, progress=not options.no_progress, timeout=options.wait_timeout
    )
    print(format_counting(counting, summary.rate))
    return counting
