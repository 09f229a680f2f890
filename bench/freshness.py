"""Freshness: how long after ``POST /articles`` was acknowledged an article is visible in the read API, while
background articles arrive at half the group's measured rate (all over HTTP, as clients send them)."""

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bench.pipeline import Pipeline
from loadtool.load import Outgoing, Progress, chunks, send_http

PROBE_PREFIX = "bench-probe-"


def relabeled(articles: Sequence[Outgoing], publication: str, id_prefix: str) -> list[Outgoing]:
    """Copies of ``articles`` under another publication with ids ``{id_prefix}{i}`` (distinct articles)."""
    return [
        Outgoing({**a.record, "publication": publication, "id": f"{id_prefix}{i}"}, f"{id_prefix}{i}")
        for i, a in enumerate(articles)
    ]


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
