#!/usr/bin/env bash
# The project's test command: installs what the tests need (system packages,
# the package itself), starts PostgreSQL on loopback, then lints and tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
# the EGM96 geoid grid, for DJI WPML heights above the ellipsoid
[ -e /usr/share/proj/egm96_15.gtx ] || need_apt+=(proj-data)
if ((${#need_apt[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        echo "note: not root, so not installing ${need_apt[*]} (their tests will skip)"
    fi
fi

# Every dependency at the versions in the lock (hash-checked), then the package itself
# (editable, which hash-checking mode refuses, hence the second step without dependencies).
python -m pip install -q --require-hashes -r requirements/lock.txt
python -m pip install -q --no-deps -e .

# PostgreSQL on loopback in a throwaway cluster, for the tests marked `postgres`.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -n "$pg_bin" && -x "$pg_bin/initdb" ]]; then
    pg_dir=$(mktemp -d /tmp/ecopatrol-pg.XXXXXX)
    chown postgres "$pg_dir" 2>/dev/null || true
    run_pg() { if [[ $(id -u) -eq 0 ]]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
    run_pg "$pg_bin/initdb -D $pg_dir/data -U postgres -A trust >/dev/null"
    run_pg "$pg_bin/pg_ctl -D $pg_dir/data -o '-c listen_addresses=127.0.0.1 -p 55432 -k $pg_dir' -l $pg_dir/log -w start >/dev/null"
    trap 'run_pg "$pg_bin/pg_ctl -D $pg_dir/data -m fast stop >/dev/null"; rm -rf "$pg_dir"' EXIT
    export ECOPATROL_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:55432/postgres"
fi

ruff check .
ruff format --check .
mypy
lint-imports
# property tests draw a fixed seed unless told otherwise (HYPOTHESIS_PROFILE=dev for 500 random)
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
# the slowest tests, to keep CI within its 25 minutes (one run: two side by side, one
# a core, was tried and made the SITL drop-out tests hang and a planning test fail)
python -m pytest --durations=25 "$@"
