"""The receiver's replay windows survive a restart: a message recorded off the air before it
is refused after it, by the file alone (``ReplayStore``) and by a real station over UDP."""

from __future__ import annotations

import logging

import pytest

from test_station import free_port, send_frames, station_config, wait_for
from test_station_hardening import frames, sealed, start, stop
from telephrase.link.auth import MAX_SENDERS, AuthConfigError, AuthError, MessageAuth, Reason, ReplayStore, generate_key
from telephrase.station.station import Station

KEY = bytes(range(32))
HEADER = b"\x00"


def envelope(counter: int, sender: int = 3, key: bytes = KEY) -> bytes:
    return MessageAuth(key).seal(HEADER, counter, b"hello %d" % counter, sender=sender)


def receiver(path, key: bytes = KEY, window: int = 64) -> MessageAuth:
    return MessageAuth(key, window=window, replay=ReplayStore(path))


def test_a_replay_after_a_restart_is_refused(tmp_path):
    path = tmp_path / "replay"
    before = receiver(path)
    for counter in (5, 9, 7):
        before.open(HEADER, 3, envelope(counter))
    after = receiver(path)
    for counter in (5, 9, 7):
        with pytest.raises(AuthError) as e:
            after.open(HEADER, 3, envelope(counter))
        assert e.value.reason is Reason.REPLAYED
    assert after.open(HEADER, 3, envelope(8)) == b"hello 8"
    assert after.open(HEADER, 3, envelope(10)) == b"hello 10"
    assert after.rejected.replayed == 3
    assert [p.name for p in tmp_path.iterdir()] == ["replay"]


def test_the_file_is_written_before_the_payload_is_returned(tmp_path):
    """A power cut right after a message was accepted (and about to be spoken) must not let
    its replay through: the file on disk already holds it."""
    path = tmp_path / "replay"
    auth = receiver(path)
    auth.open(HEADER, 4, envelope(1, sender=4))
    lines = path.read_text().splitlines()
    assert lines[0].startswith("telephrase replay 1 ") and lines[1:] == ["4 1 1"]
    auth.open(HEADER, 4, envelope(3, sender=4))
    assert path.read_text().splitlines()[1:] == ["4 3 5"]


def test_windows_of_another_key_are_not_used(tmp_path):
    path = tmp_path / "replay"
    receiver(path).open(HEADER, 3, envelope(5))
    other = bytes(range(1, 33))
    assert receiver(path, other).open(HEADER, 3, envelope(5, key=other)) == b"hello 5"


def test_a_smaller_window_after_the_restart_cuts_the_bitmap(tmp_path):
    path = tmp_path / "replay"
    auth = receiver(path)
    for counter in (1, 40):
        auth.open(HEADER, 3, envelope(counter))
    narrow = receiver(path, window=16)
    with pytest.raises(AuthError) as e:
        narrow.open(HEADER, 3, envelope(1))
    assert e.value.reason is Reason.TOO_OLD
    with pytest.raises(AuthError) as e:
        narrow.open(HEADER, 3, envelope(40))
    assert e.value.reason is Reason.REPLAYED


@pytest.mark.parametrize("text", ["", "not a replay file\n", "telephrase replay 1 {fp}\n3 9\n",
                                  "telephrase replay 1 {fp}\n3 nine 1\n", "telephrase replay 1 {fp}\n3 9 2\n",
                                  "telephrase replay 1 {fp}\n-1 9 1\n", "telephrase replay 1 {fp}\n3 9 1 extra\n"])
def test_a_corrupt_file_is_a_clear_error_not_an_open_window(tmp_path, text):
    path = tmp_path / "replay"
    fingerprint = receiver(tmp_path / "fresh")._fingerprint()
    path.write_text(text.format(fp=fingerprint))
    with pytest.raises(AuthConfigError, match=r"replay file .* is corrupt \(line \d\); remove it"):
        receiver(path)


def test_a_file_that_cannot_be_written_is_logged_once_and_messages_still_pass(tmp_path, caplog):
    """The state folder vanishes (a disk unmounted, a full disk fails the same way): messages
    are still accepted, replays in this run still refused, and one error line says so."""
    folder = tmp_path / "state"
    folder.mkdir()
    auth = receiver(folder / "replay")
    folder.rmdir()
    with caplog.at_level(logging.INFO, logger="telephrase"):
        for counter in (1, 2, 3):
            assert auth.open(HEADER, 3, envelope(counter)) == b"hello %d" % counter
        with pytest.raises(AuthError):
            auth.open(HEADER, 3, envelope(2))
        folder.mkdir()
        auth.open(HEADER, 3, envelope(4))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "cannot be written" in errors[0].getMessage()
    assert any("written again" in r.getMessage() for r in caplog.records)
    assert receiver(folder / "replay")._windows[3].highest == 4


def test_senders_are_bounded_and_the_longest_silent_one_goes_first(tmp_path):
    path = tmp_path / "replay"
    auth = receiver(path)
    for sender in range(MAX_SENDERS + 5):
        auth.open(HEADER, sender, envelope(1, sender=sender))
    auth.open(HEADER, 5, envelope(2, sender=5))
    assert len(auth._windows) == MAX_SENDERS and 4 not in auth._windows and 5 in auth._windows
    assert len(path.read_text().splitlines()) == MAX_SENDERS + 1
    assert path.stat().st_size < 200_000
    restarted = receiver(path)
    assert list(restarted._windows)[-1] == 5 and len(restarted._windows) == MAX_SENDERS


def test_a_restarted_station_refuses_what_it_spoke_before(engines, tmp_path):
    key = tmp_path / "key"
    generate_key(key)
    port = free_port()
    config = station_config(tmp_path, "a", port, free_port(), 1,
                            auth={"key_file": str(key), "counter_file": str(tmp_path / "counter"),
                                  "replay_file": str(tmp_path / "replay")})
    recorded = frames(sealed(key, 1, engines), 1, authenticated=True)
    first = Station(config, engines)
    thread, _ = start(first)
    try:
        send_frames(recorded, port)
        wait_for(lambda: first.stats.spoken >= 1, 60)
    finally:
        stop(first, thread)
    assert first.stats.spoken == 1

    second = Station(config, engines)
    thread, _ = start(second)
    try:
        send_frames(recorded, port)
        wait_for(lambda: second.receiver.stats.rejected >= 1, 20)
        send_frames(frames(sealed(key, 2, engines), 2, authenticated=True), port)
        wait_for(lambda: second.stats.spoken >= 1, 60)
    finally:
        stop(second, thread)
    assert second.receiver.auth.rejected.replayed == 1
    assert second.stats.spoken == 1 and second.failure is None
