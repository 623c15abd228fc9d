"""Push-to-talk: the key that makes the station transmit, read from what the operator presses.

Sources (``make_ptt``): a serial port's control line (CTS, DSR, CD or RI: a foot switch or a
radio's PTT output wired to a USB serial adapter), a key of a Linux input device (a USB foot
pedal, a keyboard key), a GPIO line through the GPIO character device, and standard input for
the bench.  Each has a thread that reads its raw level and ``feed``s it to ``PttSource``, which
is the same for all:

- **debounce**: a new level counts once it has held ``debounce`` seconds, so contact bounce
  and glitches never key the transmitter;
- **transmit limit**: a key down longer than ``max_transmit`` seconds is released (and logged),
  and stays released until the key is let go: a stuck pedal or a forgotten toggle must not
  hold a channel for ever;
- **fail safe**: a device that stops answering reads as released, then is reopened with
  backoff, like the sound cards (``devices.Retry``).

The station asks ``pressed()`` once per audio block; ``wait_change`` blocks until the key
moves.  A voice-activated source fits the same interface: it would ``feed`` whether the latest
audio holds speech, and get the transmit limit for free.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TextIO

import serial

from ..audio.devices import Retry, reopen
from ..config import PttConfig
from ..errors import ConfigError, TelephraseError

log = logging.getLogger(__name__)

KINDS = ("serial", "input", "gpio", "stdin")
LINES = ("cts", "dsr", "cd", "ri")
"""Serial control lines a key can be read from (RTS and DTR are outputs)."""
POLL = 0.01
"""Seconds between reads of a serial control line (Linux has no way to wait for one that a
thread can interrupt)."""
WAIT = 0.1
"""Longest a reader thread blocks before it checks whether the source was closed."""
EVENT = struct.Struct("=qqHHi")
"""``struct input_event`` with 64-bit time (x86-64, arm64): seconds, microseconds, type, code,
value."""
EV_KEY = 1
KEY_UP, KEY_DOWN = 0, 1
"""``EV_KEY`` values; 2 is the keyboard's auto-repeat, which says nothing new."""


class PttError(TelephraseError):
    """A push-to-talk device is missing, unreadable or not what the settings say."""


class KeyState:
    """Debounce and the transmit limit over the raw level, at times the caller gives.

    Pure logic, so it can be driven by any clock: the sources give it ``time.monotonic()``.
    """

    def __init__(self, debounce: float, max_transmit: float, now: float, what: str = "PTT") -> None:
        self.debounce = debounce
        self.max_transmit = max_transmit
        self.what = what
        self.raw = False
        self.raw_at = now
        """When the raw level last changed."""
        self.pressed = False
        self.since = now
        """When ``pressed`` last changed (the moment the raw level had held long enough)."""
        self.stuck = False
        """Released by the transmit limit; stays released until the raw key is let go."""

    def feed(self, level: bool, now: float) -> bool:
        """The raw level read at ``now``; returns ``pressed``."""
        self.update(now)
        if level != self.raw:
            self.raw, self.raw_at = level, now
        return self.update(now)

    def update(self, now: float) -> bool:
        """Apply, in the order they fell due, what the passing of time decided by ``now``;
        returns ``pressed``."""
        while True:
            settle = self.raw_at + self.debounce
            limit = self.since + self.max_transmit if self.pressed else math.inf
            if now >= settle and settle <= limit and self._settling_changes():
                if not self.raw:
                    self.stuck = False
                if self.pressed != (self.raw and not self.stuck):
                    self.pressed, self.since = not self.pressed, settle
            elif now >= limit:
                self.pressed, self.stuck, self.since = False, True, limit
                log.warning("%s held down for %g s: released (max_transmit); let go of it to transmit again",
                            self.what, self.max_transmit)
            else:
                return self.pressed

    def _settling_changes(self) -> bool:
        """Whether the raw level, once settled, changes anything."""
        return (not self.raw and self.stuck) or self.pressed != (self.raw and not self.stuck)

    def next_change(self, now: float) -> float | None:
        """The next time ``update`` may change ``pressed`` without a new raw level."""
        times = []
        if now < self.raw_at + self.debounce and self._settling_changes():
            times.append(self.raw_at + self.debounce)
        if self.pressed:
            times.append(self.since + self.max_transmit)
        return min(times, default=None)


