"""The time budget of one rebalance callback, one consume cycle or a stop: every wait inside it is bounded by
what is left, so nothing the worker does between two ``consume`` calls can outlast ``MAX_POLL_INTERVAL``."""

from collections.abc import Callable


class Deadline:
    """A moment ``seconds`` from now on ``clock`` (``time.monotonic`` in production)."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._at = clock() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._at - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._at

    def bound(self, seconds: float) -> float:
        """``seconds``, or what is left if that is less: the timeout to give one wait inside the budget."""
        return min(seconds, self.remaining())
