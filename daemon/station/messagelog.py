"""The message log: every message the station sent or heard, one JSON object a line.

It is the operator's record of traffic, so every line is on disk before ``append`` returns
(written with one ``write`` and fsync'd; new files and renames are fsync'd in their directory
too): a power cut loses at most the message being written, never earlier ones.  Files rotate by
size (``messages.jsonl`` → ``messages.jsonl.1`` → …) so a station left alone for months never
fills its SD card.  ``follow`` is ``tail -F`` for ``telephrase monitor``: it waits for the file,
carries on across rotation and truncation, and skips damaged lines instead of stopping.

A line::

    {"time":"2025-01-02T10:00:00.123Z","direction":"rx","sender":12,"text":"QSL","bits":24,"seconds":0.8}

``direction`` is ``rx`` (heard) or ``tx`` (sent), ``sender`` the station id, ``bits`` the
payload size, ``seconds`` the speech's length; callers may add fields of their own.  The
station adds ``language`` (the text's, when the payload carries it), ``source_language``
(the language spoken, when the text is a translation) and, for a heard message that no voice
could speak, ``spoken: false``.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from ..errors import TelephraseError

log = logging.getLogger(__name__)

DIRECTIONS = ("rx", "tx")
ARROWS = {"rx": "<-", "tx": "->"}
FILENAME = "messages.jsonl"
SERVICE_LOGS = Path("/var/log/telephrase")


def default_path() -> Path:
    """Where the log is when the configuration names no file.

    Under systemd ``$LOGS_DIRECTORY`` (the unit's LogsDirectory=); else the installed service's
    directory if it exists, so that ``telephrase monitor`` in an operator's shell finds the
    service's log; else the user's state directory (``$XDG_STATE_HOME/telephrase``).
    """
    logs = os.environ.get("LOGS_DIRECTORY")
    if logs:
        return Path(logs.split(":")[0]) / FILENAME
    if SERVICE_LOGS.is_dir():
        return SERVICE_LOGS / FILENAME
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "telephrase" / FILENAME


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MessageLog:
    """Appends entries to ``path``, rotating it past ``max_bytes`` and keeping ``keep`` old files.

    Safe to share between threads (the receive and send sides).  If someone else moves or
    deletes the file (logrotate, an operator), the next entry goes to a new file at ``path``.
    """

    def __init__(self, path: str | Path, max_bytes: int = 10 * 2**20, keep: int = 5) -> None:
        if max_bytes <= 0 or keep < 0:
            raise ValueError(f"message log: max_bytes must be positive and keep not negative, "
                             f"got {max_bytes} and {keep}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()
        try:
            self._fd = self._open()
        except OSError as e:
            raise self._error(e) from None

    def append(self, direction: str, sender: int, text: str, bits: int, seconds: float, **extra) -> dict:
        """Write one entry and return it once it is on disk."""
        if direction not in DIRECTIONS:
            raise ValueError(f"message log: direction must be 'rx' or 'tx', not {direction!r}")
        if "time" in extra:
            raise ValueError("message log: 'time' is set by the log itself")
        entry = {"time": _utc_now(), "direction": direction, "sender": sender, "text": text, "bits": bits,
                 "seconds": round(seconds, 3), **extra}
        # Readable UTF-8 for grep; a lone surrogate, which a str may hold but UTF-8 cannot, becomes
        # a JSON \u escape instead of bytes that no reader could decode.
        line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode(
            "utf-8", "backslashreplace")
        with self._lock:
            try:
                self._reopen_if_moved()
                size = os.fstat(self._fd).st_size
                if size and size + len(line) > self.max_bytes:
                    self._rotate()
                self._write(line)
                os.fsync(self._fd)
            except OSError as e:
                raise self._error(e) from None
        return entry

    def close(self) -> None:
        with self._lock:
            os.close(self._fd)

    def __enter__(self) -> MessageLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, e: OSError) -> TelephraseError:
        where = "" if e.filename in (None, str(self.path)) else f" ({e.filename})"
        return TelephraseError(f"message log {self.path}: {e.strerror}{where}")

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        _fsync_dir(self.path.parent)
        return fd

    def _reopen_if_moved(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        ours = os.fstat(self._fd)
        if st is None or (st.st_dev, st.st_ino) != (ours.st_dev, ours.st_ino):
            self._replace_fd()

    def _replace_fd(self) -> None:
        # Open first: if that fails, the old descriptor stays valid and the next append retries.
        fd = self._open()
        os.close(self._fd)
        self._fd = fd

    def _rotate(self) -> None:
        for i in range(self.keep - 1, 0, -1):
            older = self._rotated(i)
            if older.exists():
                os.replace(older, self._rotated(i + 1))
        if self.keep:
            os.replace(self.path, self._rotated(1))
        else:
            os.unlink(self.path)
        self._replace_fd()

    def _rotated(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]


def follow(path: str | Path, from_start: bool = False, poll: float = 0.25) -> Iterator[dict]:
    """Yield the log's entries as they are written, forever, like ``tail -F``.

    ``from_start`` first yields what the file already holds; otherwise only new entries.  A
    file that does not exist yet is waited for; a rotated file is read to its end before the
    new one is opened (from its start), a truncated one is read again from its start.  A line
    is yielded only once its newline has been written, and a line that is not a JSON object is
    skipped with a warning.  Raises TelephraseError only if the file cannot be read at all.
    """
    reader = _Reader(Path(path))
    reader.open(at_end=not from_start)
    if reader.fd is None:
        log.info("waiting for %s to appear", reader.path)
    try:
        while True:
            yield from reader.entries()
            if reader.fd is None:
                reader.open(at_end=False)
                if reader.fd is None:
                    time.sleep(poll)
            elif reader.moved():
                yield from reader.entries()  # written between the last read and the rotation
                if reader.pending:
                    log.warning("%s: dropped an unfinished last line of %d bytes from the rotated file",
                                reader.path, len(reader.pending))
                reader.close()
                reader.open(at_end=False)
            elif reader.truncated():
                log.warning("%s was truncated; reading it from its start", reader.path)
                reader.rewind()
            else:
                time.sleep(poll)
    finally:
        reader.close()


class _Reader:
    """``follow``'s open file: its descriptor and identity, and the bytes of an unfinished line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.identity: tuple[int, int] | None = None
        self.pending = b""
        self.skip_first = False

    def open(self, at_end: bool) -> None:
        """Open the file if it exists (``fd`` stays None if not), at its start or its end."""
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        except OSError as e:
            raise TelephraseError(f"cannot read the message log {self.path}: {e.strerror}") from None
        st = os.fstat(self.fd)
        if not stat.S_ISREG(st.st_mode):
            self.close()
            raise TelephraseError(f"cannot read the message log {self.path}: not a file")
        self.identity = (st.st_dev, st.st_ino)
        self.rewind()
        if at_end and st.st_size:
            os.lseek(self.fd, st.st_size, os.SEEK_SET)
            # Started in the middle of a line being written: its start is not ours to parse.
            self.skip_first = os.pread(self.fd, 1, st.st_size - 1) != b"\n"

    def entries(self) -> Iterator[dict]:
        """The complete lines from here to the end of the file, parsed."""
        while self.fd is not None and (chunk := os.read(self.fd, 65536)):
            lines = (self.pending + chunk).split(b"\n")
            self.pending = lines.pop()
            if self.skip_first and lines:
                self.skip_first = False
                lines = lines[1:]
            for line in lines:
                if (entry := self._parse(line)) is not None:
                    yield entry

    def moved(self) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (st.st_dev, st.st_ino) != self.identity

    def truncated(self) -> bool:
        return os.fstat(self.fd).st_size < os.lseek(self.fd, 0, os.SEEK_CUR)

    def rewind(self) -> None:
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.pending = b""
        self.skip_first = False

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _parse(self, line: bytes) -> dict | None:
        if not line.strip():
            return None
        try:
            entry = json.loads(line)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
            log.warning("%s: skipped a malformed line (%s): %.80r", self.path, e, line)
            return None
        if not isinstance(entry, dict):
            log.warning("%s: skipped a line that is not a JSON object: %.80r", self.path, line)
            return None
        return entry


def format_entry(entry: dict) -> str:
    """One line for a person: UTC time, arrow (``->`` sent, ``<-`` heard), sender, text, size.

    UTC because radio logs are kept in UTC; whatever the entry holds, this never raises, so a
    strange line cannot stop ``telephrase monitor``.
    """
    when = str(entry.get("time", "?"))
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            when = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    except (ValueError, OverflowError):
        pass
    direction = entry.get("direction")
    arrow = ARROWS.get(direction, "??") if isinstance(direction, str) else "??"
    text = " ".join(str(entry.get("text", "")).split())
    seconds = entry.get("seconds")
    length = f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else "? s"
    language, source = entry.get("language"), entry.get("source_language")
    tag = f"({source}→{language}) " if source else (f"({language}) " if language and language != "en" else "")
    return f"{when} {arrow} {entry.get('sender', '?')!s:>5}  {tag}{text}  [{entry.get('bits', '?')} bit, {length}]"
