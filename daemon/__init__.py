"""telephrase: speech over links too thin for any voice codec.

The package is arranged along the data path: audio (capture, files) → transcribe → message →
payload → framing → link → framing → payload → message → synthesize → audio.  ``pipeline`` joins
the stages; ``cli`` is the user-facing command.
"""

__version__ = "0.1.0"
