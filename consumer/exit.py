"""How the supervisor and each worker end their process once they have stopped."""

import signal
import sys


def exit_after_stop(code: int) -> None:
    """Exit with ``code`` once this process has stopped, ignoring stop signals from here on.

    Ctrl-C and process managers signal every process of the group, and the supervisor forwards SIGTERM too, so
    a second stop signal can reach a process that has already stopped. While Python exits it puts the default
    handlers back, and that signal would kill the process: exit code -15 instead of 0 after a clean stop.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
