"""``make status`` and ``make demo`` (``python -m devservices status|demo``): what they print, and what they say
when no stack is running."""

import pytest

from devservices.demo import run_demo
from devservices.process import free_port
from devservices.status import format_status, print_status

ANSWER = {
    "summary": "counting: 1,234 articles behind, ~3m 20s to catch up",
    "topic": "articles",
    "group": "newscounts",
    "lag": 1234,
    "rate": 6.17,
    "rate_seconds": 60.0,
    "catch_up_seconds": 200.0,
    "kafka": "ok",
    "sink": "ok",
    "partitions": [
        {"partition": 0, "committed": 10, "end": 700, "lag": 690},
        {"partition": 1, "committed": None, "end": 544, "lag": 544},
    ],
}


def test_the_status_in_a_terminal() -> None:
    assert format_status(ANSWER) == (
        "counting: 1,234 articles behind, ~3m 20s to catch up\n"
        "  rate:    6.17 articles/s over the last 60s\n"
        "  topic:   articles (2 partitions), consumer group newscounts\n"
        "  lag:     1234 in all; per partition from 0: 690 544\n"
        "  Kafka:   ok\n"
        "  sink:    ok"
    )
    unknown = {**ANSWER, "summary": "counting: unknown", "rate": None, "rate_seconds": 0, "lag": None}
    assert format_status({**unknown, "partitions": [], "kafka": "no broker"}).splitlines()[1:] == [
        "  rate:    not known yet (it needs readings a few seconds apart)",
        "  topic:   articles (0 partitions), consumer group newscounts",
        "  Kafka:   no broker",
        "  sink:    ok",
    ]


@pytest.mark.parametrize("command", [print_status, run_demo])
def test_without_a_running_stack_status_and_demo_say_to_start_it(command, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert command(url) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "`make run`" in error, error
