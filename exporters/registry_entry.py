"""Registry entries for exported models, written into a ``registry.toml`` the daemon reads.

An exported model is a folder of files next to the registry (``models/<name>/`` by default);
its ``[[model]]`` entry names each file with its sha256 and size, so the daemon verifies it
like any packaged model and loads it by name (``--stt-model NAME``, ``[tts] voice``, …).
Writing an entry replaces the block of the same name and leaves the rest of the file, its
comments included, as it was: the registry is edited by people too.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_BLOCK = re.compile(r"^\[\[model\]\]\s*$", re.M)
_NAME = re.compile(r'^name\s*=\s*"([^"]*)"\s*$', re.M)


@dataclass
class ExportedModel:
    """What the daemon needs to know about an exported model (fields as in ``registry.toml``)."""

    name: str
    role: str
    kind: str
    description: str
    license: str
    origin: str
    directory: Path
    """The folder holding the files; it must lie under the registry's folder."""
    files: list[str] = field(default_factory=list)
    """File names inside ``directory``."""


def default_registry() -> Path:
    """The checkout's ``models/registry.toml``, where the daemon looks first."""
    return Path(__file__).resolve().parent.parent / "models" / "registry.toml"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def render(model: ExportedModel, registry: Path) -> str:
    """The ``[[model]]`` block for ``model``, its files' sources relative to ``registry``."""
    try:
        folder = model.directory.resolve().relative_to(registry.resolve().parent)
    except ValueError:
        raise ValueError(f"{model.directory} is not under {registry.parent}: the registry finds "
                         "files only next to itself (choose --output-dir inside it)") from None
    q = json.dumps  # a TOML basic string is a JSON string for this text
    lines = [
        "[[model]]",
        f"name = {q(model.name)}",
        f"role = {q(model.role)}",
        f"kind = {q(model.kind)}",
        f"description = {q(model.description)}",
        "packages = []",
        f"license = {q(model.license)}",
        f"origin = {q(model.origin)}",
    ]
    for name in model.files:
        path = model.directory / name
        lines += [
            "",
            "  [[model.files]]",
            f"  path = {q(name)}",
            f"  source = {q((folder / name).as_posix())}",
            f"  sha256 = {q(sha256_file(path))}",
            f"  size = {path.stat().st_size}",
        ]
    return "\n".join(lines) + "\n"


def _block_end(text: str, start: int, limit: int) -> int:
    """Where the block starting at ``start`` ends: before ``limit`` (the next block), less the
    blank and comment lines just above it, which belong to the next block."""
    lines = text[start:limit].splitlines(keepends=True)
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
        lines.pop()
    return start + sum(map(len, lines))


def write_entry(model: ExportedModel, registry: Path) -> None:
    """Put ``model``'s block into ``registry``, replacing one of the same name."""
    text = registry.read_text() if registry.exists() else ""
    block = render(model, registry)
    starts = [m.start() for m in _BLOCK.finditer(text)]
    for i, start in enumerate(starts):
        end = _block_end(text, start, starts[i + 1] if i + 1 < len(starts) else len(text))
        found = _NAME.search(text, start, end)
        if found and found.group(1) == model.name:
            tail = text[end:].lstrip("\n")
            text = text[:start] + block + ("\n" + tail if tail else "")
            break
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block
    tmp = registry.with_name(registry.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(registry)
