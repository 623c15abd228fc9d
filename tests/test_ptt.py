"""Push-to-talk sources, with real parts where Linux offers them here.

- The debounce and the transmit limit (``KeyState``) run on times the tests give, so every
  edge case is exact; the same logic then runs on the real clock through the sources.
- Input devices: real ``struct input_event`` records, written into a FIFO the way the kernel
  writes them into ``/dev/input/eventN``.
- Serial ports: a pseudo-terminal has no modem control lines (TIOCMGET fails with ENOTTY on
  either side), so it can only show that such a port is refused with a clear error.  The
  polling, debounce and failure handling under ``SerialKey`` are ``PolledKey``'s, tested with
  a level the test sets.
- GPIO: needs the ``gpiod`` package; lines are read from the kernel's gpio-sim where the test
  can create one (root, configfs), and only the errors are checked elsewhere.
- Standard input: a real pipe.
"""

from __future__ import annotations

import errno
import logging
import os
import pty
import select
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from serial.rfc2217 import PortManager
from serial.urlhandler.protocol_loop import Serial as LoopSerial

from telephrase.audio.devices import Retry
from telephrase.config import PttConfig
from telephrase.errors import ConfigError
from telephrase.station import ptt
from telephrase.station.ptt import InputKey, KeyState, PolledKey, PttError, StdinKey, make_ptt

# struct input_event on 64-bit Linux: struct timeval (two longs), __u16 type, __u16 code, __s32 value.
INPUT_EVENT = "qqHHi"
EV_SYN, EV_KEY = 0, 1
KEY_F1, KEY_SPACE = 59, 57


def fast_retry(what: str = "PTT") -> Retry:
    return Retry(what, first=0.02, longest=0.05)


# ---------------------------------------------------------------------------------------------
# KeyState: exact times


def test_a_bounce_shorter_than_the_debounce_never_keys() -> None:
    key = KeyState(debounce=0.05, max_transmit=60, now=0.0)
    answers = [key.feed(True, 1.00), key.feed(False, 1.03), key.feed(True, 1.04), key.feed(False, 1.06)]
    answers += [key.update(t) for t in (1.05, 1.08, 1.2, 5.0)]
    assert not any(answers)


def test_a_level_counts_once_it_held_for_the_debounce() -> None:
    key = KeyState(debounce=0.05, max_transmit=60, now=0.0)
    key.feed(True, 1.0)
    assert key.next_change(1.0) == pytest.approx(1.05)
    assert key.update(1.049) is False
    assert key.update(1.05) is True and key.since == pytest.approx(1.05)
    key.feed(False, 2.0)
    key.feed(True, 2.02)  # released for 20 ms only: still down
    assert key.update(3.0) is True and key.since == pytest.approx(1.05)
    key.feed(False, 3.0)
    assert key.update(3.049) is True
    assert key.update(3.05) is False and key.since == pytest.approx(3.05)


def test_zero_debounce_follows_the_level_at_once() -> None:
    key = KeyState(debounce=0.0, max_transmit=60, now=0.0)
    assert key.feed(True, 1.0) is True
    assert key.feed(False, 1.0001) is False


def test_the_transmit_limit_releases_a_stuck_key_until_it_is_let_go(caplog: pytest.LogCaptureFixture) -> None:
    key = KeyState(debounce=0.01, max_transmit=5.0, now=0.0, what="PTT pedal")
    key.feed(True, 0.0)
    assert key.update(0.01) is True
    assert key.next_change(1.0) == pytest.approx(5.01)
    assert key.update(5.009) is True
    assert key.update(5.011) is False
    assert "PTT pedal held down for 5 s: released (max_transmit)" in caplog.text
    assert key.update(100.0) is False  # still held: still released, and logged once
    assert len(caplog.records) == 1
    key.feed(False, 100.0)
    key.feed(True, 100.005)  # a bounce while stuck does not count as letting go
    assert key.update(101.0) is False
    key.feed(False, 102.0)
    assert key.update(102.01) is False
    key.feed(True, 103.0)
    assert key.update(103.01) is True  # a fresh press transmits again, with a fresh limit
    assert key.update(108.0) is True
    assert key.update(108.02) is False


