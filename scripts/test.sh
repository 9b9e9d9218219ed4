#!/usr/bin/env bash
# Installs callwarden with its test tools into .venv, then runs the whole suite:
# lint, format check, type check, and the tests against SQLite and against PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

echo "== ruff"
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts
echo "== mypy"
.venv/bin/mypy

PG_URL="${CALLWARDEN_TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"

pg_reachable() {
    .venv/bin/python - "$PG_URL" <<'PYEOF'
import sys
import sqlalchemy
try:
    with sqlalchemy.create_engine(sys.argv[1]).connect() as c:
        c.execute(sqlalchemy.text("select 1"))
except Exception as exc:
    print(f"PostgreSQL unreachable: {exc.__class__.__name__}")
    sys.exit(1)
PYEOF
}

if pg_reachable; then
    # The two halves at once: each is one mostly single-threaded pytest process, and the
    # machine has two cores (run one after the other they took twice as long). Each writes
    # its own log, printed when both are done; coverage is measured on the SQLite half.
    logs="$(mktemp -d)"
    sqlite_pid=""
    pg_pid=""
    # background jobs ignore Ctrl-C in a script: stop both halves ourselves
    trap 'kill $sqlite_pid $pg_pid 2>/dev/null; rm -rf "$logs"; exit 130' INT TERM
    echo "== tests on SQLite and on PostgreSQL ($PG_URL), side by side"
    CALLWARDEN_TEST_DATABASE_URL="" .venv/bin/pytest -q \
        --cov=callwarden --cov-report=term:skip-covered "$@" >"$logs/sqlite.log" 2>&1 &
    sqlite_pid=$!
    # its own cache directory, so `--lf` works for each half and they never write one file
    CALLWARDEN_TEST_DATABASE_URL="$PG_URL" .venv/bin/pytest -q \
        -o cache_dir=.pytest_cache/postgresql "$@" >"$logs/postgresql.log" 2>&1 &
    pg_pid=$!
    sqlite_rc=0
    pg_rc=0
    wait "$sqlite_pid" || sqlite_rc=$?
    wait "$pg_pid" || pg_rc=$?
    echo "== tests on SQLite"
    cat "$logs/sqlite.log"
    echo "== tests on PostgreSQL ($PG_URL)"
    cat "$logs/postgresql.log"
    rm -rf "$logs"
    trap - INT TERM
    if [ "$sqlite_rc" -ne 0 ] || [ "$pg_rc" -ne 0 ]; then
        echo "FAILED: SQLite half exit $sqlite_rc, PostgreSQL half exit $pg_rc" >&2
        exit 1
    fi
elif [ -n "${CI:-}" ]; then
    echo "PostgreSQL is required in CI but is not reachable at $PG_URL" >&2
    exit 1
else
    echo "== tests on SQLite"
    CALLWARDEN_TEST_DATABASE_URL="" .venv/bin/pytest -q --cov=callwarden --cov-report=term:skip-covered "$@"
    echo "== SKIPPED the PostgreSQL half: nothing answers at $PG_URL (start PostgreSQL, or set CALLWARDEN_TEST_PG_URL)"
fi
