"""systemd integration against a real notification socket and real signals in a child process."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from telephrase.station.service import Flag, Notifier, install_signal_handlers, watchdog_interval


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request, tmp_path, monkeypatch):
    """A datagram socket where systemd's would be, named by NOTIFY_SOCKET like systemd does."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        address = str(tmp_path / "notify")
        sock.bind(address)
    else:
        name = f"telephrase-test-{uuid.uuid4().hex}"
        sock.bind("\0" + name)
        address = "@" + name
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def nothing_received(sock: socket.socket) -> bool:
    return not select.select([sock], [], [], 0.05)[0]


def test_ready_status_reloading_stopping_arrive(notify_socket):
    notifier = Notifier()
    assert notifier.enabled
    notifier.ready("listening on /dev/ttyUSB0")
    assert received(notify_socket) == ["READY=1", "STATUS=listening on /dev/ttyUSB0"]
    notifier.status("3 messages heard,\n1 sent")
    assert received(notify_socket) == ["STATUS=3 messages heard, 1 sent"]
    notifier.reloading()
    reloading, monotonic = received(notify_socket)
    assert reloading == "RELOADING=1"
    assert monotonic.startswith("MONOTONIC_USEC=")
    assert abs(int(monotonic.split("=")[1]) / 1e6 - time.monotonic()) < 1
    notifier.ready()
    assert received(notify_socket) == ["READY=1"]
    notifier.stopping("shutting down")
    assert received(notify_socket) == ["STOPPING=1", "STATUS=shutting down"]


def test_watchdog_kick_arrives_at_most_every_half_interval(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = Notifier()
    assert notifier.watchdog_interval() == watchdog_interval() == 0.2
    assert notifier.kick()
    assert received(notify_socket) == ["WATCHDOG=1"]
    assert not notifier.kick() and not notifier.kick()
    assert nothing_received(notify_socket)
    time.sleep(0.11)
    assert notifier.kick()
    assert received(notify_socket) == ["WATCHDOG=1"]


@pytest.mark.parametrize("usec, pid", [(None, None), ("0", None), ("200000", "1"), ("soon", None)])
def test_no_watchdog_for_this_process(notify_socket, monkeypatch, usec, pid):
    """Unset, zero, meant for another process (an inherited environment) or malformed."""
    if usec is not None:
        monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is not None:
        monkeypatch.setenv("WATCHDOG_PID", pid)
    notifier = Notifier()
    assert notifier.watchdog_interval() is None
    assert not notifier.kick()
    assert nothing_received(notify_socket)


def test_without_notify_socket_everything_is_a_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    notifier = Notifier()
    assert not notifier.enabled and notifier.watchdog_interval() is None
    notifier.ready("up")
    notifier.status("fine")
    notifier.reloading()
    notifier.stopping()
    assert not notifier.kick()


def test_an_unreachable_socket_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    Notifier().ready()
    assert "cannot notify systemd (READY=1)" in caplog.text


def test_flag_wakes_a_waiter_and_clears():
    flag = Flag()
    assert not flag.wait(0.01)
    threading.Timer(0.05, flag.set).start()
    start = time.monotonic()
    assert flag.wait(5)
    assert time.monotonic() - start < 2
    assert select.select([flag], [], [], 0)[0] == [flag]
    flag.clear()
    assert not flag.is_set() and not select.select([flag], [], [], 0)[0]


def test_handlers_only_from_the_main_thread():
    errors = []
    thread = threading.Thread(target=lambda: errors.append(pytest.raises(RuntimeError, install_signal_handlers)))
    thread.start()
    thread.join()
    assert "main thread" in str(errors[0].value)


CHILD = """
import sys
import time
from telephrase.station.service import install_signal_handlers

signals = install_signal_handlers()
print("ready", flush=True)
assert signals.reload.wait(10) and not signals.stop.is_set()
signals.reload.clear()
print("reload", flush=True)
assert signals.stop.wait(10) and not signals.reload.is_set()
print("stop", flush=True)
if sys.argv[1] == "SIGINT":
    time.sleep(30)
"""


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_signals_set_the_flags_in_a_real_process(stop):
    child = subprocess.Popen([sys.executable, "-c", CHILD, stop.name], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGHUP)
        assert child.stdout.readline() == "reload\n"
        child.send_signal(stop)
        assert child.stdout.readline() == "stop\n"
        if stop == signal.SIGINT:
            # The loop did not end on the first Ctrl-C; the second one interrupts it.
            child.send_signal(signal.SIGINT)
            assert child.wait(10) == -signal.SIGINT
        else:
            assert child.wait(10) == 0
    finally:
        child.kill()
        child.stdout.close()


def test_the_watchdogs_sigabrt_prints_where_the_loop_hangs():
    hung = "import time\nfrom telephrase.station.service import install_signal_handlers\n" \
           "install_signal_handlers()\nprint('ready', flush=True); time.sleep(30)\n"
    child = subprocess.Popen([sys.executable, "-c", hung], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGABRT)
        _, stderr = child.communicate(timeout=10)
    finally:
        child.kill()
    assert child.returncode == -signal.SIGABRT
    assert "Fatal Python error: Aborted" in stderr and 'File "<string>", line 4' in stderr


LOGGING_CHILD = """
import logging
from telephrase.station.service import setup_logging

handler = setup_logging(logging.INFO)
print(type(handler).__name__)
logging.getLogger("telephrase.test").info("hello")
logging.getLogger("telephrase.test").debug("hidden")
"""


def run_logging_child(tmp_path, **env: str) -> tuple[str, str]:
    """Run a child with stderr in a file, whose device:inode ``env`` may name as JOURNAL_STREAM."""
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "w") as stderr:
        st = os.fstat(stderr.fileno())
        base = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "INVOCATION_ID")}
        values = {k: v.format(stderr=f"{st.st_dev}:{st.st_ino}") for k, v in env.items()}
        out = subprocess.run([sys.executable, "-c", LOGGING_CHILD], stdout=subprocess.PIPE, stderr=stderr,
                             text=True, env=base | values, timeout=30, check=True).stdout
    return out.strip(), stderr_path.read_text()


def test_logging_in_a_terminal_has_timestamps(tmp_path):
    kind, lines = run_logging_child(tmp_path)
    assert kind == "StreamHandler"
    assert lines.endswith(" INFO telephrase.test: hello\n") and lines[:2] == "20"
    assert "hidden" not in lines


def test_logging_under_systemd_without_journal_has_no_timestamps(tmp_path):
    kind, lines = run_logging_child(tmp_path, INVOCATION_ID="0123456789abcdef", JOURNAL_STREAM="1:2")
    assert kind == "StreamHandler"
    assert lines == "INFO telephrase.test: hello\n"


def test_logging_goes_to_the_journal_when_stderr_is_the_journal(tmp_path):
    kind, _ = run_logging_child(tmp_path, JOURNAL_STREAM="{stderr}")
    assert kind == "JournalHandler"


def test_an_inherited_journal_stream_with_stderr_elsewhere_is_not_the_journal(tmp_path):
    kind, lines = run_logging_child(tmp_path, JOURNAL_STREAM="1:2")
    assert kind == "StreamHandler" and lines[:2] == "20"
