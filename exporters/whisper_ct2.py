"""Whisper (a Hugging Face Transformers checkpoint folder) to CTranslate2, for speech recognition.

The daemon recognises speech with faster-whisper, which runs CTranslate2 models: a C++
runtime with int8 and float16 kernels for x86 and ARM CPUs and for CUDA GPUs (a Jetson's
included), so the daemon needs neither torch nor model code of its own, and the weights can
be int8, a quarter of their float32 size, on a small CPU.  The conversion is CTranslate2's own
(ctranslate2.converters.TransformersConverter); this command adds the files faster-whisper
reads next to the weights (tokenizer.json, preprocessor_config.json), checks the result
against the Transformers model and writes the registry entry (role stt, kind ct2-whisper), so
the daemon loads it by name: [stt] model = "NAME", or telephrase loopback --stt-model NAME.

Quantization (--quantization), stored in model.bin:
  int8          the default, for a small x86 or ARM CPU (a 2-core box): a quarter of float32's
                size, and CTranslate2's fast integer matrix products on a CPU.
  int8_float32  the same int8 weights; on a CPU, int8 runs as int8_float32.
  int8_float16  a Jetson's GPU: int8 weights, float16 arithmetic; the least memory, which
                the Jetson's GPU shares with its CPU ([stt] device = "cuda",
                compute_type = "int8_float16").
  float16       a Jetson's GPU where its memory allows and int8 costs accuracy you can hear
                (compute_type = "float16"); a CPU computes it in float32.
  float32       the reference, for checking a conversion; the largest files.
The daemon may run a model at another compute type than it is stored in ([stt] compute_type);
CTranslate2 converts the weights on load.

Verification: Transformers and CTranslate2 get the same log-mel features (the checkpoint's
feature extractor on the first 30 s of --audio); the encoder outputs are compared (relative
error, with a tolerance for each quantization; the largest absolute difference is shown) and
so are the greedy (beam 1) token ids of Transformers' generate and CTranslate2's decode
(token error rate against Transformers).  faster-whisper's own transcript of the audio,
with its own feature extraction, is printed alongside.  On a CPU, int8_float16 and float16
models are checked as CTranslate2 runs them there (float32 arithmetic); --device cuda checks
them on the GPU they are made for.  A model that fails verification is deleted, and gets no
registry entry.

Example:
  telephrase-export whisper ~/checkpoints/whisper-small --name whisper-small
  telephrase-export whisper ~/checkpoints/whisper-large-v3 --name whisper-large-v3 \\
      --quantization int8_float16 --origin "openai/whisper-large-v3"
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shutil
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ExportError
from .registry_entry import ExportedModel, default_registry, sha256_file, write_entry
from .steps import Steps
from .torchaudio_fallback import ensure_torchaudio


HELP = "Whisper (Transformers checkpoint) -> CTranslate2 for faster-whisper, verified against Transformers"

QUANTIZATIONS = ("int8", "int8_float16", "int8_float32", "float16", "float32")
SAMPLE = Path(__file__).resolve().parent.parent / "tools" / "samples" / "1998-15444-0001.flac"
CHECKPOINT_FILES = ("config.json", "tokenizer.json", "preprocessor_config.json")
"""What a checkpoint folder must hold besides its weights: the converter reads config.json,
faster-whisper reads the other two from the exported folder."""
RATE = 16000
WINDOW_SECONDS = 30
"""Whisper encodes 30 s at a time; the comparison is made on one window."""
MAX_NEW_TOKENS = 96
"""Greedy decoding stops here on both sides: a 30 s window of speech is rarely longer, and a
model that never emits end-of-text (a broken or random one) does not decode for minutes."""

ENCODER_TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "int8": 0.2}
"""Largest relative error of the encoder output allowed (RMS of the differences over the
reference output's RMS), by the precision of the stored weights.  The largest absolute
difference is printed too but judges nothing: Whisper's encoder output has a few channels of
outsized values, and under int8 one of a million values moved by 7.5 times the output's RMS
(Whisper base) while the transcript stayed the same.  Measured relative errors (Whisper
tiny.en and base, CPU): float32 2e-6 and 3e-6, the same arithmetic summed in another order,
with margin for 32-layer models; int8 3.5e-2 and 5.7e-2; float16 weights 1.5e-3 (base; 11
significant bits, a relative error of up to 4.9e-4 a weight), computed in float32; a GPU's
float16 arithmetic adds rounding of its own (not measured: no GPU here).  A wrongly converted
model is of order 1: two unrelated outputs of equal size are √2 apart."""
TOKEN_ERROR_TOLERANCE = {"float32": 0.0, "float16": 0.1, "int8": 0.25}
"""Largest token error rate (edits over the reference's tokens) of CTranslate2's greedy decode
against Transformers'.  float32 computes the same function, so its greedy choices must be the
same.  Rounded weights may flip a near-tie between two words (int8 Whisper tiny.en: one token
of the sample's 18), and the sample is short, so two such flips are over 10 %; a wrongly
converted decoder is wrong from its first tokens on."""


@dataclass
class Reference:
    """Transformers' results on the verification audio, taken before the conversion alters the model."""

    features: np.ndarray
    """Log-mel features, (1, mel bands, 3000): both sides get exactly these."""
    encoder_output: np.ndarray
    prompt: list[int]
    tokens: list[int]
    """Greedy decoding after the prompt, up to end-of-text."""
    text: str


@dataclass
class Figures:
    """What verification measured; ``print_figures`` shows them, ``check`` judges them."""

    precision: str
    compute_type: str
    device: str
    encoder_difference: float
    """Largest absolute difference of an encoder output value."""
    encoder_scale: float
    """Largest absolute value of the reference's encoder output."""
    encoder_error: float
    """RMS of the differences over the reference's RMS: how far the output moved as a whole."""
    reference_tokens: list[int]
    ct2_tokens: list[int]
    token_error_rate: float
    transcript: str
    reference_text: str


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT_DIR",
                   help="a Transformers WhisperForConditionalGeneration folder (config.json, weights, "
                        "tokenizer.json, preprocessor_config.json), as save_pretrained writes it")
    p.add_argument("--name", required=True, help="registry name, and the output folder's name (whisper-small)")
    p.add_argument("--quantization", choices=QUANTIZATIONS, default="int8",
                   help="weight type stored in model.bin (default int8; see above)")
    p.add_argument("--output-dir", type=Path, help="where to write the model (default: NAME/ next to the registry)")
    p.add_argument("--registry", type=Path, default=default_registry(),
                   help="registry.toml to write the entry to (default: the checkout's models/registry.toml)")
    p.add_argument("--audio", type=Path, default=SAMPLE,
                   help=f"speech to verify on, any format (default: tools/samples/{SAMPLE.name})")
    p.add_argument("--language", default="en",
                   help="language of --audio, for multilingual models' decoding prompt (default en)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where CTranslate2 runs the verification (cuda: on a Jetson, for the float16 types)")
    p.add_argument("--license", default="MIT", help="license of the weights (default MIT, OpenAI's Whisper)")
    p.add_argument("--origin", help="where the weights come from (default: the checkpoint folder)")
    p.add_argument("--description", help="one line for 'telephrase models' (default: made from the model's shape)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output folder and registry entry of the same name")


def precision(quantization: str) -> str:
    """The stored weights' precision, which sets how far the result may be from float32."""
    return "int8" if quantization.startswith("int8") else quantization


def import_transformers() -> types.ModuleType:
    """transformers, quiet, with torchaudio's stand-in where needed (``torchaudio_fallback``)."""
    ensure_torchaudio()
    transformers = importlib.import_module("transformers")
    transformers.utils.logging.disable_progress_bar()
    # generate() warns about its own generation_config for every Whisper checkpoint.
    transformers.utils.logging.set_verbosity_error()
    return transformers


def _paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """The checkpoint, output folder and registry, checked before anything slow runs."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", args.name):
        raise ExportError(f"--name {args.name!r} is not a usable model name (letters, digits, '.', '_', '-')")
    checkpoint = args.checkpoint.resolve()
    if not checkpoint.is_dir():
        raise ExportError(f"checkpoint folder {args.checkpoint} not found (give the folder that "
                          "save_pretrained wrote, holding config.json and the weights)")
    missing = [f for f in CHECKPOINT_FILES if not (checkpoint / f).is_file()]
    if missing:
        raise ExportError(f"{args.checkpoint} has no {', '.join(missing)} (fix: WhisperProcessor.from_pretrained"
                          "(ORIGINAL).save_pretrained(CHECKPOINT_DIR) writes the tokenizer and feature extractor)")
    if not args.audio.is_file():
        raise ExportError(f"audio {args.audio} not found (give --audio FILE with speech to verify on)")
    registry = args.registry.resolve()
    output = (args.output_dir or registry.parent / args.name).resolve()
    if output == registry.parent or not output.is_relative_to(registry.parent):
        raise ExportError(f"output folder {output} must be a folder inside {registry.parent}, where the "
                          "registry finds its files (fix: another --output-dir, or --registry)")
    if checkpoint.is_relative_to(output):
        raise ExportError(f"output folder {output} holds the checkpoint; it is replaced by the export "
                          "(fix: another --output-dir)")
    if output.exists() and not args.force:
        raise ExportError(f"{output} exists (fix: --force to replace it, or another --name)")
    if registry.is_file() and not args.force:
        from telephrase.errors import ModelError
        from telephrase.registry import load_registry

        try:
            taken = args.name in load_registry(registry)
        except ModelError as e:
            raise ExportError(str(e)) from None
        if taken:
            raise ExportError(f"{registry} already has a model '{args.name}' "
                              "(fix: --force to replace it, or another --name)")
    return checkpoint, output, registry


def load_checkpoint(checkpoint: Path) -> tuple[Any, Any, Any]:
    """The Transformers model in float32 (the reference, whatever the checkpoint stores), its
    tokenizer and its feature extractor."""
    transformers = import_transformers()
    config = transformers.AutoConfig.from_pretrained(checkpoint)
    if config.model_type != "whisper":
        raise ExportError(f"{checkpoint} holds a '{config.model_type}' model, not Whisper")
    model = transformers.WhisperForConditionalGeneration.from_pretrained(checkpoint).float().eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
    extractor = transformers.WhisperFeatureExtractor.from_pretrained(checkpoint)
    if len(tokenizer) > model.config.vocab_size:
        raise ExportError(f"the tokenizer has {len(tokenizer)} tokens but the model only {model.config.vocab_size} "
                          "(fix: save the tokenizer the model was trained with into the checkpoint)")
    if extractor.feature_size != model.config.num_mel_bins:
        raise ExportError(f"preprocessor_config.json makes {extractor.feature_size} mel bands, the model takes "
                          f"{model.config.num_mel_bins} (fix: save the model's own feature extractor)")
    return model, tokenizer, extractor


def convert(model: Any, checkpoint: Path, output: Path, quantization: str) -> list[str]:
    """CTranslate2's conversion of the already loaded model; returns the folder's file names.

    The converter would load the checkpoint a second time (gigabytes for large-v3); handing it
    the loaded model instead is the hook its ``load_model`` exists for.  The converter
    quantizes the model's weight tensors in place, so the model is no reference afterwards:
    ``reference`` must run first.
    """
    import_transformers()
    from ctranslate2.converters import TransformersConverter

    class Converter(TransformersConverter):
        def load_model(self, model_class: type, model_name_or_path: str, **kwargs: Any) -> Any:
            return model

    converter = Converter(str(checkpoint), copy_files=["tokenizer.json", "preprocessor_config.json"])
    try:
        converter.convert(str(output), quantization=quantization, force=True)
    except (ValueError, NotImplementedError, RuntimeError) as e:
        raise ExportError(f"CTranslate2 cannot convert {checkpoint}: {e}") from None
    return sorted(p.name for p in output.iterdir() if p.is_file())


def prompt(tokenizer: Any, multilingual: bool, language: str) -> list[int]:
    """The decoder prompt Transformers' generate uses for transcription without timestamps."""
    tokens = ["<|startoftranscript|>"]
    if multilingual:
        tokens += [f"<|{language}|>", "<|transcribe|>"]
    tokens.append("<|notimestamps|>")
    ids = tokenizer.convert_tokens_to_ids(tokens)
    unknown = [t for t, i in zip(tokens, ids) if i is None or i == tokenizer.unk_token_id]
    if unknown:
        raise ExportError(f"the tokenizer has no {', '.join(unknown)} token (fix: --language CODE of a "
                          "language Whisper knows)")
    return ids


def token_error_rate(reference: list[int], hypothesis: list[int]) -> float:
    """Levenshtein edits from ``reference`` to ``hypothesis`` over the reference's length: a
    flipped token counts once, not as everything greedy decoding says after it."""
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        current = [i]
        for j, h in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(len(reference), 1)


def _until_end(tokens: list[int], start: list[int], eos: int) -> list[int]:
    """Generated tokens without the prompt (Transformers 4 returns it, 5 does not) and
    without end-of-text or the padding after it."""
    if tokens[: len(start)] == start:
        tokens = tokens[len(start):]
    return tokens[: tokens.index(eos)] if eos in tokens else tokens


def multilingual(config: Any) -> bool:
    """Transformers' and CTranslate2's own test: English-only Whisper models have one token less."""
    return config.vocab_size >= 51865


def reference(model: Any, tokenizer: Any, extractor: Any, audio: np.ndarray, language: str) -> Reference:
    """Transformers' float32 encoder output and greedy transcription of ``audio``."""
    import torch

    start = prompt(tokenizer, multilingual(model.config), language)
    eos = model.generation_config.eos_token_id
    eos = eos[0] if isinstance(eos, list) else eos
    features = extractor(audio, sampling_rate=RATE, return_tensors="np").input_features.astype(np.float32)
    decode = {"language": language, "task": "transcribe"} if multilingual(model.config) else {}
    with torch.no_grad():
        encoded = model.model.encoder(torch.from_numpy(features)).last_hidden_state.numpy()
        try:
            generated = model.generate(torch.from_numpy(features), num_beams=1, do_sample=False,
                                       max_new_tokens=MAX_NEW_TOKENS, return_timestamps=False, **decode)
        except ValueError as e:
            raise ExportError(f"Transformers cannot decode with the checkpoint's generation_config.json ({e}) "
                              "(fix: save the original model's generation config into the checkpoint)") from None
    tokens = _until_end(generated[0].tolist(), start, eos)
    return Reference(features, encoded, start, tokens, tokenizer.decode(tokens, skip_special_tokens=True).strip())


def compare(ref: Reference, output: Path, audio: np.ndarray, quantization: str, device: str,
            language: str) -> Figures:
    """CTranslate2 on the reference's features, and faster-whisper on the audio itself."""
    import ctranslate2
    from faster_whisper import WhisperModel

    try:
        supported = ctranslate2.get_supported_compute_types(device)
    except (RuntimeError, ValueError) as e:
        raise ExportError(f"CTranslate2 cannot run on {device} here ({e}) (fix: --device cpu)") from None
    compute_type = quantization if quantization in supported else \
        "int8_float32" if precision(quantization) == "int8" else "float32"
    model = WhisperModel(str(output), device=device, compute_type=compute_type, cpu_threads=os.cpu_count() or 1,
                         local_files_only=True)
    encoded = np.asarray(model.model.encode(ctranslate2.StorageView.from_array(ref.features), to_cpu=True))
    # CTranslate2's Whisper decodes at most max_length / 2 new tokens, as OpenAI's decodes
    # n_text_ctx / 2.
    result = model.model.generate(ctranslate2.StorageView.from_array(encoded), [ref.prompt], beam_size=1,
                                  max_length=2 * MAX_NEW_TOKENS, suppress_blank=True, suppress_tokens=[-1])
    tokens = result[0].sequences_ids[0][:MAX_NEW_TOKENS]
    segments, _ = model.transcribe(audio, language=language if model.model.is_multilingual else None,
                                   beam_size=1, temperature=0.0, without_timestamps=True,
                                   condition_on_previous_text=False, vad_filter=False)
    return Figures(
        precision=precision(quantization),
        compute_type=model.model.compute_type,
        device=device,
        encoder_difference=float(np.abs(encoded - ref.encoder_output).max()),
        encoder_scale=float(np.abs(ref.encoder_output).max()),
        encoder_error=float(np.linalg.norm(encoded - ref.encoder_output) / np.linalg.norm(ref.encoder_output)),
        reference_tokens=ref.tokens,
        ct2_tokens=tokens,
        token_error_rate=token_error_rate(ref.tokens, tokens),
        transcript="".join(s.text for s in segments).strip(),
        reference_text=ref.text,
    )


def print_figures(f: Figures) -> None:
    tokens = "identical" if f.reference_tokens == f.ct2_tokens else \
        f"token error rate {100 * f.token_error_rate:.1f} %"
    print(f"CTranslate2 {f.compute_type} on {f.device} against Transformers float32:")
    print(f"  encoder: relative error {f.encoder_error:.2e} (tolerance {ENCODER_TOLERANCE[f.precision]:g}), largest "
          f"difference {f.encoder_difference:.3g} (values up to {f.encoder_scale:.3g})")
    print(f"  greedy decoding: {len(f.reference_tokens)} tokens from Transformers, {len(f.ct2_tokens)} from "
          f"CTranslate2, {tokens} (tolerance {100 * TOKEN_ERROR_TOLERANCE[f.precision]:g} %)")
    print(f"  Transformers: {f.reference_text[:100]!r}")
    print(f"  faster-whisper: {f.transcript[:100]!r}")


def check(f: Figures) -> None:
    """Raise ExportError when the export is further from the checkpoint than its precision
    allows: a model that fails here must not reach the registry, where the daemon would load it."""
    problems = []
    if not f.encoder_error <= ENCODER_TOLERANCE[f.precision]:
        problems.append(f"the encoder output's relative error is {f.encoder_error:.2e} "
                        f"(> {ENCODER_TOLERANCE[f.precision]:g})")
    if f.token_error_rate > TOKEN_ERROR_TOLERANCE[f.precision]:
        problems.append(f"greedy decoding differs in {100 * f.token_error_rate:.1f} % of the tokens "
                        f"(> {100 * TOKEN_ERROR_TOLERANCE[f.precision]:g} %)")
    if problems:
        raise ExportError(f"the export disagrees with the checkpoint: {'; '.join(problems)}; nothing was "
                          "written (fix: try --quantization float32 to tell a conversion fault from "
                          "quantization loss)")


def run(args: argparse.Namespace) -> int:
    checkpoint, output, registry = _paths(args)
    from telephrase.audio.files import read_audio
    from telephrase.errors import AudioError

    try:
        audio = read_audio(args.audio, RATE)[: WINDOW_SECONDS * RATE]
    except AudioError as e:
        raise ExportError(str(e)) from None
    steps = Steps(5)
    with steps(f"loading {checkpoint.name} with Transformers"):
        model, tokenizer, extractor = load_checkpoint(checkpoint)
    with steps(f"transcribing {args.audio.name} with Transformers (the reference)"):
        expected = reference(model, tokenizer, extractor, audio, args.language)
    with steps(f"converting to CTranslate2 {args.quantization} in {output}"):
        files = convert(model, checkpoint, output, args.quantization)
    with steps(f"comparing CTranslate2 {args.quantization} with the reference"):
        figures = compare(expected, output, audio, args.quantization, args.device, args.language)
    print_figures(figures)
    try:
        check(figures)
    except ExportError:
        shutil.rmtree(output)
        raise
    config = model.config
    languages = "multilingual" if multilingual(config) else "English only"
    with steps(f"writing the registry entry '{args.name}' to {registry}"):
        write_entry(ExportedModel(
            name=args.name, role="stt", kind="ct2-whisper",
            description=args.description or (
                f"Whisper ({config.encoder_layers}+{config.decoder_layers} layers, width {config.d_model}), "
                f"{languages}, CTranslate2 {args.quantization}"),
            license=args.license,
            origin=args.origin or f"{checkpoint}, converted by telephrase-export whisper",
            directory=output, files=files,
        ), registry)
    size = sum((output / f).stat().st_size for f in files)
    print(f"{output}: {len(files)} files, {size / 1e6:.1f} MB; model.bin sha256 {sha256_file(output / 'model.bin')}")
    print(f"load it with: telephrase loopback --stt-model {args.name}  (or [stt] model = \"{args.name}\")")
    return 0
