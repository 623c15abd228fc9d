"""A ``Link`` over a serial port: a KISS TNC (or Dire Wolf's pty) or a transparent modem.

Radio stations run unattended, and their serial devices come and go: a USB TNC is unplugged
or resets, Dire Wolf restarts and makes a new pty, the daemon starts before the modem is
powered.  None of that is fatal here.  The link logs one warning, counts the outage in
``stats.errors``, and reopens the same path every ``reconnect_interval`` seconds until it
works; give it a stable name (a ``/dev/serial/by-id`` path, a udev or Dire Wolf symlink) and
it finds the device again.  Frames sent meanwhile wait in a bounded queue and go out, in
order, once the device is back; a frame that does not fit is logged, never dropped silently.

``mode="kiss"`` wraps frames for a TNC (``kiss``); ``mode="raw"`` adds a sync word and length
for modems that pass bytes through (``rawstream``).  ``bytes_sent`` and ``bytes_received``
count what goes on air: the frame in KISS mode, where the TNC strips the KISS framing, and
the frame with its 7-byte header in raw mode.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import deque

import serial

from ..errors import ConfigError
from .base import Link
from .kiss import KissDecoder, kiss_encode
from .rawstream import HEADER, RawStreamDecoder, raw_encode

log = logging.getLogger(__name__)

BACKLOG = 256
"""Frames kept while the device is away: about 65 kB, minutes of air time on a slow link."""
MODES = ("kiss", "raw")


def _reason(exc: OSError) -> str:
    """The short cause of an I/O error (pyserial repeats the path in its own message)."""
    return os.strerror(exc.errno) if isinstance(exc.errno, int) else str(exc)


class SerialLink(Link):
    """Frames over the serial device at ``device``, reopened whenever it disappears.

    In KISS mode frames go to TNC port ``kiss_port`` and only frames heard on that port are
    received: a multi-port TNC's other channels belong to other links.

    A reader thread owns the port: it reads, decodes, and reopens the device after a failure.
    ``send`` writes from the caller's thread under a lock, so it returns once the bytes are in
    the driver's buffer, or at once, queued, while the device is away.
    """

    def __init__(
        self,
        device: str,
        baudrate: int = 9600,
        mode: str = "kiss",
        kiss_port: int = 0,
        reconnect_interval: float = 1.0,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"serial link mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not 0 <= kiss_port <= 15:
            raise ConfigError(f"KISS port must be 0..15, not {kiss_port}")
        if baudrate <= 0:
            raise ConfigError(f"serial baud rate must be positive, not {baudrate}")
        if reconnect_interval <= 0:
            raise ConfigError(f"serial reconnect interval must be positive, not {reconnect_interval}")
        self.device = device
        self.baudrate = baudrate
        self.mode = mode
        self.kiss_port = kiss_port
        self.reconnect_interval = reconnect_interval
        self._overhead = HEADER if mode == "raw" else 0
        self._decoder = RawStreamDecoder() if mode == "raw" else KissDecoder()
        self._received: queue.Queue[bytes] = queue.Queue()
        self._backlog: deque[tuple[bytes, int]] = deque()
        """Encoded frames, with their size on air, waiting for the device to come back."""
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._port: serial.Serial | None = None
        try:
            self._connect()
        except OSError as exc:
            self.stats.errors += 1
            log.warning(
                "%s %s is missing (%s); retrying every %g s until it appears",
                self.kind, device, _reason(exc), reconnect_interval,
            )
        self._reader = threading.Thread(target=self._run, name=f"serial-link {device}", daemon=True)
        self._reader.start()

    kind = "serial device"
    """What ``device`` names, for log lines."""

    def _open(self) -> serial.Serial:
        """Open the device; raises ``OSError`` (``SerialException`` is one) if it cannot."""
        return serial.Serial(self.device, self.baudrate, timeout=0.1)

    @property
    def connected(self) -> bool:
        """Whether the device is open now."""
        return self._port is not None

    def send(self, frame: bytes) -> None:
        data = self._encode(bytes(frame))
        with self._lock:
            self._write(data, len(frame) + self._overhead)

    def receive(self, timeout: float | None = 0.0) -> bytes | None:
        try:
            return self._received.get(block=timeout != 0.0, timeout=timeout or None)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._closed.set()
        self._reader.join()
        with self._lock:
            if self._port is not None:
                self._port.close()
                self._port = None
            if self._backlog:
                log.warning("serial link %s closed with %d frames never sent", self.device, len(self._backlog))
                self._backlog.clear()

    def _encode(self, frame: bytes) -> bytes:
        return raw_encode(frame) if self.mode == "raw" else kiss_encode(frame, self.kiss_port)

    def _write(self, data: bytes, air_bytes: int) -> None:
        """Write an encoded frame now, or queue it if the device is away.  Caller holds the lock."""
        port = self._port
        if port is not None:
            try:
                port.write(data)
            except (serial.SerialException, OSError) as exc:
                self._lost(port, exc)
            else:
                self.stats.frames_sent += 1
                self.stats.bytes_sent += air_bytes
                return
        if len(self._backlog) >= BACKLOG:
            self.stats.errors += 1
            log.warning(
                "%s %s is still away and %d frames are queued; dropping a frame of %d bytes",
                self.kind, self.device, BACKLOG, air_bytes - self._overhead,
            )
            return
        self._backlog.append((data, air_bytes))

    def _lost(self, port: serial.Serial, exc: OSError) -> None:
        """Mark ``port`` dead; the reader thread closes it and reopens.  Caller holds the lock."""
        if self._port is not port:
            return
        self.stats.errors += 1
        log.warning(
            "%s %s went away (%s); retrying every %g s",
            self.kind, self.device, _reason(exc), self.reconnect_interval,
        )
        self._port = None

    def _connect(self) -> bool:
        """Open the device and send what queued up while it was away; ``False`` if it went
        away again meanwhile.  Raises the open error if it cannot be opened."""
        port = self._open()
        self._decoder.reset()
        with self._lock:
            self._port = port
            pending = list(self._backlog)
            self._backlog.clear()
            for data, air_bytes in pending:
                self._write(data, air_bytes)
            if self._port is not port:
                port.close()
                return False
        log.info("%s %s is open", self.kind, self.device)
        if pending:
            log.info("%s %s: sent %d frames queued while it was away", self.kind, self.device, len(pending))
        return True

    def _run(self) -> None:
        while not self._closed.is_set():
            port = self._port
            if port is None:
                try:
                    opened = self._connect()
                except (serial.SerialException, OSError):
                    opened = False
                if not opened:
                    self._closed.wait(self.reconnect_interval)
                continue
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                with self._lock:
                    self._lost(port, exc)
                data = b""
            if data:
                self._deliver(data)
            if self._port is not port:
                with self._lock:
                    port.close()

    def _deliver(self, data: bytes) -> None:
        errors = self._decoder.errors
        if isinstance(self._decoder, KissDecoder):
            frames = [frame for port, frame in self._decoder.feed(data) if port == self.kiss_port]
        else:
            frames = self._decoder.feed(data)
        with self._lock:
            self.stats.errors += self._decoder.errors - errors
            self.stats.frames_received += len(frames)
            self.stats.bytes_received += sum(len(frame) + self._overhead for frame in frames)
        for frame in frames:
            self._received.put(frame)
