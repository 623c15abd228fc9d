#!/usr/bin/env bash
# CI for the Debian package: build it, lint it, install it on this machine, use the installed
# command and unit, install it again over itself (the upgrade path of the maintainer scripts),
# then remove and purge it and check that nothing is left.  Runs as root, also in a container
# where systemd is not PID 1 (the maintainer scripts only start the service where it is).
#
# It installs the package on this machine: run it in CI or a throwaway container, not on a
# station (an installed telephrase package is purged first).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "ci-deb: needs root (it installs and purges the package)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
UNIT=/lib/systemd/system/telephrase.service
SAMPLE=/usr/share/telephrase/samples/1998-15444-0001.flac
timings=()
started=$SECONDS
lap() { timings+=("$(printf '%-34s %4d s' "$1" $((SECONDS - started)))"); started=$SECONDS; }
fail() { echo "ci-deb: FAIL: $*" >&2; exit 1; }

if ! command -v lintian >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq lintian >/dev/null
fi
if dpkg-query -W -f='${Status}' telephrase 2>/dev/null | grep -q installed; then
  apt-get purge -y -qq telephrase >/dev/null
fi
lap "setup"

make deb
deb=$(ls -t dist/telephrase_*_"$(dpkg --print-architecture)".deb | head -1)
lap "build (make deb)"

# Errors fail the job; the overrides (packaging/deb/lintian-overrides) each say why.
lintian --fail-on error --tag-display-limit 0 "$deb" | tee build/lintian.txt
echo "ci-deb: lintian: $(grep -c '^E:' build/lintian.txt || true) errors, $(grep -c '^W:' build/lintian.txt || true) warnings after overrides"
lap "lintian"

apt-get install -y -qq "./$deb" >/dev/null
lap "install (apt-get install ./…deb)"

telephrase --version
telephrase models
id telephrase
for group in audio dialout; do
  id -nG telephrase | tr ' ' '\n' | grep -qx "$group" || fail "telephrase is not in group $group"
done
grep -qx /etc/telephrase/telephrase.toml /var/lib/dpkg/info/telephrase.conffiles \
  || fail "/etc/telephrase/telephrase.toml is not a conffile"
[ -L /etc/systemd/system/multi-user.target.wants/telephrase.service ] || fail "the unit was not enabled"
dpkg --verify telephrase || fail "installed files differ from the package's md5sums"
lap "checks"

# As the service's user, with the service's cache that the postinst filled: the models are
# already verified there, and the user can read everything it needs.
out=$(mktemp -d)
chown telephrase: "$out"
runuser -u telephrase -- env TELEPHRASE_CACHE_DIR=/var/cache/telephrase \
  /usr/bin/telephrase loopback "$SAMPLE" -o "$out/loopback.wav" | tee "$out/report.txt"
grep -q '^received .*(exact)$' "$out/report.txt" || fail "the loopback message was not delivered exactly"
[ -s "$out/loopback.wav" ] || fail "the loopback wrote no audio"
rm -rf "$out"
lap "loopback (installed command)"

# verify: only what concerns this unit (a container's other units may have complaints of
# their own).  security --offline rates the file without a running systemd.
verify=$(systemd-analyze verify "$UNIT" 2>&1 || echo "exit status $?")
if grep -e telephrase.service -e "exit status" <<<"$verify"; then
  fail "systemd-analyze verify $UNIT"
fi
security=$(systemd-analyze security --offline=yes --no-pager "$UNIT")
exposure=$(sed -n 's/.*Overall exposure level for telephrase.service: \([0-9.]*\).*/\1/p' <<<"$security")
echo "ci-deb: systemd-analyze verify: clean; security exposure: $exposure"
if ! awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 3.0) }'; then
  echo "$security"
  fail "exposure ${exposure:-unknown} is above 3.0 (the table above says what counts)"
fi
lap "systemd-analyze"

# The same version over itself: prerm upgrade, unpack, postinst configure with the old version,
# the path every upgrade takes; the maintainer scripts must be idempotent.
dpkg -i "$deb" >/dev/null
telephrase --version >/dev/null
lap "reinstall over itself"

apt-get remove -y -qq telephrase >/dev/null
[ ! -e /opt/telephrase ] || fail "/opt/telephrase is left after remove"
[ ! -e /usr/bin/telephrase ] || fail "/usr/bin/telephrase is left after remove"
[ -f /etc/telephrase/telephrase.toml ] || fail "remove took the conffile (only purge may)"
apt-get purge -y -qq telephrase >/dev/null
left=()
for path in /opt/telephrase /etc/telephrase /var/lib/telephrase /var/cache/telephrase \
    /var/log/telephrase /usr/share/doc/telephrase /etc/systemd/system/telephrase.service \
    /etc/systemd/system/multi-user.target.wants/telephrase.service \
    /var/lib/systemd/deb-systemd-helper-enabled/telephrase.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-masked/telephrase.service; do
  [ ! -e "$path" ] && [ ! -L "$path" ] || left+=("$path")
done
getent passwd telephrase >/dev/null && left+=("user telephrase")
getent group telephrase >/dev/null && left+=("group telephrase")
dpkg -s telephrase >/dev/null 2>&1 && left+=("the package in dpkg's database")
[ ${#left[@]} -eq 0 ] || fail "left after purge: ${left[*]}"
lap "remove and purge"

echo "ci-deb: passed; $(du -h "$deb" | cut -f1) $deb"
printf 'ci-deb: %s\n' "${timings[@]}"