class PttSource:
    """A key, debounced and limited.  ``feed`` the raw level from any thread; ask ``pressed``
    or ``wait_change`` from one consumer (the station)."""

    def __init__(self, what: str, debounce: float, max_transmit: float) -> None:
        if debounce < 0:
            raise ConfigError(f"PTT debounce must be 0 or more seconds, not {debounce}")
        if max_transmit <= 0:
            raise ConfigError(f"PTT max_transmit must be a positive number of seconds, not {max_transmit}")
        self.what = what
        self._state = KeyState(debounce, max_transmit, time.monotonic(), what)
        self._cond = threading.Condition()
        self._seen = False
        self._closed = False

    def feed(self, level: bool) -> None:
        """The raw level (``True`` = pressed) as just read."""
        with self._cond:
            self._state.feed(level, time.monotonic())
            self._cond.notify_all()

    def pressed(self) -> bool:
        """Whether the key is down now (debounced, within the transmit limit)."""
        with self._cond:
            self._seen = not self._closed and self._state.update(time.monotonic())
            return self._seen

    def wait_change(self, timeout: float | None = None) -> bool | None:
        """Block until the key goes down (``True``) or up (``False``) from what ``pressed`` or
        the last ``wait_change`` said; ``None`` after ``timeout`` seconds without a change, or
        once the source is closed."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                state = self._state.update(now)
                if state != self._seen:
                    self._seen = state
                    return state
                if end is not None and now >= end:
                    return None
                wake = [t - now for t in (end, self._state.next_change(now)) if t is not None]
                self._cond.wait(max(min(wake), 0.001) if wake else None)
            return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class _DeviceKey(PttSource):
    """A key read by a thread from a device that can go away.  The device is opened before the
    constructor returns, so a wrong path is an error at start; later failures release the key
    and reopen the device with backoff."""

    def __init__(self, what: str, debounce: float, max_transmit: float, retry: Retry | None = None) -> None:
        super().__init__(what, debounce, max_transmit)
        self._stop = threading.Event()
        self._retry = retry or Retry(what)
        self._open()
        self._thread = threading.Thread(target=self._run, name=what, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._shut()
        super().close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._watch(WAIT)
            except OSError as exc:
                delay = self._retry.failed(f"stopped working ({_reason(exc)}); key released")
                self.feed(False)  # a key that cannot be read is a key let go
                self._shut()
                self._stop.wait(delay)
                reopen(self._open, self._retry, self._stop)

    def _open(self) -> None:
        """Open the device; raise ``PttError`` (or ``OSError``) saying what is wrong."""
        raise NotImplementedError

    def _watch(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the device and ``feed`` what it says; raise
        ``OSError`` when it fails."""
        raise NotImplementedError

    def _shut(self) -> None:
        """Close the device (it may be gone already)."""
        raise NotImplementedError


class PolledKey(_DeviceKey):
    """A key that can only be polled: ``level()`` every ``interval`` seconds.  ``level``
    raising ``OSError`` means the device failed."""

    def __init__(self, level: Callable[[], bool], what: str = "PTT", interval: float = POLL, debounce: float = 0.02,
                 max_transmit: float = 120.0, retry: Retry | None = None) -> None:
        self.level = level
        self.interval = interval
        super().__init__(what, debounce, max_transmit, retry)

    def _open(self) -> None:
        self.feed(self.level())

    def _watch(self, timeout: float) -> None:
        self._stop.wait(min(self.interval, timeout))
        self.feed(self.level())

    def _shut(self) -> None:
        pass


