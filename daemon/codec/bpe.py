"""The neural text model's tokenizer: byte-level BPE from the model's own vocabulary.

Only the sender splits text into tokens (with the ``tokenizers`` library, which faster-whisper
already brings); the receiver joins the tokens' bytes, so the split need not be canonical to
decode, only good to cost few bits.  Tokens are GPT-2 style: every byte is a printable
character, so any UTF-8 text has a spelling, and a receiver refuses token bytes that are not
UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property


def _byte_alphabet() -> dict[str, int]:
    """GPT-2's map from the printable stand-in characters to the bytes they spell."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


@dataclass(frozen=True)
class Tokenizer:
    tokens: tuple[str, ...]
    merges: tuple[str, ...]
    special: frozenset[int]
    """Control tokens (end of text, chat roles …): never part of a message's text."""

    @classmethod
    def from_gguf(cls, path: str) -> Tokenizer:
        import gguf

        reader = gguf.GGUFReader(path)
        tokens = tuple(reader.fields["tokenizer.ggml.tokens"].contents())
        merges = tuple(reader.fields["tokenizer.ggml.merges"].contents())
        types = reader.fields["tokenizer.ggml.token_type"].contents()
        return cls(tokens, merges, frozenset(i for i, t in enumerate(types) if t != 1))

    @cached_property
    def _bytes(self) -> tuple[bytes, ...]:
        alphabet = _byte_alphabet()
        return tuple(b"" if i in self.special else bytes(alphabet[c] for c in t) for i, t in enumerate(self.tokens))

    @cached_property
    def _splitter(self):
        from tokenizers import Tokenizer as Fast, decoders, models, pre_tokenizers

        vocab = {t: i for i, t in enumerate(self.tokens)}
        fast = Fast(models.BPE(vocab, [tuple(m.split(" ", 1)) for m in self.merges]))
        fast.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                      pre_tokenizers.ByteLevel(add_prefix_space=False)])
        fast.decoder = decoders.ByteLevel()
        return fast

    def encode(self, text: str) -> list[int]:
        return self._splitter.encode(text, add_special_tokens=False).ids

    def token_bytes(self, token: int) -> bytes:
        """The bytes a text token spells (empty for a control token)."""
        return self._bytes[token]

    def decode(self, tokens: list[int]) -> str:
        """The text of ``tokens``; ``UnicodeDecodeError`` if their bytes are not UTF-8."""
        return b"".join(self._bytes[t] for t in tokens).decode("utf-8")
