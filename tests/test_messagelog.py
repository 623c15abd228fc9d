"""The message log on real files: appending, rotation, and a follower racing a writer."""

from __future__ import annotations

import itertools
import json
import os
import queue
import stat
import threading
from datetime import datetime, timedelta, timezone

import pytest

from telephrase.errors import TelephraseError
from telephrase.station.messagelog import SERVICE_LOGS, MessageLog, default_path, follow, format_entry

POLL = 0.01


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_append_writes_one_json_object_a_line(tmp_path):
    path = tmp_path / "log" / "sub" / "messages.jsonl"
    with MessageLog(path) as log:
        first = log.append("tx", 7, "Grüße aus Köln", 96, 2.34567)
        log.append("rx", 12, "QSL", 24, 0.5, frames=1, exact=True)
        # Nothing buffered: another reader sees the entries before the log is closed.
        assert lines(path) == [first, lines(path)[1]]
    entries = lines(path)
    assert entries[0] == {"time": first["time"], "direction": "tx", "sender": 7, "text": "Grüße aus Köln",
                          "bits": 96, "seconds": 2.346}
    assert entries[1]["frames"] == 1 and entries[1]["exact"] is True
    assert "Grüße" in path.read_text(encoding="utf-8")
    when = datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
    assert first["time"].endswith("Z") and abs(datetime.now(timezone.utc) - when) < timedelta(seconds=5)
    assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0


def test_append_keeps_what_is_there(tmp_path):
    path = tmp_path / "messages.jsonl"
    path.write_text('{"text": "from before"}\n')
    with MessageLog(path) as log:
        log.append("rx", 1, "new", 8, 1.0)
    assert [e["text"] for e in lines(path)] == ["from before", "new"]


def test_a_lone_surrogate_stays_valid_json(tmp_path):
    path = tmp_path / "messages.jsonl"
    with MessageLog(path) as log:
        log.append("rx", 1, "bad \udc80 byte", 8, 1.0)
    assert lines(path)[0]["text"] == "bad \udc80 byte"


@pytest.mark.parametrize("kwargs, message", [
    (dict(direction="up"), "direction must be 'rx' or 'tx'"),
    (dict(time="now"), "'time' is set by the log"),
])
def test_bad_entries_are_refused(tmp_path, kwargs, message):
    with MessageLog(tmp_path / "m.jsonl") as log:
        with pytest.raises(ValueError, match=message):
            log.append(**(dict(direction="rx", sender=1, text="x", bits=8, seconds=1.0) | kwargs))


def test_an_unwritable_place_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(TelephraseError, match=r"message log .*file/messages.jsonl: File exists \(.*file\)$"):
        MessageLog(tmp_path / "file" / "messages.jsonl")


