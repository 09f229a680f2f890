"""The whole pipeline on one machine: local Kafka (and the Firestore emulator when asked), the HTTP service
and the consumer group, in the foreground until Ctrl-C (or ``python -m devservices down``)."""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from types import FrameType

from common.settings import CommonSettings
from devservices.firestore import FirestoreEmulator
from devservices.kafka import KafkaBroker, create_topics, ensure_jars
from devservices.paths import api_key_file, firestore_kept_dir, log_dir, state_dir
from devservices.process import pid_alive, stop_process_group

STACK_STATE = "stack.json"


def stack_pid() -> int | None:
    """The pid of a running ``up`` command, if any."""
    try:
        pid = int(json.loads((state_dir() / STACK_STATE).read_text())["pid"])
    except (FileNotFoundError, ValueError, KeyError):
        return None
    return pid if pid_alive(pid) else None


def dev_api_key() -> str:
    """The local API key (created once, kept in the git-ignored cache so restarts keep it)."""
    path = api_key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


class _Stop(Exception):
    """Raised in the main thread by SIGTERM/SIGINT to unwind and stop everything in order."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def up(*, firestore: bool, processes: int | None, port: int, kafka_port: int) -> int:
    """Start everything, print where the API and dashboard are, wait; stop it all on Ctrl-C."""
    if pid := stack_pid():
        print(
            f"The stack is already running (pid {pid}). Stop it with Ctrl-C in its terminal or "
            "`python -m devservices down` (make stop)."
        )
        return 1
    ensure_jars()
    (state_dir() / STACK_STATE).write_text(json.dumps({"pid": os.getpid()}))
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    broker = KafkaBroker(port=kafka_port, controller_port=kafka_port + 1)
    settings = CommonSettings(_env_file=None, kafka_bootstrap_servers=broker.bootstrap)
    emulator = FirestoreEmulator(kept_data=firestore_kept_dir())
    children: list[subprocess.Popen[bytes]] = []
    try:
        env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, PORT=str(port), PYTHONUNBUFFERED="1")
        print(f"Starting Kafka on {broker.bootstrap} (log: {broker.log_file})...")
        started = time.monotonic()
        broker.start()
        create_topics(broker.bootstrap, {settings.kafka_topic: 16, settings.kafka_dlq_topic: 1})
        print(
            f"Kafka is up in {time.monotonic() - started:.1f}s; topics {settings.kafka_topic} (16 partitions) "
            f"and {settings.kafka_dlq_topic}."
        )
        if firestore:
            print(f"Starting the Firestore emulator on {emulator.host} (log: {emulator.log_file}).")
            print(emulator_data_notice(emulator))
            emulator.start()
            env.update(FIRESTORE_EMULATOR_HOST=emulator.host, SINK="firestore")
        env.setdefault("API_KEYS", dev_api_key())
        if processes is not None:
            env["CONSUMER_PROCESSES"] = str(processes)
        roles = ("producer", "consumer")
        for role in roles:
            log = (log_dir() / f"{role}.log").open("ab")
            children.append(
                subprocess.Popen(
                    [sys.executable, "-m", role], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        host = env.get("HOST", "127.0.0.1")
        if not _wait_http(f"http://{host}:{port}/healthz", timeout=60):
            print(f"The HTTP service did not come up; see {log_dir() / 'producer.log'}")
            return 1
        sink = "Firestore emulator at " + emulator.host if firestore else f"SQLite at {settings.sqlite_path}"
        sink += " (kept between runs; `make reset` deletes it)"
        print(
            f"\nnewscounts is running.\n"
            f"  Dashboard:  http://{host}:{port}/\n"
            f"  API docs:   http://{host}:{port}/docs\n"
            f"  API key:    {env['API_KEYS'].split(',')[0]}   (header X-API-Key, for POST /articles)\n"
            f"  Kafka:      {broker.bootstrap}  topic {settings.kafka_topic}\n"
            f"  Counts in:  {sink}\n"
            f"  Logs:       {log_dir()}/{{producer,consumer,kafka,firestore}}.log\n"
            f"Try:  curl -s -X POST http://{host}:{port}/articles -H 'X-API-Key: {env['API_KEYS'].split(',')[0]}' "
            f'-H \'Content-Type: application/json\' -d \'{{"publication": "Demo", "content": "Angela Merkel met '
            f"Emmanuel Macron in Paris.\"}}'\n"
            f"Press Ctrl-C to stop everything."
        )
        while all(child.poll() is None for child in children):
            time.sleep(1)
        role, failed = next((r, c) for r, c in zip(roles, children, strict=True) if c.poll() is not None)
        print(f"The {role} exited with code {failed.returncode}; see {log_dir() / role}.log. Stopping.")
        return 1
    except _Stop:
        print("\nStopping: the consumer group flushes and commits first...")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in reversed(children):  # consumer first: it flushes while Kafka is still up
            stop_process_group(child.pid, timeout=120)
        if firestore and emulator.running_pid():
            keep_emulator_data(emulator, settings)
        emulator.stop()
        broker.stop()
        (state_dir() / STACK_STATE).unlink(missing_ok=True)
        print("Stopped: no broker, emulator, HTTP service or consumer left running.")


def emulator_data_notice(emulator: FirestoreEmulator) -> str:
    """What the emulator starts with, and what that means for the counts."""
    if kept := emulator.kept_export():
        return (
            f"It starts with the data kept at the last stop ({kept.parent.parent}): the consumer group goes on "
            "from the offsets stored with the counts. `make reset` deletes it."
        )
    return (
        "It starts empty (no data kept from an earlier run): the consumer group counts again everything the "
        "topic retains. Its data is kept at each clean stop (Ctrl-C, make stop) from now on."
    )


def keep_emulator_data(emulator: FirestoreEmulator, settings: CommonSettings) -> None:
    """Export the emulator's project for the next run (the consumer group has stopped: nothing writes)."""
    try:
        emulator.keep_data(settings.firestore_project, settings.firestore_database)
    except (OSError, ValueError) as error:
        print(
            f"Could not keep the Firestore emulator's data ({error}): the next `make run FIRESTORE=1` starts from "
            "what was kept before (or empty) and counts again what the topic holds after it."
        )
    else:
        print(f"Kept the Firestore emulator's data for the next run in {emulator.kept_data}.")


def down() -> int:
    """Stop a running ``up`` (it stops its children in order), or leftover background services."""
    if pid := stack_pid():
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 180
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
        print("Stopped the stack." if not pid_alive(pid) else f"The stack (pid {pid}) is still stopping.")
        return 0
    stopped = [
        name for name, service in (("Kafka", KafkaBroker()), ("Firestore", FirestoreEmulator())) if service.stop()
    ]
    print(f"Stopped {', '.join(stopped)}." if stopped else "Nothing was running.")
    return 0
