#!/usr/bin/env bash
# Installs and starts Debian's PostgreSQL for the database tests, and prints the
# SQLAlchemy URL of a scratch database. Prints nothing (and exits 0) when it
# cannot, so that the suite runs on SQLite alone.
set -u
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1; } \
        || exit 0
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h 2>/dev/null | grep -q "^$version main"; then
    pg_createcluster "$version" main >/dev/null 2>&1 || exit 0
fi
pg_ctlcluster "$version" main start >/dev/null 2>&1 || true
for _ in $(seq 50); do
    su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
    sleep 0.1
done
su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname='root'\"" 2>/dev/null | grep -q 1 \
    || su postgres -c "createuser -s root" >/dev/null 2>&1 || exit 0
psql -qAt -d postgres -c "select 1 from pg_database where datname='neutrino_test'" 2>/dev/null | grep -q 1 \
    || createdb neutrino_test >/dev/null 2>&1 || exit 0
echo "postgresql+psycopg:///neutrino_test?host=/var/run/postgresql"
