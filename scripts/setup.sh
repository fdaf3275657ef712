#!/usr/bin/env bash
# Installs what Neutrino needs and is missing: Debian packages, then a .venv
# with the pinned Python dependencies and the `neutrino` console script.
# Safe to run again: it does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES="openvswitch-switch dnsmasq-base dnsmasq-utils iptables iproute2 bridge-utils ethtool busybox
iputils-ping tcpdump iperf3 redis-server ipset conntrack arping graphviz util-linux
python3-venv python3-openvswitch $*"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The distribution's own Open vSwitch service is not used: every lab node runs
# its own daemons. Stop it if the package started it, so it holds nothing.
if [ -x /etc/init.d/openvswitch-switch ] && pgrep -x ovs-vswitchd >/dev/null 2>&1; then
    if [ -S /run/openvswitch/db.sock ] && ! pgrep -f 'neutrino' >/dev/null 2>&1; then
        /etc/init.d/openvswitch-switch stop >/dev/null 2>&1 || true
    fi
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
stamp=.venv/.neutrino-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
    echo "setup: installing pinned Python dependencies into .venv"
    .venv/bin/pip install -q --disable-pip-version-check -c requirements.lock -e '.[test]'
    touch "$stamp"
fi
# The OVSDB IDL (the `ovs` package: OVS agent, ovsdbapp) parses every update in
# pure Python unless its C JSON parser is importable: PyPI's `ovs` is built
# without it, Debian's python3-openvswitch has it for the system's Python. Link
# it into the venv when the ABI matches (its import is checked; a mismatch
# leaves the pure Python parser, which works, ~30x slower).
for ovs_dir in .venv/lib/python3*/site-packages/ovs; do
    [ -d "$ovs_dir" ] || continue
    ls "$ovs_dir"/_json.*.so >/dev/null 2>&1 && continue
    ver=$(basename "$(dirname "$(dirname "$ovs_dir")")" | sed 's/^python//; s/\.//')   # 311
    for so in /usr/lib/python3/dist-packages/ovs/_json.cpython-"$ver"-*.so; do
        [ -f "$so" ] || continue
        ln -sf "$so" "$ovs_dir/$(basename "$so")"
        if ! .venv/bin/python -c 'import ovs._json' 2>/dev/null; then
            rm -f "$ovs_dir/$(basename "$so")"
        else
            echo "setup: the OVSDB IDL uses Open vSwitch's C JSON parser ($so)"
        fi
    done
done
