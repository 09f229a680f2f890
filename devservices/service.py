"""What the local broker and emulator have in common: a program in its own session, found again through a pid
file, logging to a file the user can read, started and stopped the same way."""

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from devservices.paths import log_dir, state_dir
from devservices.process import pid_alive, stop_process_group


class BackgroundService:
    """Base of :class:`~devservices.kafka.KafkaBroker` and :class:`~devservices.firestore.FirestoreEmulator`
    (frozen dataclasses with a ``name``); ``title`` names the service in messages."""

    name: str
    title: str = "the service"
    stop_command: str = "python -m devservices down"

    @property
    def log_file(self) -> Path:
        return log_dir() / f"{self.name}.log"

    @property
    def _state_file(self) -> Path:
        return state_dir() / f"{self.name}.json"

    def running_pid(self) -> int | None:
        """The pid of this service if its pid file names a live process."""
        try:
            pid = int(json.loads(self._state_file.read_text())["pid"])
        except (FileNotFoundError, ValueError, KeyError):
            return None
        return pid if pid_alive(pid) else None

    def _refuse_second_start(self, address: str) -> None:
        if pid := self.running_pid():
            raise RuntimeError(
                f"{self.title} '{self.name}' is already running (pid {pid}) on {address}; "
                f"stop it with `{self.stop_command}`"
            )

    def _launch(self, command: list[str], answers: Callable[[], bool], timeout: float) -> int:
        """Start ``command`` in its own session, logging to :attr:`log_file`; wait until ``answers()``."""
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._state_file.write_text(json.dumps({"pid": process.pid}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._state_file.unlink(missing_ok=True)
                raise RuntimeError(f"{self.title} exited with code {process.returncode}; see {self.log_file}")
            if answers():
                return process.pid
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.title} did not answer within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the service's process group (SIGKILL after ``timeout``); False if it was not running."""
        pid = self.running_pid()
        self._state_file.unlink(missing_ok=True)
        if pid is None:
            return False
        stop_process_group(pid, timeout)
        return True
