"""Input and output paths of the file commands, checked before any work is done.

A recording that takes a minute to transcribe must not be lost to an output path that was
never writable, and "no such file" for a path that is a folder sends the user looking in the
wrong place: each check says what the path is and what to give instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import TelephraseError


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_input(path: str | Path, what: str, error: type[TelephraseError] = TelephraseError,
                empty_ok: bool = False) -> Path:
    """``path`` as a regular, readable file, non-empty unless ``empty_ok``, or an ``error``
    saying what it is instead of ``what`` (``an audio file``)."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as e:
        raise error(f"{path}: cannot be read ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: is {_kind(st.st_mode)}, not {what}")
    if st.st_size == 0 and not empty_ok:
        raise error(f"{path}: file is empty")
    if not os.access(path, os.R_OK):
        raise error(f"{path}: cannot be read (permission denied)")
    return path


def check_output(path: str | Path, example: str) -> Path:
    """``path`` as a file that can be written: its folder exists and is writable, and the
    path itself is not a folder (a device such as /dev/null is written like a file).
    Folders are never created: a typo in a path should be an error, not a new folder."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise TelephraseError(f"{path}: cannot be written ({e.strerror or e})") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise TelephraseError(f"{path}: is a folder; give a file name, e.g. {path / example}")
    folder = path.parent
    if not folder.is_dir():
        raise TelephraseError(f"{path}: folder {folder} does not exist (create it first)")
    if not os.access(path if st is not None else folder, os.W_OK):
        raise TelephraseError(f"{path}: cannot be written (permission denied)")
    return path
