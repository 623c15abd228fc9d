"""Print every distribution installed in this Python environment: name, version, license.

Run with the package's venv interpreter at build time; the output is installed as
/usr/share/doc/telephrase/python-packages.txt next to THIRD_PARTY_NOTICES.
"""

import importlib.metadata

CLASSIFIER = "License :: OSI Approved :: "


def declared_license(meta) -> str:
    """License-Expression (PEP 639), else the license classifiers, else the License field's
    first line (some projects put their whole license text there)."""
    if meta.get("License-Expression"):
        return meta["License-Expression"]
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return "; ".join(classifiers)
    first_line = (meta.get("License") or "").strip().splitlines()[:1]
    return first_line[0][:80] if first_line else "see its dist-info folder"


rows = sorted(((d.metadata["Name"], d.version, declared_license(d.metadata))
               for d in importlib.metadata.distributions()), key=lambda row: row[0].lower())
width = max(len(f"{name} {version}") for name, version, _ in rows)
print("Python distributions in /opt/telephrase/venv and their declared licenses.")
print("License texts: /opt/telephrase/venv/lib/python3.*/site-packages/<name>-<version>.dist-info/\n")
for name, version, license_ in rows:
    print(f"{name + ' ' + version:<{width}}  {license_}")
