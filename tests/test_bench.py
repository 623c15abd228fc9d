import json

import pytest

from conftest import SAMPLES
from telephrase.bench.corpus import format_table, read_manifest, run_bench, write_json
from telephrase.errors import TelephraseError

pytestmark = pytest.mark.slow


def test_bench_on_the_shipped_samples(engines, tmp_path):
    utterances = read_manifest(SAMPLES / "manifest.tsv")
    assert len(utterances) == 3 and all(u.path.is_file() for u in utterances)
    result = run_bench(engines, utterances[:2], progress=False)
    s = result["summary"]
    assert s["utterances"] == 2 and s["failed"] == 0
    # 2 or 3 errors in these 28 words, by the CPU's int8 kernels (test_baselines.py).
    assert s["wer_source"] <= 0.15 and s["wer_roundtrip"] <= 0.2
    assert 0 < s["payload_bps"] < s["onair_bps"] < 200
    assert 0 < s["rtf_stt"] < 2 and 0 < s["rtf_tts"] < 1
    assert s["duration_pairs_exact"] > 10 and s["duration_pairs_exact_off"] > 10
    assert -1 <= s["duration_corr_exact"] <= 1 and -1 <= s["duration_corr_exact_off"] <= 1
    table = format_table(result)
    assert "wer_roundtrip" in table and utterances[0].id in table
    write_json(result, tmp_path / "b.json")
    assert json.loads((tmp_path / "b.json").read_text())["summary"] == s


def test_manifest_errors(tmp_path):
    bad = tmp_path / "m.tsv"
    bad.write_text("id\tfile\n1\ta.wav\n")
    with pytest.raises(TelephraseError, match="lacks column"):
        read_manifest(bad)
    with pytest.raises(TelephraseError, match="cannot read manifest"):
        read_manifest(tmp_path / "none.tsv")
