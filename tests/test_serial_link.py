"""``SerialLink`` through real pyserial on real pseudo-terminals joined like a null-modem cable."""

from __future__ import annotations

import fcntl
import logging
import os
import select
import struct
import termios
import threading
import time
import tty
from pathlib import Path
from typing import Callable

import pytest

from telephrase.link.kiss import kiss_encode
from telephrase.link.rawstream import raw_encode
from telephrase.link.serial_link import SerialLink

RETRY = 0.05
"""Reconnect interval for the links under test, so an outage costs milliseconds."""
WAIT = 5.0
"""Longest any single expected event may take before the test fails."""


class NullModem:
    """Two ptys whose masters a thread joins, so what one slave writes the other slave reads.

    Each slave is reached through a symlink (``paths["a"]``, ``paths["b"]``), as a TNC is
    through ``/dev/serial/by-id``.  ``unplug`` closes one pty and removes its symlink the way
    udev does when a USB TNC is pulled out; ``plug`` makes a fresh pty and points the symlink
    at it.  The bridge copies only while both ends are plugged in.
    """

    def __init__(self, directory: Path) -> None:
        self.paths = {side: directory / f"tnc-{side}" for side in "ab"}
        self._ends: dict[str, tuple[int, int] | None] = {"a": None, "b": None}
        self._generation = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        for side in "ab":
            self.plug(side)
        self._bridge = threading.Thread(target=self._run, name="null-modem", daemon=True)
        self._bridge.start()

    def plug(self, side: str) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF or XON/XOFF handling before pyserial opens it
        link = self.paths[side].with_suffix(".new")
        link.symlink_to(os.ttyname(slave))
        link.replace(self.paths[side])
        self._change(side, (master, slave))

    def unplug(self, side: str) -> None:
        self.paths[side].unlink()
        ends = self._change(side, None)
        assert ends is not None, f"side {side} is already unplugged"
        for fd in ends:
            os.close(fd)

    def inject(self, side: str, data: bytes) -> None:
        """Deliver ``data`` to side ``side`` as if the other side had sent it."""
        with self._lock:
            ends = self._ends[side]
            assert ends is not None
            os.write(ends[0], data)

    def wait_read(self, side: str) -> None:
        """Wait until the program on side ``side`` has read everything delivered to it."""
        with self._lock:
            ends = self._ends[side]
            assert ends is not None
        wait_until(lambda: struct.unpack("i", fcntl.ioctl(ends[1], termios.FIONREAD, b"\0\0\0\0"))[0] == 0)

    def close(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._bridge.join()
        for ends in self._ends.values():
            for fd in ends or ():
                os.close(fd)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _change(self, side: str, ends: tuple[int, int] | None) -> tuple[int, int] | None:
        with self._lock:
            old, self._ends[side] = self._ends[side], ends
            self._generation += 1
        os.write(self._wake_w, b"x")
        return old

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                generation = self._generation
                a, b = self._ends["a"], self._ends["b"]
                peers = {a[0]: b[0], b[0]: a[0]} if a and b else {}
            try:
                ready, _, _ = select.select([*peers, self._wake_r], [], [], 1.0)
            except OSError:  # an fd closed between the snapshot and select; the wake byte follows
                continue
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            with self._lock:
                if self._generation != generation:
                    continue
                for fd in ready:
                    if fd in peers:
                        data = os.read(fd, 4096)
                        while data:
                            data = data[os.write(peers[fd], data) :]


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def receive_all(link: SerialLink, count: int) -> list[bytes]:
    frames = []
    deadline = time.monotonic() + WAIT
    while len(frames) < count:
        frame = link.receive(timeout=max(0.0, deadline - time.monotonic()) or 0.001)
        assert frame is not None, f"only {len(frames)} of {count} frames arrived"
        frames.append(frame)
    return frames


@pytest.fixture
def modem(tmp_path: Path):
    m = NullModem(tmp_path)
    yield m
    m.close()


@pytest.fixture
def open_link():
    links: list[SerialLink] = []

    def open_(path: Path, mode: str) -> SerialLink:
        link = SerialLink(str(path), baudrate=115200, mode=mode, reconnect_interval=RETRY)
        links.append(link)
        return link

    yield open_
    for link in links:
        link.close()


MODES = ["kiss", "raw"]
ENCODE = {"kiss": kiss_encode, "raw": raw_encode}
AWKWARD = [
    bytes(range(256)),
    bytes(range(255, -1, -1)),
    b"\xc0\xdb" * 100,
    b"\xc0" * 10,
    b"\xdb\xdc\xdd",
    bytes.fromhex("1acffc1d 0002 5b") * 5,
    b"\r\n\x03\x04\x11\x13\x1a\x7f\x00",
]


@pytest.mark.parametrize("mode", MODES)
def test_frames_with_every_byte_value_cross_both_ways(modem, open_link, mode):
    a, b = open_link(modem.paths["a"], mode), open_link(modem.paths["b"], mode)
    for sender, receiver in ((a, b), (b, a)):
        for frame in AWKWARD:
            sender.send(frame)
        assert receive_all(receiver, len(AWKWARD)) == AWKWARD
    assert a.stats.frames_sent == a.stats.frames_received == len(AWKWARD)
    overhead = 7 if mode == "raw" else 0
    assert b.stats.bytes_received == sum(len(f) + overhead for f in AWKWARD) == a.stats.bytes_sent
    assert a.stats.errors == b.stats.errors == 0


@pytest.mark.parametrize("mode", MODES)
def test_many_frames_in_a_row_arrive_in_order(modem, open_link, mode):
    a, b = open_link(modem.paths["a"], mode), open_link(modem.paths["b"], mode)
    frames = [i.to_bytes(2, "big") + bytes([i % 256]) * (i % 200) for i in range(500)]
    for frame in frames:
        a.send(frame)
    assert receive_all(b, len(frames)) == frames
    assert b.receive(timeout=0.05) is None


@pytest.mark.parametrize("mode", MODES)
def test_a_device_that_disappears_mid_frame_is_reopened(modem, open_link, mode, caplog):
    a, b = open_link(modem.paths["a"], mode), open_link(modem.paths["b"], mode)
    a.send(b"before")
    assert b.receive(timeout=WAIT) == b"before"

    modem.inject("b", ENCODE[mode](b"half of this frame never arrives")[:15])
    modem.wait_read("b")
    with caplog.at_level(logging.WARNING, logger="telephrase.link.serial_link"):
        modem.unplug("b")
        wait_until(lambda: not b.connected)
    assert b.stats.errors == 1
    assert f"serial device {modem.paths['b']} went away" in caplog.text

    modem.plug("b")
    wait_until(lambda: b.connected)
    a.send(b"after")
    assert b.receive(timeout=WAIT) == b"after"
    b.send(b"and back")
    assert a.receive(timeout=WAIT) == b"and back"
    assert b.receive(timeout=0.05) is None
    assert b.stats.errors == 1


@pytest.mark.parametrize("mode", MODES)
def test_frames_sent_while_the_device_is_away_go_out_when_it_returns(modem, open_link, mode):
    a, b = open_link(modem.paths["a"], mode), open_link(modem.paths["b"], mode)
    modem.unplug("a")
    wait_until(lambda: not a.connected)
    queued = [b"queued %d" % i for i in range(20)]
    for frame in queued:
        a.send(frame)
    assert a.stats.frames_sent == 0

    modem.plug("a")
    wait_until(lambda: a.connected)
    a.send(b"after")
    assert receive_all(b, len(queued) + 1) == queued + [b"after"]
    assert a.stats.frames_sent == len(queued) + 1
    assert a.stats.errors == 1


def test_a_device_missing_at_start_is_waited_for(modem, open_link, caplog):
    modem.unplug("a")
    with caplog.at_level(logging.WARNING, logger="telephrase.link.serial_link"):
        a = open_link(modem.paths["a"], "kiss")
    assert not a.connected
    (message,) = caplog.messages
    assert f"serial device {modem.paths['a']} is missing" in message
    assert "retrying every 0.05 s" in message

    b = open_link(modem.paths["b"], "kiss")
    modem.plug("a")
    wait_until(lambda: a.connected)
    b.send(b"hello")
    assert a.receive(timeout=WAIT) == b"hello"
    a.send(b"hello back")
    assert b.receive(timeout=WAIT) == b"hello back"


def test_close_stops_the_reader_promptly(modem):
    link = SerialLink(str(modem.paths["a"]), reconnect_interval=RETRY)
    start = time.monotonic()
    link.close()
    assert time.monotonic() - start < 0.5
    assert not link.connected
