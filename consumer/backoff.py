"""Exponential backoff: the one formula for sink retries (checkpointer) and worker restarts (supervisor)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Waits of ``initial`` seconds, doubling after each further failure, never more than ``maximum``."""

    initial: float
    maximum: float

    def delay(self, failures: int) -> float:
        """The wait after the ``failures``-th failure in a row (1 for the first)."""
        if failures < 1:
            raise ValueError(f"failures must be at least 1, not {failures}")
        return min(self.initial * 2.0 ** (failures - 1), self.maximum)
