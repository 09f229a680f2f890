"""``python -m devservices``: run the local Kafka broker, the Firestore emulator, or the whole stack.

python -m devservices up [--firestore] [--processes N]   everything, in the foreground (Ctrl-C stops it)
python -m devservices down                               stop what `up` (or `start`) left running
python -m devservices demo [--url URL]                   send the demo articles, wait until they are counted
python -m devservices status [--url URL]                 how far behind counting is (GET /status)
python -m devservices reset [--yes]                      delete the topic data, SQLite file, emulator data, API key
python -m devservices kafka start|stop|status [--port 9092]
python -m devservices firestore start|stop|status [--port 8681]
"""

import argparse
import sys
import time

from devservices.demo import run_demo
from devservices.firestore import FirestoreEmulator
from devservices.kafka import KafkaBroker, create_topics
from devservices.prereqs import MissingPrerequisite
from devservices.reset import reset
from devservices.stack import down, up
from devservices.status import DEFAULT_URL, print_status


def _kafka(action: str, port: int, partitions: int) -> int:
    broker = KafkaBroker(port=port, controller_port=port + 1)
    if action == "start":
        started = time.monotonic()
        pid = broker.start()
        created = create_topics(broker.bootstrap, {"articles": partitions, "articles.dlq": 1})
        print(
            f"Kafka is running on {broker.bootstrap} (pid {pid}, started in {time.monotonic() - started:.1f}s); "
            f"topics created: {', '.join(created) or 'none (they exist)'}; log: {broker.log_file}"
        )
        print(f"export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}")
    elif action == "stop":
        print("Kafka stopped." if broker.stop() else "Kafka was not running.")
    else:
        running = broker.running_pid()
        print(f"Kafka is running on {broker.bootstrap} (pid {running})." if running else "Kafka is not running.")
        return 0 if running else 3
    return 0


def _firestore(action: str, port: int) -> int:
    emulator = FirestoreEmulator(port=port)
    if action == "start":
        pid = emulator.start()
        print(f"The Firestore emulator is running on {emulator.host} (pid {pid}); log: {emulator.log_file}")
        print(f"export FIRESTORE_EMULATOR_HOST={emulator.host}")
    elif action == "stop":
        print("Firestore emulator stopped." if emulator.stop() else "The Firestore emulator was not running.")
    else:
        running = emulator.running_pid()
        print(
            f"The Firestore emulator is running on {emulator.host} (pid {running})."
            if running
            else "The Firestore emulator is not running."
        )
        return 0 if running else 3
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devservices", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("up", help="run Kafka, the HTTP service and the consumer group until Ctrl-C")
    run.add_argument("--firestore", action="store_true", help="count into the Firestore emulator, not SQLite")
    run.add_argument("--processes", type=int, help="consumer processes (default: CONSUMER_PROCESSES or 16)")
    run.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    run.add_argument("--kafka-port", type=int, default=9092, help="Kafka port; the controller uses the next one")
    commands.add_parser("down", help="stop the running stack or leftover services")
    for name, what in (
        ("demo", "send the bundled Wikinews articles to the running stack and wait until they are counted"),
        ("status", "how far behind the consumer group is, from the running service's GET /status"),
    ):
        command = commands.add_parser(name, help=what)
        command.add_argument("--url", default=DEFAULT_URL, help=f"the HTTP service (default {DEFAULT_URL})")
    reset_command = commands.add_parser("reset", help="delete what the local pipeline keeps between runs (asks)")
    reset_command.add_argument("--yes", action="store_true", help="delete without asking")
    kafka = commands.add_parser("kafka", help="the local Kafka broker")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    kafka.add_argument("--port", type=int, default=9092, help="broker port; the controller uses the next one")
    kafka.add_argument("--partitions", type=int, default=16, help="partitions of the articles topic")
    firestore = commands.add_parser("firestore", help="the Firestore emulator")
    firestore.add_argument("action", choices=["start", "stop", "status"])
    firestore.add_argument("--port", type=int, default=8681)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return up(firestore=args.firestore, processes=args.processes, port=args.port, kafka_port=args.kafka_port)
        if args.command == "down":
            return down()
        if args.command == "demo":
            return run_demo(args.url)
        if args.command == "status":
            return print_status(args.url)
        if args.command == "reset":
            return reset(yes=args.yes)
        if args.command == "kafka":
            return _kafka(args.action, args.port, args.partitions)
        return _firestore(args.action, args.port)
    except (MissingPrerequisite, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