def test_the_limit_and_a_release_are_applied_in_the_order_they_fell_due(caplog: pytest.LogCaptureFixture) -> None:
    # Let go 5 ms before the limit, but the release settles 5 ms after it: the limit came first.
    key = KeyState(debounce=0.01, max_transmit=5.0, now=0.0)
    key.feed(True, 0.0)
    key.feed(False, 5.005)
    assert key.update(6.0) is False and key.since == pytest.approx(5.01)
    assert "released (max_transmit)" in caplog.text
    # Released for good before the limit: no forced release to report.
    caplog.clear()
    key = KeyState(debounce=0.01, max_transmit=5.0, now=0.0)
    key.feed(True, 0.0)
    key.feed(False, 4.99)
    assert key.update(6.0) is False and key.since == pytest.approx(5.0)
    assert caplog.text == ""


# ---------------------------------------------------------------------------------------------
# The same logic on the real clock, through a polled key


class Level:
    """A line the test sets; ``read`` is what a poll of the hardware would return."""

    def __init__(self) -> None:
        self.value = False
        self.error: OSError | None = None

    def read(self) -> bool:
        if self.error is not None:
            raise self.error
        return self.value


def test_polled_key_debounces_on_the_real_clock() -> None:
    line = Level()
    key = PolledKey(line.read, interval=0.002, debounce=0.15, max_transmit=60)
    try:
        line.value = True
        time.sleep(0.03)
        line.value = False
        assert key.wait_change(0.4) is None  # a 30 ms glitch never keys
        line.value = True
        pressed_at = time.monotonic()
        assert key.wait_change(2.0) is True
        assert time.monotonic() - pressed_at >= 0.15
        assert key.pressed() is True
        line.value = False
        assert key.wait_change(2.0) is False
        assert key.pressed() is False
    finally:
        key.close()


def test_polled_key_is_released_after_max_transmit() -> None:
    line = Level()
    key = PolledKey(line.read, interval=0.002, debounce=0.01, max_transmit=0.3)
    try:
        line.value = True
        assert key.wait_change(2.0) is True
        down_at = time.monotonic()
        assert key.wait_change(2.0) is False
        assert 0.28 <= time.monotonic() - down_at < 1.0
        assert key.wait_change(0.2) is None and not key.pressed()  # still held, still released
        line.value = False
        time.sleep(0.05)
        line.value = True
        assert key.wait_change(2.0) is True
    finally:
        key.close()


def test_a_key_that_fails_reads_released_and_is_reopened(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="telephrase.audio.devices")
    line = Level()
    key = PolledKey(line.read, what="PTT test line", interval=0.002, debounce=0.01, max_transmit=60,
                    retry=fast_retry("PTT test line"))
    try:
        line.value = True
        assert key.wait_change(2.0) is True
        line.error = OSError(errno.EIO, "Input/output error")
        assert key.wait_change(2.0) is False  # fail safe: nobody transmits on a key nobody can read
        time.sleep(0.2)  # several retries
        line.error = None
        assert key.wait_change(2.0) is True
    finally:
        key.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "telephrase.audio.devices"]
    assert messages[0] == "PTT test line: stopped working (Input/output error); key released; retrying until it works"
    assert messages[-1].startswith("PTT test line works again")
    # The failure, the reopening failing (a new state), the recovery: not one line per retry.
    assert messages[1:-1] in ([], ["PTT test line: now Input/output error; still retrying"])


def test_close_releases_and_wakes_a_waiter() -> None:
    line = Level()
    key = PolledKey(line.read, interval=0.002, debounce=0.0, max_transmit=60)
    line.value = True
    assert key.wait_change(2.0) is True
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(key.wait_change(10.0)))
    waiter.start()
    time.sleep(0.05)
    key.close()
    waiter.join(timeout=2)
    assert answers == [None] and key.pressed() is False


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="debounce must be 0 or more"):
        PolledKey(lambda: False, debounce=-1)
    with pytest.raises(ConfigError, match="max_transmit must be a positive"):
        PolledKey(lambda: False, max_transmit=0)
    with pytest.raises(ConfigError, match="unknown PTT source 'vox'; the hardware ones are serial, input, gpio, stdin"):
        make_ptt("vox")
    with pytest.raises(ConfigError, match="unknown PTT source 'none'"):
        ptt.from_config(PttConfig())


