"""The Debian package's sources agree with the unit and stay within their own prefix.

Building and installing the package takes minutes and root; packaging/ci-deb.sh does that in CI.
These checks are the quick ones: the scripts parse, the maintainer scripts create what the unit
expects, and no lintian override reaches outside /opt/telephrase.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from test_unit_file import parse_unit

PACKAGING = ROOT / "packaging"
MAINTAINER_SCRIPTS = ["postinst", "prerm", "postrm"]


@pytest.mark.parametrize("script", MAINTAINER_SCRIPTS)
def test_maintainer_scripts_are_posix_sh(script):
    path = PACKAGING / "deb" / script
    assert path.read_text().startswith("#!/bin/sh\n") and "set -e\n" in path.read_text()
    # dpkg runs them with /bin/sh, dash on Debian and Ubuntu: no bashisms.
    shell = shutil.which("dash") or shutil.which("sh")
    result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", ["build-deb.sh", "ci-deb.sh"])
def test_build_scripts_parse(script):
    path = PACKAGING / script
    assert "set -euo pipefail" in path.read_text()
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_postinst_creates_the_directories_of_the_unit():
    service = {key: values[-1] for key, values in parse_unit((ROOT / "systemd" / "telephrase.service").read_text())
               ["Service"].items()}
    postinst = (PACKAGING / "deb" / "postinst").read_text()
    user = service["User"]
    modes = {"StateDirectory": ("/var/lib/", service.get("StateDirectoryMode", "0755")),
             "CacheDirectory": ("/var/cache/", service.get("CacheDirectoryMode", "0755")),
             "LogsDirectory": ("/var/log/", service.get("LogsDirectoryMode", "0755"))}
    for key, (base, mode) in modes.items():
        directory = base + service[key]
        line = next((line for line in postinst.splitlines() if line.startswith("install -d") and directory in line),
                    None)
        assert line is not None, f"postinst does not create {directory} ({key}=)"
        assert f"-o {user} -g {service['Group']} -m {mode}" in line, line
    assert f"--system --group --home /var/lib/{service['StateDirectory']}" in postinst
    # The package links the console script where ExecStart= expects it.
    assert service["ExecStart"].split()[0] == "/usr/bin/telephrase"
    assert 'ln -s "$PREFIX/venv/bin/telephrase" "$STAGE/usr/bin/telephrase"' in (PACKAGING / "build-deb.sh").read_text()


def test_purge_removes_what_postinst_created():
    postinst = (PACKAGING / "deb" / "postinst").read_text()
    postrm = (PACKAGING / "deb" / "postrm").read_text()
    created = set(re.findall(r"/var/(?:lib|cache|log)/telephrase", postinst))
    assert created and all(path in postrm for path in created)
    assert "rm -rf /etc/telephrase" in postrm and "deluser" in postrm


def test_lintian_overrides_stay_in_the_venv():
    for line in (PACKAGING / "deb" / "lintian-overrides").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.fullmatch(r"telephrase: [a-z0-9-]+ (\S+ )?\[opt/telephrase/\S*\]", line), line
