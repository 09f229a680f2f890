"""Which broker/emulator the test fixtures use: configured and reachable, else Docker, else local."""

import pytest

from devservices.selection import Source, choose_source


def _never() -> bool:
    raise AssertionError("must not be asked")


@pytest.mark.parametrize(
    ("configured", "reachable", "docker", "expected"),
    [
        ("127.0.0.1:9092", True, False, Source.CONFIGURED),
        ("127.0.0.1:9092", True, True, Source.CONFIGURED),
        ("127.0.0.1:9092", False, True, Source.TESTCONTAINERS),
        ("127.0.0.1:9092", False, False, Source.LOCAL),
        (None, False, True, Source.TESTCONTAINERS),
        (None, False, False, Source.LOCAL),
        ("", False, False, Source.LOCAL),
    ],
)
def test_choice_order(configured: str | None, reachable: bool, docker: bool, expected: Source) -> None:
    asked: list[str] = []

    def answers(address: str) -> bool:
        asked.append(address)
        return reachable

    assert choose_source(configured, answers, lambda: docker) is expected
    assert asked == ([configured] if configured else [])


def test_docker_is_not_asked_when_the_configured_service_answers() -> None:
    assert choose_source("127.0.0.1:8681", lambda _: True, _never) is Source.CONFIGURED