# ---------------------------------------------------------------------------------------------
# Input devices: input_event records through a FIFO


@pytest.fixture
def event_device(tmp_path: Path):
    """A FIFO standing in for /dev/input/eventN, and the test's end of it (opened read-write,
    so the reader never sees end of file while the test holds it)."""
    path = tmp_path / "event7"
    os.mkfifo(path)
    fd = os.open(path, os.O_RDWR)
    yield path, fd
    try:
        os.close(fd)
    except OSError:
        pass


def event(kind: int, code: int, value: int, at: float = 0.0) -> bytes:
    return struct.pack(INPUT_EVENT, int(at), int(at % 1 * 1e6), kind, code, value)


def key_event(code: int, value: int) -> bytes:
    return event(EV_KEY, code, value, time.time()) + event(EV_SYN, 0, 0, time.time())


def test_input_event_layout_is_the_64_bit_one() -> None:
    assert struct.calcsize(INPUT_EVENT) == 24 == ptt.EVENT.size


def test_input_key_follows_its_key_and_nothing_else(event_device) -> None:
    path, fd = event_device
    key = make_ptt("input", device=str(path), key=KEY_F1, debounce=0.01, max_transmit=60)
    try:
        os.write(fd, key_event(KEY_SPACE, 1))  # another key
        assert key.wait_change(0.2) is None
        os.write(fd, key_event(KEY_F1, 1))
        assert key.wait_change(2.0) is True
        os.write(fd, key_event(KEY_F1, 2) * 20)  # auto-repeat while held
        os.write(fd, key_event(KEY_SPACE, 0))
        assert key.wait_change(0.2) is None and key.pressed()
        record = key_event(KEY_F1, 0)
        os.write(fd, record[:10])  # a record split across two reads
        time.sleep(0.05)
        os.write(fd, record[10:])
        assert key.wait_change(2.0) is False
    finally:
        key.close()


def test_input_key_debounces(event_device) -> None:
    path, fd = event_device
    key = make_ptt("input", device=str(path), key=KEY_F1, debounce=0.15, max_transmit=60)
    try:
        os.write(fd, key_event(KEY_F1, 1) + key_event(KEY_F1, 0))
        time.sleep(0.02)
        os.write(fd, key_event(KEY_F1, 1))
        time.sleep(0.02)
        os.write(fd, key_event(KEY_F1, 0))
        assert key.wait_change(0.4) is None
        os.write(fd, key_event(KEY_F1, 1))
        assert key.wait_change(2.0) is True
    finally:
        key.close()


def test_input_key_active_low(event_device) -> None:
    path, fd = event_device
    key = make_ptt("input", device=str(path), key=KEY_F1, active_low=True, debounce=0.0, max_transmit=60)
    try:
        os.write(fd, key_event(KEY_F1, 0))
        assert key.wait_change(2.0) is True
        os.write(fd, key_event(KEY_F1, 1))
        assert key.wait_change(2.0) is False
    finally:
        key.close()


def test_input_device_that_goes_away_releases_the_key_and_comes_back(tmp_path: Path, caplog) -> None:
    path = tmp_path / "event7"
    os.mkfifo(path)
    pedal = os.open(path, os.O_RDWR)
    key = InputKey(str(path), KEY_F1, debounce=0.0, max_transmit=60, retry=fast_retry())
    try:
        os.write(pedal, key_event(KEY_F1, 1))
        assert key.wait_change(2.0) is True
        os.close(pedal)  # unplugged: the reader sees end of file
        pedal = -1
        assert key.wait_change(2.0) is False
        assert "stopped working (the device went away); key released" in caplog.text
        pedal = os.open(path, os.O_RDWR)  # plugged in again
        deadline = time.monotonic() + 3
        while not key.pressed() and time.monotonic() < deadline:
            os.write(pedal, key_event(KEY_F1, 1))
            key.wait_change(0.1)
        assert key.pressed()
    finally:
        key.close()
        if pedal >= 0:
            os.close(pedal)