class SerialKey(PolledKey):
    """A control line of a serial port.  ``line`` is cts, dsr, cd or ri; a leading ``-`` (Dire
    Wolf's notation) or ``active_low`` means the key pulls the line low.  ``device`` may also be
    a pyserial URL: ``rfc2217://host:port`` reads the line of a port on a network serial server
    (ser2net, a terminal server) that reports its modem lines."""

    def __init__(self, device: str, line: str = "cts", active_low: bool = False, debounce: float = 0.02,
                 max_transmit: float = 120.0, retry: Retry | None = None) -> None:
        name = line.lower().lstrip("-")
        if name not in LINES:
            raise ConfigError(f"PTT serial line must be one of {', '.join(LINES)} (RTS and DTR are outputs), "
                              f"or one of them with '-' for inverted; not {line!r}")
        if not device:
            raise ConfigError("PTT source 'serial' needs [ptt] device, the serial port (e.g. /dev/ttyUSB0)")
        self.device = device
        self.line = name
        self.invert = active_low or line.startswith("-")
        self._port: serial.Serial | None = None
        super().__init__(self._read_line, f"PTT {name.upper()} of {device}", POLL, debounce, max_transmit, retry)

    def _read_line(self) -> bool:
        if self._port is None:
            raise OSError(errno.ENODEV, "not open")
        return bool(getattr(self._port, self.line)) != self.invert

    def _open(self) -> None:
        try:
            # pyserial raises DTR and RTS: a switch's supply
            self._port = serial.serial_for_url(self.device, timeout=0)
        except OSError as exc:
            raise _open_error(f"PTT serial device {self.device}", exc, "'ls -l /dev/serial/by-id/' lists the ports",
                              "dialout") from None
        try:
            super()._open()
        except OSError as exc:
            self._shut()
            raise PttError(f"PTT serial device {self.device} has no control lines to read ({_reason(exc)}); "
                           "a pseudo-terminal has none, use a real serial port") from None

    def _shut(self) -> None:
        if self._port is not None:
            port, self._port = self._port, None
            port.close()


