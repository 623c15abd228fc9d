"""telephrase: speech over links too thin for any voice codec.

The subpackages follow the data path (README, "Architecture"): ``audio`` (capture and
playback) → ``speech`` (segment, transcribe, prosody; synthesize at the far end) → ``codec``
(message ↔ payload bytes) → ``link`` (frames, FEC, authentication, transports) → and back.
``pipeline`` joins the stages into a sender and a receiver, ``station`` runs them as the
daemon, ``cli`` holds the commands and ``bench`` the benchmarks, which nothing on a station's
runtime path imports.
"""

__version__ = "0.1.0"