def test_input_device_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PttError, match=r"PTT input device /nonexistent/event9 does not exist .*/dev/input/by-id/"):
        make_ptt("input", device="/nonexistent/event9", key=KEY_F1)
    with pytest.raises(ConfigError, match=r"needs \[ptt\] key"):
        make_ptt("input", device=str(tmp_path))
    with pytest.raises(ConfigError, match=r"needs \[ptt\] device"):
        make_ptt("input", key=KEY_F1)
    locked = tmp_path / "event3"
    locked.write_bytes(b"")
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        return  # root reads anything: no permission error to show
    with pytest.raises(PttError, match="permission denied; add the user to group 'input'"):
        make_ptt("input", device=str(locked), key=KEY_F1)


def test_from_config_uses_the_ptt_settings(event_device) -> None:
    path, fd = event_device
    key = ptt.from_config(PttConfig(source="input", device=str(path), key=KEY_SPACE, debounce=0.0, max_transmit=0.2))
    try:
        os.write(fd, key_event(KEY_SPACE, 1))
        assert key.wait_change(2.0) is True
        assert key.wait_change(2.0) is False  # max_transmit of 0.2 s
    finally:
        key.close()


# ---------------------------------------------------------------------------------------------
# Serial ports


def test_serial_port_without_control_lines_is_refused() -> None:
    master, slave = pty.openpty()
    try:
        with pytest.raises(PttError, match=r"has no control lines to read .*pseudo-terminal"):
            make_ptt("serial", device=os.ttyname(slave), line="cts")
    finally:
        os.close(master)
        os.close(slave)


def test_serial_settings_and_missing_port() -> None:
    with pytest.raises(PttError, match=r"PTT serial device /dev/ttyNOPE9 does not exist .*/dev/serial/by-id/"):
        make_ptt("serial", device="/dev/ttyNOPE9", line="-dsr")
    with pytest.raises(ConfigError, match="must be one of cts, dsr, cd, ri .*not 'rts'"):
        make_ptt("serial", device="/dev/ttyUSB0", line="rts")
    with pytest.raises(ConfigError, match=r"needs \[ptt\] device"):
        make_ptt("serial")


# ---------------------------------------------------------------------------------------------
# GPIO


def _gpiod_installed() -> bool:
    try:
        import gpiod  # noqa: F401
    except ImportError:
        return False
    return True


def test_gpio_needs_a_line() -> None:
    with pytest.raises(ConfigError, match=r"needs \[ptt\] line, the line's offset"):
        make_ptt("gpio", device="/dev/gpiochip0")  # line's default is the serial 'cts'


@pytest.mark.skipif(_gpiod_installed(), reason="gpiod is installed, so its absence cannot be shown")
def test_gpio_without_gpiod_says_how_to_install_it() -> None:
    with pytest.raises(PttError, match="needs the gpiod package .*pip install gpiod"):
        make_ptt("gpio", device="/dev/gpiochip0", line="17")


@pytest.mark.skipif(not _gpiod_installed(), reason="the gpiod package (libgpiod 2 bindings) is not installed")
def test_gpio_chip_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PttError, match=r"PTT GPIO chip .*gpiochip9 does not exist .*gpiodetect"):
        make_ptt("gpio", device=str(tmp_path / "gpiochip9"), line="17")
    with pytest.raises(PttError, match="PTT GPIO chip /dev/null: "):
        make_ptt("gpio", device="/dev/null", line="17")


@pytest.fixture
def simulated_chip():
    """A GPIO chip from the kernel's gpio-sim (configfs), whose lines the test pulls up and
    down: ``(device, pull(offset, up))``."""
    root = Path("/sys/kernel/config/gpio-sim")
    if not _gpiod_installed():
        pytest.skip("the gpiod package (libgpiod 2 bindings) is not installed")
    if not root.is_dir() or not os.access(root, os.W_OK):
        pytest.skip("no writable /sys/kernel/config/gpio-sim (needs root, configfs and 'modprobe gpio-sim'); "
                    "a real board's lines are not touched")
    device = root / f"telephrase-test-{os.getpid()}"
    bank = device / "bank0"
    device.mkdir()
    bank.mkdir()
    (bank / "num_lines").write_text("4")
    (device / "live").write_text("1")
    try:
        chip = (bank / "chip_name").read_text().strip()
        lines = Path("/sys/devices/platform") / (device / "dev_name").read_text().strip() / chip

        def pull(offset: int, up: bool) -> None:
            (lines / f"sim_gpio{offset}" / "pull").write_text("pull-up" if up else "pull-down")

        yield f"/dev/{chip}", pull
    finally:
        (device / "live").write_text("0")
        bank.rmdir()
        device.rmdir()


