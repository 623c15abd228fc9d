"""Running as a systemd service: readiness and watchdog notifications, logging, signals.

The daemon is ``Type=notify`` (``systemd/telephrase.service``): systemd counts it as started only
once it says READY=1, which is after the models are loaded, so units ordered after it, and
``systemctl start`` itself, wait for a station that can actually work.  The watchdog keep-alive is
sent from the daemon's main loop (``Notifier.kick``), never from a timer thread: a thread would
keep a deadlocked main loop alive forever, while a missed kick gets it killed and restarted.

Outside systemd (a terminal, the tests) every part degrades to a cheap no-op or plain stderr.
"""

from __future__ import annotations

import faulthandler
import logging
import math
import os
import select
import signal
import sys
import threading
import time
from dataclasses import dataclass

from systemd import daemon, journal

log = logging.getLogger(__name__)

SYSLOG_IDENTIFIER = "telephrase"


def watchdog_interval() -> float | None:
    """The watchdog timeout in seconds that systemd set for this process, or None.

    python-systemd 235 has no binding for ``sd_watchdog_enabled``, so this reads the same
    variables it would: ``WATCHDOG_USEC``, and ``WATCHDOG_PID`` so that a child that inherited
    the environment does not take the parent's watchdog for its own.
    """
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not os.environ.get("NOTIFY_SOCKET"):
        return None
    pid = os.environ.get("WATCHDOG_PID")
    try:
        if pid and int(pid) != os.getpid():
            return None
        value = int(usec)
    except ValueError:
        log.warning("ignoring a malformed watchdog setting: WATCHDOG_USEC=%r WATCHDOG_PID=%r", usec, pid)
        return None
    return value / 1e6 if value > 0 else None


class Notifier:
    """sd_notify messages to systemd; every method is a no-op when not started by systemd.

    A failed notification is logged, never raised: a station that cannot tell systemd how it
    is doing should still pass traffic (and a missed watchdog kick gets it restarted anyway).
    """

    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._watchdog = watchdog_interval()
        self._last_kick = -math.inf

    def watchdog_interval(self) -> float | None:
        """Seconds within which ``kick`` must be called, or None if there is no watchdog."""
        return self._watchdog

    def ready(self, status: str | None = None) -> None:
        """Start-up (or a reload) is complete; say so with an optional status line."""
        self._send("READY=1", *self._status(status))

    def status(self, text: str) -> None:
        """A one-line status that ``systemctl status telephrase`` shows."""
        self._send(*self._status(text))

    def reloading(self) -> None:
        """A reload has begun; call ``ready`` when it is done.

        MONOTONIC_USEC is what ``Type=notify-reload`` (systemd 253) requires to match the
        message to its SIGHUP; older versions ignore it, so it is always sent.
        """
        self._send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self, status: str | None = None) -> None:
        """Shutdown has begun, so systemd shows 'deactivating' instead of a hang."""
        self._send("STOPPING=1", *self._status(status))

    def kick(self) -> bool:
        """Keep the watchdog from firing; call it on every pass of the main loop.

        Sends WATCHDOG=1 at most once per half interval, so calling it often is cheap.
        Returns whether a keep-alive was sent.
        """
        if self._watchdog is None:
            return False
        now = time.monotonic()
        if now - self._last_kick < self._watchdog / 2:
            return False
        self._last_kick = now
        return self._send("WATCHDOG=1")

    @staticmethod
    def _status(text: str | None) -> list[str]:
        # A newline would start a new assignment in the datagram.
        return [] if text is None else ["STATUS=" + " ".join(text.splitlines())]

    def _send(self, *fields: str) -> bool:
        if not self.enabled:
            return False
        try:
            return daemon.notify("\n".join(fields))
        except OSError as e:
            log.warning("cannot notify systemd (%s): %s", fields[0], e.strerror)
            return False


def stderr_is_journal() -> bool:
    """Whether stderr is connected to journald, i.e. it matches ``JOURNAL_STREAM``.

    A child process may inherit JOURNAL_STREAM with stderr redirected elsewhere; comparing
    device and inode tells the two apart, as sd_journal_stream_fd(3) recommends.
    """
    expected = os.environ.get("JOURNAL_STREAM")
    if not expected:
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (AttributeError, ValueError, OSError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


def setup_logging(level: int) -> logging.Handler:
    """Send log records where they are most useful, replacing any earlier configuration.

    Into the journal, records go natively: with their priority (so ``journalctl -p warning``
    works), logger name and source line as fields.  Elsewhere under systemd (INVOCATION_ID set,
    stderr redirected) the lines carry no timestamps, because whatever collects them adds its
    own; in a terminal they do.
    """
    handler: logging.Handler
    if stderr_is_journal():
        handler = journal.JournalHandler(SYSLOG_IDENTIFIER=SYSLOG_IDENTIFIER)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    elif os.environ.get("INVOCATION_ID"):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    return handler


class Flag:
    """An event that a signal handler may set: ``set``, ``is_set``, ``clear`` and ``wait``.

    ``threading.Event.set`` takes a lock that the interrupted main thread may be holding inside
    ``Event.wait``, and then waits for itself forever (the signal module's documentation warns
    against locks in handlers).  This flag is a plain attribute plus a byte written to a pipe,
    both safe in a handler; ``wait`` sleeps in select() on the pipe, so it wakes at once, and a
    main loop that selects on its own sockets can add the flag (``fileno``) to the same call.
    """

    def __init__(self) -> None:
        self._set = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def set(self) -> None:
        self._set = True
        try:
            os.write(self._write, b"\0")
        except BlockingIOError:  # the pipe is full of earlier wake-ups: already awake
            pass

    def is_set(self) -> bool:
        return self._set

    def clear(self) -> None:
        self._set = False
        try:
            while os.read(self._read, 4096):
                pass
        except BlockingIOError:
            pass

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until set or ``timeout`` seconds pass; return whether it is set.

        Like ``Event.wait`` it may return early (False) after a ``clear`` raced a ``set``;
        callers wait in a loop anyway.
        """
        if not self._set:
            select.select([self._read], [], [], timeout)
        return self._set

    def fileno(self) -> int:
        """Readable whenever the flag has been set (and not cleared since)."""
        return self._read


@dataclass(frozen=True)
class SignalEvents:
    """What the main loop polls: ``stop`` (SIGTERM, SIGINT) and ``reload`` (SIGHUP)."""

    stop: Flag
    reload: Flag


def install_signal_handlers() -> SignalEvents:
    """Turn SIGTERM and SIGINT into ``stop`` and SIGHUP into ``reload``.

    The handlers only set flags; the main loop acts on them between messages, so a message
    being sent or spoken is finished and the radio is never left keyed.  A second SIGINT
    raises KeyboardInterrupt as usual, so a second Ctrl-C still ends a loop that does not stop.
    SIGABRT, which systemd's watchdog sends to a hung daemon, and fatal errors print every
    thread's stack to stderr (the journal) first, so the hang can be found.
    Python runs signal handlers only in the main thread, so only the main thread may install them.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("signal handlers can only be installed from the main thread")
    faulthandler.enable(all_threads=True)
    signals = SignalEvents(stop=Flag(), reload=Flag())

    def on_stop(signum: int, frame: object) -> None:
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        signals.stop.set()

    def on_reload(signum: int, frame: object) -> None:
        signals.reload.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_reload)
    return signals
