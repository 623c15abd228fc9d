"""tools/channel_sim.py between ``telephrase encode`` and ``telephrase decode``, as pipes."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, SAMPLES

pytestmark = pytest.mark.slow


def _pipe(sample: str, *channel: str) -> tuple[dict, dict, dict]:
    encode = subprocess.run([sys.executable, "-m", "telephrase", "encode", sample, "-o", "-", "--json", "--mtu", "32"],
                            capture_output=True, timeout=300, check=True)
    sim = subprocess.run([sys.executable, str(ROOT / "tools" / "channel_sim.py"), *channel],
                         input=encode.stdout, capture_output=True, timeout=60, check=True)
    decode = subprocess.run([sys.executable, "-m", "telephrase", "decode", "-", "-o", "/dev/null", "--json"],
                            input=sim.stdout, capture_output=True, timeout=300, text=False)
    sent = json.loads(encode.stderr.decode().strip().splitlines()[-1])
    got = json.loads(decode.stdout) if decode.returncode == 0 else {"error": decode.stderr.decode()}
    return sent, json.loads(sim.stderr.decode().strip().splitlines()[-1]), got


def test_pipeline_through_a_noisy_channel(samples):
    sent, channel, got = _pipe(str(SAMPLES / samples[2]["path"]), "--ber", "1e-3", "--bandwidth", "40", "--seed", "4")
    assert channel["frames"] == sent["frames"] > 1 and channel["bits_flipped"] > 0
    assert channel["air_seconds"] == pytest.approx(8 * sent["file_bytes"] / 40, rel=1e-6)
    assert got["messages"] == [sent["transcript"]]


def test_lost_frames_lose_the_message_but_nothing_is_spoken_wrong(samples):
    sent, channel, got = _pipe(str(SAMPLES / samples[2]["path"]), "--loss", "1.0", "--seed", "1")
    assert channel["lost"] >= 1
    assert "no complete message" in got["error"]


def test_bad_channel_settings_are_one_line_errors():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "channel_sim.py"), "--ber", "2"],
                            input=b"", capture_output=True, timeout=60)
    assert result.returncode == 2 and b"ber must be a probability" in result.stderr