@pytest.mark.parametrize("active_low", [False, True])
def test_gpio_line_follows_the_pin(simulated_chip, active_low: bool) -> None:
    chip, pull = simulated_chip
    pull(2, active_low)  # released
    key = make_ptt("gpio", device=chip, line="2", active_low=active_low, debounce=0.005, max_transmit=60)
    try:
        assert key.wait_change(0.2) is None and not key.pressed()
        pull(2, not active_low)
        assert key.wait_change(2.0) is True
        pull(2, active_low)
        assert key.wait_change(2.0) is False
    finally:
        key.close()


# ---------------------------------------------------------------------------------------------
# Standard input


@pytest.fixture
def keyboard():
    """A pipe standing in for the terminal: the test types into ``write``."""
    read, write = os.pipe()
    stream = os.fdopen(read, "r")
    yield stream, write
    stream.close()
    try:
        os.close(write)
    except OSError:
        pass


def test_stdin_enter_toggles_and_words_set(keyboard, caplog: pytest.LogCaptureFixture) -> None:
    stream, typing = keyboard
    key = StdinKey(stream, debounce=0.0, max_transmit=60)
    try:
        os.write(typing, b"\n")
        assert key.wait_change(2.0) is True
        os.write(typing, b"\n")
        assert key.wait_change(2.0) is False
        os.write(typing, b"DOWN\n")
        assert key.wait_change(2.0) is True
        os.write(typing, b"sideways\n")
        assert key.wait_change(0.2) is None
        assert "'sideways' is not a command" in caplog.text
        os.write(typing, b"up\n")
        assert key.wait_change(2.0) is False
        os.write(typing, b"on\n")
        assert key.wait_change(2.0) is True
        os.close(typing)  # end of input lets the key go
        assert key.wait_change(2.0) is False
    finally:
        key.close()


def test_stdin_toggle_left_on_is_released_after_max_transmit(keyboard) -> None:
    stream, typing = keyboard
    key = make_ptt("stdin", stream=stream, debounce=0.0, max_transmit=0.25)
    try:
        os.write(typing, b"\n")
        assert key.wait_change(2.0) is True
        down_at = time.monotonic()
        assert key.wait_change(2.0) is False
        assert 0.23 <= time.monotonic() - down_at < 1.0
        os.write(typing, b"\n\n")  # off, on: a fresh press
        assert key.wait_change(2.0) is True
    finally:
        key.close()


class SwitchBox(LoopSerial):
    """The far side of a network serial server: a push button wired from RTS to CTS, the way a
    PTT switch is powered from a serial port (pyserial's loop:// port wires RTS to CTS; the
    button breaks that wire)."""

    closed = False

    @property
    def cts(self) -> bool:
        return self._rts_state and self.closed


@pytest.fixture
def rfc2217_server():
    """An RFC 2217 server on 127.0.0.1 (pyserial's own ``PortManager``, as in its
    ``rfc2217_server.py`` example) in front of the switch box; it reports the modem lines
    every 20 ms, as ser2net does."""
    box = SwitchBox("loop://")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    class Connection:
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock
            self.lock = threading.Lock()

        def write(self, data: bytes) -> None:
            with self.lock:
                self.sock.sendall(data)

    def serve() -> None:
        sock, _ = listener.accept()
        manager = PortManager(box, Connection(sock))
        while not stop.is_set():
            if select.select([sock], [], [], 0.02)[0]:
                data = sock.recv(1024)
                if not data:
                    break
                list(manager.filter(data))
            manager.check_modem_lines()
        sock.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield box, f"rfc2217://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(5)
    listener.close()


def test_serial_key_over_rfc2217_follows_the_button(rfc2217_server) -> None:
    box, url = rfc2217_server
    key = make_ptt("serial", device=url, line="cts", debounce=0.05)
    try:
        assert key.wait_change(0.5) is None and not key.pressed()
        box.closed = True
        assert key.wait_change(3.0) is True and key.pressed()
        box.closed = False
        assert key.wait_change(3.0) is False and not key.pressed()
    finally:
        key.close()
