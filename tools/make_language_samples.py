#!/usr/bin/env python3
"""Make the synthetic multilingual samples: sentences written for telephrase, spoken by espeak-ng.

No recordings of people speaking Spanish, French or German with transcripts are packaged where
telephrase is built, so these samples are SYNTHETIC speech from a different synthesizer than
the receiver's (Debian's ``espeak-ng``, formant synthesis), read at 130 words a minute with a
50 ms gap between words (at its default pace Whisper base misheard 92 % of the words of six
trial sentences in Spanish, French and German, at this one 39 %), resampled to 16 kHz FLAC.  They test language detection, same-language recognition and
translation, not naturalness; figures measured on them are labelled synthetic.

Writes ``tools/samples/languages/`` with ``manifest.tsv`` in the corpus format (id, path,
seconds, speaker, transcript, source, license) plus ``language`` and ``keywords``: for every
non-English sentence, English content words of which a faithful translation carries each
(alternatives separated by ``/``, words by spaces).  The sentences are ours (CC0).

    apt-get install espeak-ng sox && tools/make_language_samples.py
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "samples" / "languages"
ESPEAK_VOICES = {"en": "en-us", "es": "es", "fr": "fr-fr", "de": "de"}

SENTENCES = [
    ("es", "The ship will reach the port tomorrow afternoon.",
     "El barco llegará al puerto mañana por la tarde.", "ship/boat port/harbor tomorrow afternoon"),
    ("es", "We need water and medicine for three days.",
     "Necesitamos agua y medicinas para tres días.", "water medicine/medicines three days"),
    ("es", "The road to the village is closed because of the snow.",
     "La carretera al pueblo está cerrada por la nieve.", "road village/town closed snow"),
    ("es", "Please call me again at eight in the evening.",
     "Por favor, llámame otra vez a las ocho de la noche.", "call eight night/evening"),
    ("fr", "The doctor arrives at the hospital this evening.",
     "Le médecin arrive à l'hôpital ce soir.", "doctor hospital evening/tonight"),
    ("fr", "The weather is good and the sea is calm today.",
     "Le temps est beau et la mer est calme aujourd'hui.", "weather sea calm today"),
    ("fr", "We have found the lost children near the river.",
     "Nous avons trouvé les enfants perdus près de la rivière.", "found children lost river"),
    ("fr", "The radio will work again after the storm.",
     "La radio fonctionnera de nouveau après la tempête.", "radio work/function storm"),
    ("de", "The train leaves the station at seven o'clock in the morning.",
     "Der Zug verlässt den Bahnhof um sieben Uhr morgens.", "train station seven morning"),
    ("de", "We need more food and warm blankets.",
     "Wir brauchen mehr Essen und warme Decken.", "food warm blankets"),
    ("de", "The bridge over the river is broken.",
     "Die Brücke über den Fluss ist kaputt.", "bridge river broken"),
    ("de", "My brother is working in the city this week.",
     "Mein Bruder arbeitet diese Woche in der Stadt.", "brother work/works/working city week"),
    ("en", "", "The ship will reach the port tomorrow afternoon.", ""),
    ("en", "", "We need water and medicine for three days.", ""),
    ("en", "", "The road to the village is closed because of the snow.", ""),
    ("en", "", "Please call me again at eight in the evening.", ""),
]
"""(language, English meaning, sentence, key words of the meaning)."""


def speak(text: str, language: str, path: Path) -> float:
    """Speak ``text`` with espeak-ng into a 16 kHz FLAC at ``path``; returns its seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", ESPEAK_VOICES[language], "-s", "130", "-g", "5", "-w", str(wav), text],
                       check=True)
        subprocess.run(["sox", "-q", str(wav), "-r", "16000", "-b", "16", str(path), "pad", "0.3", "0.3"], check=True)
    out = subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True)
    return float(out.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", type=Path, default=OUT, help=f"folder (default {OUT})")
    args = p.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    rows, counts = [], {}
    for language, meaning, sentence, keywords in SENTENCES:
        counts[language] = counts.get(language, 0) + 1
        name = f"{language}-{counts[language]:02d}"
        seconds = speak(sentence, language, args.output / f"{name}.flac")
        rows.append({"id": name, "path": f"{name}.flac", "seconds": f"{seconds:.2f}",
                     "speaker": f"espeak-ng-{ESPEAK_VOICES[language]}", "transcript": sentence,
                     "source": "synthetic: espeak-ng 1.51 (-s 130 -g 5) reading a sentence written for telephrase"
                               + (f" (meaning: {meaning})" if meaning else ""),
                     "license": "CC0 1.0", "language": language, "keywords": keywords})
    with open(args.output / "manifest.tsv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t", quoting=csv.QUOTE_NONE,
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} synthetic utterances and manifest.tsv to {args.output}")


if __name__ == "__main__":
    main()
