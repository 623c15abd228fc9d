"""Errors that reach the user as one clear line.

Every failure a user can fix (a missing model package, a file that is not audio, a bad config
key) is raised as a ``TelephraseError`` whose message says what is wrong and how to fix it; the
CLI prints it on one line and exits non-zero instead of showing a traceback.
"""


class TelephraseError(Exception):
    """A problem the user can act on; ``str()`` is the one-line explanation."""


class ModelError(TelephraseError):
    """A model is missing, incomplete or fails its checksum."""


class AudioError(TelephraseError):
    """An input is not usable audio (missing, empty, not audio, no speech)."""


class ConfigError(TelephraseError):
    """The configuration file is malformed or names an unknown setting."""


class FrameError(TelephraseError):
    """On-air bytes could not be turned back into a message."""
