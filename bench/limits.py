"""The limit measured beside every run: on alternate halves of the run's articles, before the first run and
after each run (A, run 1, B, run 2, A, ...), so each run is judged against the two measurements around it,
which together read the same articles: a drift of the machine's speed over the minutes of the run weighs on
both sides of the ratio."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.cpu import ForeignCpu
from bench.limit import LimitResult, combined, measure_limit


@dataclass
class LimitSeries:
    halves: tuple[list[str], list[str]]
    """The texts of the two halves (the run's articles at even and at odd positions)."""
    processes: int
    model: str
    measured: list[tuple[str, LimitResult, float]] = field(default_factory=list)
    """(when, the measurement, cores other programs used meanwhile), in order."""

    def measure(self, when: str) -> LimitResult:
        with ForeignCpu() as other:
            result = measure_limit(self.halves[len(self.measured) % 2], processes=self.processes, model=self.model)
        self.measured.append((when, result, other.cores))
        return result

    def beside_last_run(self) -> LimitResult:
        """The two latest measurements combined: the ones just before and just after the latest run."""
        return combined([result for _, result, _ in self.measured[-2:]])


def halves_of(texts: Sequence[str]) -> tuple[list[str], list[str]]:
    return list(texts[0::2]), list(texts[1::2])
