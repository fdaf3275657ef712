#!/usr/bin/env bash
# scripts/tempest.sh [--lab NAME] [--keep] — tempest's network API tests against a Neutrino lab
# with Keystone, through ../shared/clients/tempest-run.sh; the last line is the figure.
#
# Without --lab it brings up a lab of its own (one compute) and takes it down at the end
# (--keep leaves it running). A lab whose clouds.yaml has no Keystone account (lab up in noauth
# mode) gets its server replaced by one with --auth keystone on the same port, tagged as the
# lab's, so `neutrino lab down` still stops it. Then, as the admin account: the accounts of
# accounts.yaml.tmpl (demo, demo-reader, alt, alt-reader; the lab's demo keeps its password), the
# quotas the neutron-tempest-plugin jobs set, and the external network `public` (flat,
# extnet, 192.168.100.0/24 as the lab's upstream).
#
# Environment: LAB_STATE_DIR (a lab made with --state-dir), TEMPEST_VENV, OSC (default: /var/cache/neutrino/...), TEMPEST_REGEX and the other
# knobs of tempest-run.sh, CLIENTS (folder of tempest-run.sh, default /work/shared/clients).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NEUTRINO=$ROOT/.venv/bin/neutrino
PY=$ROOT/.venv/bin/python
CLIENTS=${CLIENTS:-/work/shared/clients}
export TEMPEST_VENV=${TEMPEST_VENV:-/var/cache/neutrino/tempest-venv}
export OSC=${OSC:-/var/cache/neutrino/clients-venv/bin/openstack}

LAB="" KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --lab) LAB=${2:?--lab needs a name}; shift 2;;
    --keep) KEEP=1; shift;;
    *) echo "usage: scripts/tempest.sh [--lab NAME] [--keep]" >&2; exit 2;;
  esac
done
[ -x "$OSC" ] || { echo "no openstack CLI at $OSC" >&2; exit 2; }
[ -x "$TEMPEST_VENV/bin/tempest" ] || { echo "no tempest in $TEMPEST_VENV" >&2; exit 2; }

OWN=0
if [ -z "$LAB" ]; then
  LAB=tempest$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
  OWN=1
  "$NEUTRINO" lab up --name "$LAB" --computes 1
fi
STATE=${LAB_STATE_DIR:-/var/lib/neutrino/labs/$LAB}
MINE=$STATE/tempest-keystone
cleanup() {
  if [ "$OWN" = 1 ] && [ "$KEEP" = 0 ]; then
    rm -f "$MINE"
    "$NEUTRINO" lab down --name "$LAB" >/dev/null
  fi
}
trap cleanup EXIT

[ -f "$STATE/lab.json" ] || { echo "no lab $LAB (state $STATE)" >&2; exit 2; }

# The lab's Keystone accounts, if its clouds.yaml has them: "url admin-password demo-password".
read -r KS PW DEMO_PW < <("$(dirname "$OSC")/python" - "$STATE/clouds.yaml" <<'EOF'
import os, sys, yaml
path = sys.argv[1]
clouds = (yaml.safe_load(open(path)) or {}).get("clouds", {}) if os.path.exists(path) else {}
auth = lambda name: (clouds.get(name) or {}).get("auth") or {}
admin, demo = auth("neutrino-admin"), auth("neutrino-demo")
ok = admin.get("auth_url") and admin.get("password")
print(admin["auth_url"] if ok else "-", admin["password"] if ok else "-",
      demo.get("password") or "-" if ok else "-")
EOF
)

# A Keystone server this script started earlier for the lab: "pid url password".
if [ "$KS" = "-" ] && [ -f "$MINE" ]; then
  read -r KPID KURL KPW < "$MINE"
  if kill -0 "$KPID" 2>/dev/null; then KS=$KURL PW=$KPW DEMO_PW=$KPW; fi
fi
if [ "$KS" = "-" ]; then
  # noauth lab: the same server, with Keystone.
  PW=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  DEMO_PW=$PW
  ENDPOINT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$STATE/lab.json")
  PORT=${ENDPOINT##*:}
  IDPORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  OLD=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("server",""))' "$STATE/pids.json")
  if [ -n "$OLD" ] && kill "$OLD" 2>/dev/null; then
    while kill -0 "$OLD" 2>/dev/null; do sleep 0.2; done
  fi
  NEUTRINO_LAB_STATE=$STATE NEUTRINO_BOOTSTRAP_ADMIN_PASSWORD=$PW NEUTRINO_BOOTSTRAP_DEMO_PASSWORD=$PW \
    setsid "$NEUTRINO" server --bind "127.0.0.1:$PORT" --db "sqlite:///$STATE/neutrino.db" \
      --transport-url "redis+socket://$STATE/redis.sock" --state-dir "$STATE/server" \
      --auth keystone --identity-bind "127.0.0.1:$IDPORT" >>"$STATE/log/server-keystone.log" 2>&1 < /dev/null &
  KPID=$!
  KS=http://127.0.0.1:$IDPORT/v3
  for _ in $(seq 150); do
    curl -sf "$KS" >/dev/null && curl -s -o /dev/null "$ENDPOINT" && break
    kill -0 "$KPID" 2>/dev/null || break
    sleep 0.2
  done
  curl -sf "$KS" >/dev/null || { echo "the Keystone server did not start, see $STATE/log/server-keystone.log" >&2; exit 1; }
  (umask 077; echo "$KPID $KS $PW" > "$MINE")
