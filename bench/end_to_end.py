"""End to end: N articles posted over HTTP until the read API shows all N counted and the group's lag is 0;
and freshness: how long after ``POST /articles`` was acknowledged an article is visible in the read API.

Before the clock starts, warm-up articles (their own publication, left out of every figure) make every
worker load its model and prove that the whole path works, as the raw-spaCy limit also starts warm.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bench.cpu import CpuByComponent
from bench.flushlog import FlushTotals, read_flushes
from bench.limit import count_words
from bench.memory import MemorySampler, MemorySamples
from bench.pipeline import Pipeline
from bench.services import BenchError, wait_until
from loadtool.load import Outgoing, Progress, Summary, chunks, send_http

WARMUP_PUBLICATION = "bench-warmup"
PROBE_PREFIX = "bench-probe-"
POST_BATCH = 100


def relabeled(articles: Sequence[Outgoing], publication: str, id_prefix: str) -> list[Outgoing]:
    """Copies of ``articles`` under another publication with ids ``{id_prefix}{i}`` (distinct articles)."""
    return [
        Outgoing({**a.record, "publication": publication, "id": f"{id_prefix}{i}"}, f"{id_prefix}{i}")
        for i, a in enumerate(articles)
    ]


def post_all(pipeline: Pipeline, articles: Sequence[Outgoing], rate: float | None = None) -> Summary:
    """POST the articles in batches; every one must be accepted."""
    summary = asyncio.run(
        send_http(
            chunks(articles, POST_BATCH),
            url=pipeline.url,
            api_key=pipeline.api_key,
            batch=True,
            concurrency=2,
            rate=rate,
            progress=Progress(len(articles), enabled=False),
        )
    )
    if summary.accepted != len(articles):
        raise BenchError(f"the HTTP service accepted {summary.accepted} of {len(articles)}: {dict(summary.statuses)}")
    return summary


@dataclass
class EndToEndResult:
    name: str
    articles: int
    words: int
    seconds: float
    """From the first POST to the read API showing all articles counted."""
    counted: int
    """Articles the read API shows once the lag is 0 (must equal ``articles``)."""
    lag: int
    progress: list[tuple[float, int]]
    """(seconds since the first POST, articles counted) as the read API showed them."""
    memory: MemorySamples
    flushes: FlushTotals
    naive_writes: int
    """One write per distinct entity per article (the naive design) for the same articles."""
    naive_mention_writes: int
    """One write per entity occurrence (a naive design that does not even merge within an article)."""
    cpu_cores: dict[str, float]
    """Cores used by each part (workers, supervisor, HTTP service, broker, bench, other programs)."""

    @property
    def articles_per_s(self) -> float:
        return self.articles / self.seconds

    @property
    def words_per_s(self) -> float:
        return self.words / self.seconds

    @property
    def exact(self) -> bool:
        return self.counted == self.articles and self.lag == 0


def counted_articles(pipeline: Pipeline) -> tuple[int, dict[str, int]]:
    counts = pipeline.publication_counts()
    return sum(n for name, n in counts.items() if name != WARMUP_PUBLICATION), counts


def warm_up(pipeline: Pipeline, articles: Sequence[Outgoing]) -> None:
    warmup = relabeled(articles, WARMUP_PUBLICATION, f"warmup-{pipeline.name}-")
    post_all(pipeline, warmup)
    wait_until(
        lambda: pipeline.publication_counts().get(WARMUP_PUBLICATION) == len(warmup),
        timeout=300,
        what="the warm-up articles to be counted",
        interval=0.5,
    )


def run_end_to_end(
    pipeline: Pipeline, articles: Sequence[Outgoing], warmup: Sequence[Outgoing], timeout: float
) -> EndToEndResult:
    """Warm up, then post ``articles`` and wait until they are all counted and committed."""
    assert pipeline.consumer is not None
    warm_up(pipeline, warmup)
    # Every warm-up flush is committed (lag 0) and logged (its line follows the commit) before the log
    # offset is taken, so the flushes counted below hold only the measured articles.
    wait_until(lambda: pipeline.lag() == 0, timeout=120, what="the warm-up articles to be committed")
    pipeline.wait_for_group()
    time.sleep(1.0)
    log_start = pipeline.consumer_log.stat().st_size
    progress: list[tuple[float, int]] = []
    assert pipeline.producer is not None
    broker_pid = pipeline.broker.running_pid()
    components = {
        "consumer workers": (pipeline.consumer.pid, True),
        "HTTP service": (pipeline.producer.pid, False),
        **({"Kafka broker": (broker_pid, True)} if broker_pid else {}),
    }
    with MemorySampler(pipeline.consumer.pid) as sampler, CpuByComponent(components) as cpu:
        started = time.monotonic()
        post_all(pipeline, articles)

        def all_counted() -> bool:
            counted, _ = counted_articles(pipeline)
            progress.append((time.monotonic() - started, counted))
            return counted >= len(articles)

        finished = wait_until(
            all_counted, timeout=timeout, what=f"{len(articles)} articles to be counted", interval=0.2
        )
    wait_until(lambda: pipeline.lag() == 0, timeout=120, what="the consumer group's lag to reach 0")
    counted, counts = counted_articles(pipeline)
    totals = [pipeline.entity_totals(name) for name in counts if name != WARMUP_PUBLICATION]
    return EndToEndResult(
        name=pipeline.name,
        articles=len(articles),
        words=sum(count_words(a.record["content"]) for a in articles),
        seconds=finished - started,
        counted=counted,
        lag=pipeline.lag(),
        progress=progress,
        memory=sampler.result,
        flushes=read_flushes(pipeline.consumer_log, log_start, pipeline.consumer_log.stat().st_size),
        naive_writes=sum(pairs for pairs, _ in totals),
        naive_mention_writes=sum(mentions for _, mentions in totals),
        cpu_cores=cpu.cores,
    )


@dataclass
class FreshnessResult:
    seconds: list[float]
    """Per probe: from its POST's acknowledgment to its first appearance in ``GET /publications``."""
    probes: int
    background_rate: float
    background_statuses: dict[str, int]

    @property
    def missing(self) -> int:
        return self.probes - len(self.seconds)


