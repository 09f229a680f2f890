"""One throughput run on a running consumer group: N records produced straight to Kafka (spread as a
:class:`~bench.records.Skew` says), the group's committed offsets sampled until they cover all N, then the
counts checked exact through the read API.

The rate is taken from the committed offsets between 10% and 90% of the N records (``0.8 N / (t90 - t10)``,
each time interpolated between samples): the steady state, without the first fetch and the last flush,
which every run has and which would weigh differently on runs of different lengths. The group's CPU time
(supervisor, fork server, workers, NER processes) is sampled with it, so the articles per CPU-second cover
the same interval; so is the machine's busy time, whose rest (other programs) is the noise under the figure.
"""

import threading
import time
from collections.abc import Sequence
from dataclasses import astuple, dataclass

from bench.cpu import busy_cpu_seconds, cpu_seconds_by_kind, own_cpu_seconds, process_cpu_seconds
from bench.memory import MemorySampler, MemorySamples
from bench.pipeline import Pipeline
from bench.records import Skew, produce
from bench.services import BenchError
from loadtool.load import Outgoing

LOW, HIGH = 0.1, 0.9
"""The share of the run's records between which the rate is measured."""


@dataclass(frozen=True)
class Sample:
    seconds: float
    """Since the first record was produced."""
    committed: float
    """Records of this run the group has committed."""
    group_cpu: float
    busy_cpu: float
    own_cpu: float
    """CPU-seconds so far: the consumer group; the whole machine; the bench and all it started."""


def at(samples: Sequence[Sample], target: float) -> Sample | None:
    """The moment ``committed`` reached ``target``, every field interpolated between the two samples around
    it; None if it never did."""
    previous = None
    for sample in samples:
        if sample.committed >= target:
            if previous is None:
                return sample
            share = (target - previous.committed) / (sample.committed - previous.committed)
            return Sample(*(p + share * (s - p) for p, s in zip(astuple(previous), astuple(sample), strict=True)))
        previous = sample
    return None


@dataclass(frozen=True)
class RunResult:
    workers: int
    skew: str
    articles: int
    partitions: dict[int, int]
    """Records per partition, as the producer's acknowledgments said."""
    samples: list[Sample]
    counted: int
    """Articles of this run the read API shows once the lag is 0 (must equal ``articles``)."""
    lag: int
    memory: MemorySamples
    cores_by_kind: dict[str, float]
    """Cores each kind of process of the group used over the whole run (first record produced to all
    committed): where the group's CPU went."""

    def window(self) -> tuple[Sample, Sample]:
        low, high = at(self.samples, LOW * self.articles), at(self.samples, HIGH * self.articles)
        if low is None or high is None:
            raise BenchError(f"the {self.skew} run never committed {HIGH:.0%} of its records")
        return low, high

    @property
    def seconds(self) -> float:
        low, high = self.window()
        return high.seconds - low.seconds

    @property
    def articles_per_s(self) -> float:
        return (HIGH - LOW) * self.articles / self.seconds

    @property
    def articles_per_cpu_s(self) -> float:
        low, high = self.window()
        return (HIGH - LOW) * self.articles / (high.group_cpu - low.group_cpu)

    @property
    def other_cores(self) -> float:
        """Cores other programs used between 10% and 90%."""
        low, high = self.window()
        return max((high.busy_cpu - low.busy_cpu) - (high.own_cpu - low.own_cpu), 0.0) / self.seconds

    @property
    def exact(self) -> bool:
        return self.counted == self.articles and self.lag == 0


def total_counted(pipeline: Pipeline) -> int:
    return sum(pipeline.publication_counts().values())


class _OffsetSampler:
    """Samples the run's committed offsets and CPU times every ``interval`` seconds in a thread."""

    def __init__(self, pipeline: Pipeline, base: int, interval: float = 0.2) -> None:
        assert pipeline.consumer is not None
        self._pipeline, self._base, self._interval = pipeline, base, interval
        self._group = pipeline.consumer.pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="offset-sampler", daemon=True)
        self.samples: list[Sample] = []
        self.cores_by_kind: dict[str, float] = {}
        self.error: BaseException | None = None

    def start(self) -> None:
        self._started = time.monotonic()
        self._cpu_before = cpu_seconds_by_kind(self._group, self._pipeline.child_pids())
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        after = cpu_seconds_by_kind(self._group, self._pipeline.child_pids())
        elapsed = time.monotonic() - self._started
        self.cores_by_kind = {
            kind: round((seconds - self._cpu_before.get(kind, 0.0)) / elapsed, 2) for kind, seconds in after.items()
        }

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                committed = sum(self._pipeline.committed()) - self._base
                self.samples.append(
                    Sample(
                        time.monotonic() - self._started,
                        committed,
                        process_cpu_seconds(self._group, descendants=True),
                        busy_cpu_seconds(),
                        own_cpu_seconds(),
                    )
                )
                self._stop.wait(self._interval)
        except BaseException as error:  # reported by run_records
            self.error = error


def run_records(
    pipeline: Pipeline, records: Sequence[Outgoing], skew: Skew, *, workers: int, timeout: float
) -> RunResult:
    """Produce ``records`` to the running group, wait until it committed them all, check the counts."""
    assert pipeline.consumer is not None
    pipeline.wait_for_lag_zero()
    before, base = total_counted(pipeline), sum(pipeline.committed())
    sampler = _OffsetSampler(pipeline, base)
    with MemorySampler(pipeline.consumer.pid, pipeline.child_pids) as memory:
        sampler.start()
        try:
            partitions = produce(records, skew, bootstrap=pipeline.broker.bootstrap, topic=pipeline.topic)
            deadline = time.monotonic() + timeout
            while not sampler.samples or sampler.samples[-1].committed < len(records):
                if sampler.error is not None:
                    raise BenchError(f"sampling the committed offsets failed: {sampler.error}")
                if time.monotonic() > deadline:
                    raise BenchError(f"timed out after {timeout:.0f}s waiting for {len(records)} records committed")
                pipeline.idle(0.5)
        finally:
            sampler.stop()
    pipeline.wait_for_lag_zero()
    return RunResult(
        workers=workers,
        skew=str(skew),
        articles=len(records),
        partitions=partitions,
        samples=sampler.samples,
        counted=total_counted(pipeline) - before,
        lag=pipeline.lag(),
        memory=memory.result,
        cores_by_kind=sampler.cores_by_kind,
    )
