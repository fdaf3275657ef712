#!/usr/bin/env bash
# scripts/tempest.sh [--lab NAME] [--keep] — tempest's network API tests against a Neutrino lab
# with Keystone, through ../shared/clients/tempest-run.sh; the last line is the figure.
#
# Without --lab it brings up a lab of its own (one compute) and takes it down at the end
# (--keep leaves it running); --lab uses a running lab, through the Keystone accounts of its
# clouds.yaml (neutrino-admin, neutrino-demo). Then, as the admin account: the accounts of
# accounts.yaml.tmpl (demo, demo-reader, alt, alt-reader; the lab's demo keeps its password), the
# quotas the neutron-tempest-plugin jobs set, and the external network `public` (flat,
# extnet, 192.168.100.0/24 as the lab's upstream).
#
# Environment: LAB_STATE_DIR (a lab made with --state-dir), TEMPEST_VENV and OSC (default: the
# venvs under /var/cache/neutrino), TEMPEST_REGEX and the other knobs of tempest-run.sh, CLIENTS
# (the folder of tempest-run.sh, default ../shared/clients beside the repository).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NEUTRINO=$ROOT/.venv/bin/neutrino
PY=$ROOT/.venv/bin/python
CLIENTS=${CLIENTS:-$(cd "$ROOT/.." && pwd)/shared/clients}
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
[ -x "$TEMPEST_VENV/bin/tempest" ] || { echo "no tempest in $TEMPEST_VENV (build it: VENV_ROOT=$(dirname "$TEMPEST_VENV") $CLIENTS/setup.sh)" >&2; exit 2; }

OWN=0
cleanup() { if [ "$OWN" = 1 ] && [ "$KEEP" = 0 ]; then "$NEUTRINO" lab down --name "$LAB" >/dev/null; fi; }
trap cleanup EXIT
if [ -z "$LAB" ]; then
  LAB=tempest$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
  OWN=1
  "$NEUTRINO" lab up --name "$LAB" --computes 1
fi
STATE=${LAB_STATE_DIR:-/var/lib/neutrino/labs/$LAB}

[ -f "$STATE/lab.json" ] || { echo "no lab $LAB (state $STATE)" >&2; exit 2; }

# The lab's Keystone accounts from its clouds.yaml: "url admin-password demo-password".
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

if [ "$KS" = "-" ]; then
  echo "lab $LAB has no Keystone accounts in $STATE/clouds.yaml (made before identity?): run" \
       "'neutrino lab up --name $LAB' again, it turns Keystone on" >&2
  exit 2
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
