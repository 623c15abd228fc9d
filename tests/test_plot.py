"""tools/plot_rate_wer.py draws what the benchmarks measured."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

from conftest import ROOT


def test_plot_has_every_point(tmp_path):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"summary": {"onair_bps": 53.0, "payload_bps": 35.5, "wer_roundtrip": 0.146,
                                             "wer_source": 0.103}}))
    baselines = tmp_path / "baselines.json"
    baselines.write_text(json.dumps({"source": {"wer": 0.108}, "codec2": {
        "3200": {"wer": 0.176, "bps": 3203.1}, "700C": {"wer": 0.539, "bps": 801.6}}}))
    out = tmp_path / "plot.svg"
    subprocess.run([sys.executable, str(ROOT / "tools" / "plot_rate_wer.py"), "--bench", f"{bench}:telephrase",
                    "--baselines", str(baselines), "-o", str(out)], check=True, capture_output=True, timeout=60)
    root = ET.parse(out).getroot()
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == 4
    for label in ("telephrase: 36–53 bit/s, 14.6 %", "Codec2 700C: 802 bit/s, 53.9 %", "original audio 10.8 %"):
        assert label in texts


def test_labels_do_not_overlap(tmp_path):
    runs = []
    for i, (payload, wer) in enumerate([(35.6, 0.143), (54.0, 0.167), (40.0, 0.150)]):
        path = tmp_path / f"bench{i}.json"
        path.write_text(json.dumps({"summary": {"onair_bps": payload * 1.4, "payload_bps": payload,
                                                "wer_roundtrip": wer, "wer_source": 0.1}}))
        runs += ["--bench", f"{path}:run {i}"]
    out = tmp_path / "plot.svg"
    subprocess.run([sys.executable, str(ROOT / "tools" / "plot_rate_wer.py"), *runs, "-o", str(out)],
                   check=True, capture_output=True, timeout=60)
    ys = sorted(float(t.get("y")) for t in ET.parse(out).getroot().iter("{http://www.w3.org/2000/svg}text")
                if (t.text or "").startswith("run "))
    assert len(ys) == 3 and all(b - a >= 12 for a, b in zip(ys, ys[1:]))
