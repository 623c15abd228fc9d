"""Language codes as they travel in a payload (formats 3 and 4).

The table is part of the wire format: a language is sent as its index here, so the list is
frozen.  Index 0 means "not known"; 1 to 100 are Whisper's languages in the order its tokenizer
lists them (ISO 639-1 where one exists; ``haw``, ``yue``), which is every language the
recogniser can report.  New languages may only be appended.
"""

from __future__ import annotations

CODES: tuple[str, ...] = ("",) + tuple(
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu hy "
    "id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro ru sa "
    "sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo zh yue".split()
)
INDEX = {code: i for i, code in enumerate(CODES)}

NAMES = {
    "ar": "Arabic", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "fa": "Persian", "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi",
    "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch",
    "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish",
    "sw": "Swahili", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}


def base_code(code: str) -> str:
    """``es_ES``, ``es-419``, ``ES`` → ``es``: the part a payload and Whisper use."""
    return code.replace("-", "_").split("_")[0].lower()


def index_of(code: str) -> int:
    """The wire index of a language code; 0 for one Whisper does not know."""
    return INDEX.get(base_code(code), 0) if code else 0


def describe(code: str) -> str:
    """``es`` → ``Spanish (es)``, for messages a person reads."""
    name = NAMES.get(code)
    return f"{name} ({code})" if name else (code or "unknown language")