class InputKey(_DeviceKey):
    """A key of a Linux input device (``/dev/input/eventN``): ``struct input_event`` records,
    ``EV_KEY`` with code ``key``, read as the kernel writes them."""

    def __init__(self, device: str, key: int, active_low: bool = False, debounce: float = 0.02,
                 max_transmit: float = 120.0, retry: Retry | None = None) -> None:
        if not device:
            raise ConfigError("PTT source 'input' needs [ptt] device, e.g. /dev/input/by-id/usb-...-event-kbd")
        if key <= 0:
            raise ConfigError("PTT source 'input' needs [ptt] key, the key code ('evtest DEVICE' shows them)")
        self.device = device
        self.key = key
        self.invert = active_low
        self._fd: int | None = None
        self._pending = b""
        super().__init__(f"PTT key {key} of {device}", debounce, max_transmit, retry)

    def _open(self) -> None:
        try:
            self._fd = os.open(self.device, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise _open_error(f"PTT input device {self.device}", exc,
                              "'ls -l /dev/input/by-id/' lists keyboards and pedals", "input") from None
        self._pending = b""

    def _watch(self, timeout: float) -> None:
        if self._fd is None:
            raise OSError(errno.ENODEV, "not open")
        if not select.select([self._fd], [], [], timeout)[0]:
            return
        try:
            data = os.read(self._fd, EVENT.size * 64)
        except BlockingIOError:
            return
        if not data:
            raise OSError(errno.ENODEV, "the device went away")
        data = self._pending + data
        whole = len(data) - len(data) % EVENT.size
        self._pending = data[whole:]
        for _, _, kind, code, value in EVENT.iter_unpack(data[:whole]):
            if kind == EV_KEY and code == self.key and value in (KEY_UP, KEY_DOWN):
                self.feed((value == KEY_DOWN) != self.invert)

    def _shut(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class GpioKey(_DeviceKey):
    """A GPIO line through the GPIO character device (libgpiod 2's ``gpiod`` package): edge
    events, debounced by the kernel, so no edge is missed between reads."""

    def __init__(self, chip: str, line: str, active_low: bool = False, debounce: float = 0.02,
                 max_transmit: float = 120.0, retry: Retry | None = None) -> None:
        if not line or line.lower().lstrip("-") in LINES:
            raise ConfigError("PTT source 'gpio' needs [ptt] line, the line's offset on the chip or its name "
                              "('gpioinfo' lists them)")
        self.chip = chip if chip.startswith("/") else f"/dev/{chip or 'gpiochip0'}"
        self.line: int | str = int(line) if line.isdigit() else line
        self.active_low = active_low
        self.kernel_debounce = debounce
        self._request = None
        super().__init__(f"PTT GPIO line {line} of {self.chip}", 0.0, max_transmit, retry)

    def _open(self) -> None:
        try:
            import gpiod
            from gpiod.line import Direction, Edge
        except ImportError:
            raise PttError("PTT on a GPIO line needs the gpiod package (libgpiod 2 bindings, Linux 5.10 or later): "
                           "pip install gpiod") from None
        settings = gpiod.LineSettings(direction=Direction.INPUT, edge_detection=Edge.BOTH, active_low=self.active_low,
                                      debounce_period=timedelta(seconds=self.kernel_debounce))
        try:
            self._request = gpiod.request_lines(self.chip, consumer="telephrase-ptt", config={self.line: settings})
        except OSError as exc:
            raise _open_error(f"PTT GPIO chip {self.chip}", exc, "'gpiodetect' lists the chips", "gpio") from None
        except ValueError as exc:
            raise PttError(f"PTT GPIO line {self.line!r} of {self.chip}: {exc} ('gpioinfo' lists the lines)") from None
        self._feed_value()

    def _feed_value(self) -> None:
        from gpiod.line import Value

        self.feed(self._request.get_value(self.line) == Value.ACTIVE)

    def _watch(self, timeout: float) -> None:
        if self._request is None:
            raise OSError(errno.ENODEV, "not open")
        if self._request.wait_edge_events(timeout):
            self._request.read_edge_events()
            self._feed_value()  # the level now, whatever the edges in between said

    def _shut(self) -> None:
        if self._request is not None:
            request, self._request = self._request, None
            request.release()


class StdinKey(PttSource):
    """Standard input, for the bench: an empty line (Enter) toggles the key, ``down`` and
    ``up`` set it.  End of input lets it go for good."""

    DOWN = ("down", "d", "on", "1")
    UP = ("up", "u", "off", "0")

    def __init__(self, stream: TextIO | None = None, debounce: float = 0.02, max_transmit: float = 120.0) -> None:
        super().__init__("PTT on stdin", debounce, max_transmit)
        self._fd = (stream or sys.stdin).fileno()
        self._down = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="PTT stdin", daemon=True)
        self._thread.start()
        log.info("PTT on stdin: Enter keys and unkeys the transmitter ('down' / 'up' also work)")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        super().close()

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            if not select.select([self._fd], [], [], WAIT)[0]:
                continue
            data = os.read(self._fd, 4096)
            if not data:
                self.feed(False)
                log.info("PTT on stdin: end of input, the key stays up")
                return
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                self._command(line.decode(errors="replace").strip().lower())

    def _command(self, word: str) -> None:
        if word == "":
            self._down = not self._down
        elif word in self.DOWN or word in self.UP:
            self._down = word in self.DOWN
        else:
            log.warning("PTT on stdin: %r is not a command; Enter toggles, 'down' and 'up' set the key", word)
            return
        self.feed(self._down)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _open_error(what: str, exc: OSError, listing: str, group: str) -> PttError:
    """A one-line error for a device that would not open, with the likely fix."""
    if exc.errno == errno.ENOENT:
        return PttError(f"{what} does not exist (is it plugged in?); {listing}")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PttError(f"{what}: permission denied; add the user to group '{group}'")
    return PttError(f"{what}: {_reason(exc)}")


def make_ptt(kind: str, *, device: str = "", line: str = "cts", key: int = 0, active_low: bool = False,
             debounce: float = 0.02, max_transmit: float = 120.0, stream: TextIO | None = None) -> PttSource:
    """The push-to-talk source ``kind`` (one of ``KINDS``), open and running.

    ``device`` is the serial port, input device or GPIO chip; ``line`` the serial control line
    or the GPIO line (offset or name); ``key`` the input device's key code; ``stream`` the
    input for ``stdin`` (default ``sys.stdin``).  Settings a kind does not use are ignored.
    """
    if kind == "serial":
        return SerialKey(device, line, active_low, debounce, max_transmit)
    if kind == "input":
        return InputKey(device, key, active_low, debounce, max_transmit)
    if kind == "gpio":
        return GpioKey(device, line, active_low, debounce, max_transmit)
    if kind == "stdin":
        return StdinKey(stream, debounce, max_transmit)
    raise ConfigError(f"unknown PTT source {kind!r}; the hardware ones are {', '.join(KINDS)}")


def from_config(config: PttConfig) -> PttSource:
    """``make_ptt`` with the ``[ptt]`` settings."""
    return make_ptt(config.source, device=config.device, line=config.line, key=config.key,
                    active_low=config.active_low, debounce=config.debounce, max_transmit=config.max_transmit)