def run_freshness(
    pipeline: Pipeline,
    probes: Sequence[Outgoing],
    background: Sequence[Outgoing],
    *,
    probe_rate: float,
    background_rate: float,
    grace: float,
) -> FreshnessResult:
    """Post each probe (an article under its own publication) at ``probe_rate`` while background articles
    arrive at ``background_rate``; poll ``GET /publications`` every 0.1 s for the probes, until ``grace``
    seconds after the last probe was due."""
    labeled = [
        relabeled([probe], f"{PROBE_PREFIX}{i:03d}", f"probe-{pipeline.name}-{i}-")[0] for i, probe in enumerate(probes)
    ]
    return asyncio.run(_freshness(pipeline, labeled, list(background), probe_rate, background_rate, grace))


async def _freshness(
    pipeline: Pipeline,
    probes: list[Outgoing],
    background: list[Outgoing],
    probe_rate: float,
    background_rate: float,
    grace: float,
) -> FreshnessResult:
    names = {p.record["publication"] for p in probes}
    acknowledged: dict[str, float] = {}
    seen: dict[str, float] = {}

    def on_probe(articles: list[Outgoing], outcomes: Counter[str], answered_at: float) -> None:
        if outcomes["202"] == len(articles):
            acknowledged[articles[0].record["publication"]] = answered_at

    async def poll(deadline: float) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            while len(seen) < len(names) and time.monotonic() < deadline:
                response = await client.get(f"{pipeline.url}/publications", params={"limit": 0})
                now = time.monotonic()
                for row in response.json():
                    if row["publication"] in names and row["articles"] >= 1:
                        seen.setdefault(row["publication"], now)
                await asyncio.sleep(0.1)

    deadline = time.monotonic() + len(probes) / probe_rate + grace
    _, background_summary, _ = await asyncio.gather(
        send_http(
            [[p] for p in probes],
            batch=False,
            concurrency=1,
            rate=probe_rate,
            progress=Progress(len(probes), enabled=False),
            on_response=on_probe,
            url=pipeline.url,
            api_key=pipeline.api_key,
        ),
        send_http(
            chunks(background, 10),
            batch=True,
            concurrency=2,
            rate=background_rate,
            progress=Progress(len(background), enabled=False),
            url=pipeline.url,
            api_key=pipeline.api_key,
        ),
        poll(deadline),
    )
    return FreshnessResult(
        seconds=[seen[name] - acknowledged[name] for name in sorted(names) if name in seen and name in acknowledged],
        probes=len(probes),
        background_rate=background_rate,
        background_statuses=dict(background_summary.statuses),
    )
