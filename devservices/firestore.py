"""The gcloud Firestore emulator as a background service (``gcloud emulators firestore start``)."""

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devservices.paths import log_dir, state_dir
from devservices.prereqs import require
from devservices.process import pid_alive, port_open, stop_process_group


def emulator_answers(host: str, timeout: float = 2.0) -> bool:
    """True when a Firestore emulator at ``host`` (``127.0.0.1:8681``) answers its root URL with "Ok"."""
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def clear_emulator(host: str, project: str) -> None:
    """Delete every document of ``project`` in the emulator (its documented reset endpoint)."""
    request = urllib.request.Request(
        f"http://{host}/emulator/v1/projects/{project}/databases/(default)/documents", method="DELETE"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


@dataclass(frozen=True)
class FirestoreEmulator:
    """One local emulator process on 127.0.0.1:``port``."""

    name: str = "firestore"
    port: int = 8681

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return log_dir() / f"{self.name}.log"

    @property
    def _state_file(self) -> Path:
        return state_dir() / f"{self.name}.json"

    def running_pid(self) -> int | None:
        try:
            pid = int(json.loads(self._state_file.read_text())["pid"])
        except (FileNotFoundError, ValueError, KeyError):
            return None
        return pid if pid_alive(pid) else None

    def start(self, timeout: float = 90.0) -> int:
        """Start the emulator in the background and wait until it answers."""
        if pid := self.running_pid():
            raise RuntimeError(
                f"the Firestore emulator '{self.name}' is already running (pid {pid}) on {self.host}; "
                "stop it with `python -m devservices firestore stop`"
            )
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already in use by another program; choose another (--port)")
        gcloud = require("gcloud")
        log = self.log_file.open("ab")
        process = subprocess.Popen(
            [gcloud, "emulators", "firestore", "start", f"--host-port={self.host}", "--quiet"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._state_file.write_text(json.dumps({"pid": process.pid, "host": self.host}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._state_file.unlink(missing_ok=True)
                raise RuntimeError(f"the Firestore emulator exited with code {process.returncode}; see {self.log_file}")
            if emulator_answers(self.host, timeout=1.0):
                return process.pid
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the Firestore emulator did not answer within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the emulator and its Java child (the whole process group); False if it was not running."""
        pid = self.running_pid()
        self._state_file.unlink(missing_ok=True)
        if pid is None:
            return False
        stop_process_group(pid, timeout)
        return True