def test_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGS_DIRECTORY", "/var/log/telephrase:/var/log/other")
    assert str(default_path()) == "/var/log/telephrase/messages.jsonl"
    monkeypatch.delenv("LOGS_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    expected = SERVICE_LOGS if SERVICE_LOGS.is_dir() else tmp_path / "telephrase"
    assert default_path() == expected / "messages.jsonl"


def test_rotation_keeps_n_files_each_under_the_limit(tmp_path):
    path = tmp_path / "messages.jsonl"
    with MessageLog(path, max_bytes=400, keep=2) as log:
        for i in range(40):
            log.append("tx", 1, f"message {i}", 8, 1.0)
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["messages.jsonl", "messages.jsonl.1", "messages.jsonl.2"]
    assert all(0 < f.stat().st_size <= 400 for f in files)
    kept = [e["text"] for name in ("messages.jsonl.2", "messages.jsonl.1", "messages.jsonl")
            for e in lines(tmp_path / name)]
    assert kept == [f"message {i}" for i in range(40 - len(kept), 40)]


def test_keep_zero_discards_the_full_file(tmp_path):
    path = tmp_path / "messages.jsonl"
    with MessageLog(path, max_bytes=200, keep=0) as log:
        for i in range(10):
            log.append("tx", 1, f"message {i}", 8, 1.0)
    assert [f.name for f in tmp_path.iterdir()] == ["messages.jsonl"]
    assert lines(path)[-1]["text"] == "message 9"


def test_a_file_moved_away_by_someone_else_is_recreated(tmp_path):
    path = tmp_path / "messages.jsonl"
    with MessageLog(path) as log:
        log.append("tx", 1, "one", 8, 1.0)
        path.rename(tmp_path / "archived")
        log.append("tx", 1, "two", 8, 1.0)
        path.unlink()
        log.append("tx", 1, "three", 8, 1.0)
    assert [e["text"] for e in lines(tmp_path / "archived")] == ["one"]
    assert [e["text"] for e in lines(path)] == ["three"]


class Consumer:
    """Runs ``follow`` in a thread and hands its entries over through a queue."""

    def __init__(self, path, from_start: bool, count: int) -> None:
        self.entries: queue.Queue = queue.Queue()
        generator = follow(path, from_start=from_start, poll=POLL)
        self.thread = threading.Thread(target=self._run, args=(generator, count), daemon=True)
        self.thread.start()

    def _run(self, generator, count: int) -> None:
        for entry in itertools.islice(generator, count):
            self.entries.put(entry)
        generator.close()

    def take(self, n: int = 1) -> list[str]:
        return [self.entries.get(timeout=5)["text"] for _ in range(n)]

    def nothing_more(self) -> bool:
        try:
            self.entries.get(timeout=0.2)
        except queue.Empty:
            return True
        return False


def test_follow_from_start_and_from_the_end(tmp_path):
    path = tmp_path / "messages.jsonl"
    with MessageLog(path) as log:
        log.append("rx", 1, "old", 8, 1.0)
        assert [e["text"] for e in itertools.islice(follow(path, from_start=True, poll=POLL), 1)] == ["old"]
        consumer = Consumer(path, from_start=False, count=1)
        # The follower must be positioned at the end before the new entry is written.
        assert consumer.nothing_more()
        log.append("rx", 1, "new", 8, 1.0)
        assert consumer.take() == ["new"]


def test_follow_waits_for_the_file_to_appear(tmp_path):
    path = tmp_path / "later" / "messages.jsonl"
    consumer = Consumer(path, from_start=False, count=2)
    assert consumer.nothing_more()
    with MessageLog(path) as log:
        log.append("tx", 1, "first", 8, 1.0)
        log.append("tx", 1, "second", 8, 1.0)
    assert consumer.take(2) == ["first", "second"]


def test_follow_across_rotations_while_another_thread_writes(tmp_path):
    """Bursts of two entries in files of three, so a rotation often falls inside a burst: the
    follower has to finish the old file after noticing the new one."""
    path = tmp_path / "messages.jsonl"
    total = 60
    consumer = Consumer(path, from_start=True, count=total)
    seen: list[str] = []
    with MessageLog(path, max_bytes=330, keep=2) as log:
        def write(i: int) -> None:
            log.append("tx", 1, f"message {i:03}", 8, 1.0)

        for burst in range(0, total, 2):
            writer = threading.Thread(target=lambda b=burst: [write(i) for i in (b, b + 1)])
            writer.start()
            writer.join()
            seen += consumer.take(2)
    assert seen == [f"message {i:03}" for i in range(total)]
    assert (tmp_path / "messages.jsonl.2").exists()


def test_follow_survives_truncation(tmp_path):
    path = tmp_path / "messages.jsonl"
    with MessageLog(path) as log:
        consumer = Consumer(path, from_start=False, count=2)
        assert consumer.nothing_more()
        log.append("rx", 1, "a rather long first message before the truncation", 8, 1.0)
        assert consumer.take() == ["a rather long first message before the truncation"]
        os.truncate(path, 0)
        log.append("rx", 1, "after", 8, 1.0)
        assert consumer.take() == ["after"]


def test_follow_waits_for_the_newline_of_a_half_written_line(tmp_path):
    path = tmp_path / "messages.jsonl"
    line = json.dumps({"time": "2025-01-02T10:00:00.000Z", "direction": "rx", "sender": 3, "text": "whole",
                       "bits": 8, "seconds": 1.0}) + "\n"
    path.write_text("")
    consumer = Consumer(path, from_start=False, count=1)
    assert consumer.nothing_more()
    with open(path, "a") as f:
        f.write(line[:20])
        f.flush()
        assert consumer.nothing_more()
        f.write(line[20:])
    assert consumer.take() == ["whole"]


def test_follow_from_the_end_skips_a_line_it_came_in_halfway(tmp_path):
    path = tmp_path / "messages.jsonl"
    line = json.dumps({"text": "half seen"}) + "\n"
    path.write_text(json.dumps({"text": "old"}) + "\n" + line[:10])
    consumer = Consumer(path, from_start=False, count=1)
    assert consumer.nothing_more()
    with open(path, "a") as f:
        f.write(line[10:] + json.dumps({"text": "next"}) + "\n")
    assert consumer.take() == ["next"]


def test_malformed_lines_are_skipped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "messages.jsonl"
    path.write_bytes(b'{"text": "one"}\n{"text": \n[1, 2]\n\n{"text": "\xc3\x28"}\n{"text": "two"}\n')
    got = [e["text"] for e in itertools.islice(follow(path, from_start=True, poll=POLL), 2)]
    assert got == ["one", "two"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 3 and all("messages.jsonl: skipped" in w for w in warnings)


def test_an_unreadable_log_is_one_clear_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    path = tmp_path / "messages.jsonl"
    path.write_text("")
    path.chmod(0)
    with pytest.raises(TelephraseError, match="cannot read the message log"):
        next(follow(path))


def test_a_directory_is_not_a_log(tmp_path):
    with pytest.raises(TelephraseError, match="cannot read the message log .*: not a file"):
        next(follow(tmp_path))


def test_format_entry():
    entry = {"time": "2025-01-02T10:00:00.456Z", "direction": "rx", "sender": 12, "text": "QSL,\n  thanks",
             "bits": 96, "seconds": 2.14, "frames": 1}
    assert format_entry(entry) == "2025-01-02 10:00:00Z <-    12  QSL, thanks  [96 bit, 2.1 s]"
    assert " -> " in format_entry(entry | {"direction": "tx"})
    assert format_entry(entry | {"time": "2025-01-02T12:00:00+02:00"}).startswith("2025-01-02 10:00:00Z")


@pytest.mark.parametrize("entry", [{}, {"time": 5, "direction": ["rx"], "seconds": "long", "text": None},
                                   {"time": "yesterday", "direction": "sideways", "sender": "x"},
                                   {"time": "0001-01-01T00:00:00+14:00", "seconds": float("nan")}])
def test_format_entry_never_raises(entry):
    assert isinstance(format_entry(entry), str)