fi
export TEMPEST_PASSWORD=$PW        # tempest-run.sh looks things up as admin with it
ACC_PW=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')     # tempest's own accounts
[ "$DEMO_PW" != "-" ] || DEMO_PW=$ACC_PW
echo "# lab $LAB, keystone $KS"

WD=$(mktemp -d /tmp/neutrino-tempest.XXXXXX)
cat > "$WD/clouds.yaml" <<Y
clouds:
  admin:
    auth: {auth_url: $KS, username: admin, password: "$PW", project_name: admin,
           user_domain_name: Default, project_domain_name: Default}
    region_name: RegionOne
    identity_api_version: 3
Y
osc() { OS_CLIENT_CONFIG_FILE="$WD/clouds.yaml" "$OSC" --os-cloud admin "$@"; }
declare -A PROJECT_ID
for project in demo alt; do
  PROJECT_ID[$project]=$(osc project create --or-show --domain Default "$project" -f value -c id)
  # As the neutron-tempest-plugin jobs configure their Neutron: a test class keeps its
  # routers, groups and floating IPs until it ends, in the one project it was given.
  osc quota set --routers 100 --floating-ips 500 --secgroups 150 --secgroup-rules 1000 "$project"
done
password_of() { if [ "$1" = demo ]; then echo "$DEMO_PW"; else echo "$ACC_PW"; fi; }
for account in demo:demo:member demo-reader:demo:reader alt:alt:member alt-reader:alt:reader; do
  IFS=: read -r user project role <<<"$account"
  if ! osc user show --domain Default "$user" -f value -c id >/dev/null 2>&1; then
    osc user create --domain Default --password "$(password_of "$user")" "$user" -f value -c id >/dev/null
  elif [ "$user" != demo ]; then
    osc user set --password "$ACC_PW" "$user"
  fi
  osc role add --project "$project" --user "$user" "$role"
done
# The accounts of accounts.yaml.tmpl with two client-side fixes (tempest-run.sh takes them
# as TEMPEST_ACCOUNTS): each carries its project_id, since neutron-tempest-plugin rebuilds
# every client manager around the credentials, which resets them to what the file holds
# (without an id, `client.project_id` is None until that client's first request: PUT
# /v2.0/quotas/None); and the members come first, since tempest gives 'alt' the first free
# non-admin account in file order (else the primary project's reader).
ACCOUNTS=$WD/accounts.yaml
{
  for account in demo:demo:member alt:alt:member demo-reader:demo:reader alt-reader:alt:reader; do
    IFS=: read -r user project role <<<"$account"
    printf -- "- username: '%s'\n  project_name: '%s'\n  project_id: '%s'\n  password: '%s'\n  domain_name: 'Default'\n  roles: ['%s']\n" \
      "$user" "$project" "${PROJECT_ID[$project]}" "$(password_of "$user")" "$role"
  done
  printf -- "- username: 'admin'\n  project_name: 'admin'\n  project_id: '%s'\n  password: '%s'\n  domain_name: 'Default'\n  types: ['admin']\n" \
    "$(osc project show admin -f value -c id)" "$PW"
} > "$ACCOUNTS"
if ! osc network show public -f value -c id >/dev/null 2>&1; then
  osc network create public --external --provider-network-type flat \
      --provider-physical-network extnet -f value -c id >/dev/null
  osc subnet create public-subnet --network public --subnet-range 192.168.100.0/24 \
      --gateway 192.168.100.1 --no-dhcp --allocation-pool start=192.168.100.100,end=192.168.100.250 \
      -f value -c id >/dev/null
fi

OUT=$WD/tempest-run.out
TEMPEST_ACCOUNTS=$ACCOUNTS TEMPEST_WORKDIR=$WD/ws "$CLIENTS/tempest-run.sh" "$KS" | tee "$OUT" || true
"$PY" - "$OUT" <<'EOF'
import re, sys
last = open(sys.argv[1]).read().strip().splitlines()[-1]
m = re.match(r"(\d+) passed, (\d+) failed, (\d+) skipped", last)
if not m:
    sys.exit(f"tempest-run.sh did not finish: {last}")
passed, failed, skipped = map(int, m.groups())
ran = passed + failed
print(f"tempest: {passed} passed, {failed} failed, {skipped} skipped: "
      f"{100 * passed / ran if ran else 0:.1f} % of the non-skipped")
EOF
