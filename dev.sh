#!/usr/bin/env bash
# Set up and run Warden on this machine.
#   ./dev.sh serve   create .venv, install Warden (again only when pyproject.toml changed),
#                    start it on the embedded defaults (SQLite ./warden.db, rules triage,
#                    built-in policy in dry-run) on :8080 (WARDEN_PORT or --port to change)
#   ./dev.sh test    create .venv, install Warden with its test tools and the Debian packages
#                    the tests and benches drive (chromium, prometheus, alertmanager, wrk), make sure PostgreSQL
#                    answers, then run ruff, mypy and the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

venv() {
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/pip install --quiet --upgrade pip >/dev/null
  .venv/bin/pip install --quiet -e ".${1:+[$1]}"
}

debian_packages() {
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
  command -v wrk >/dev/null || missing+=(wrk)
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

postgres() {
  # The suite needs a PostgreSQL server; start the local cluster if none answers.
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
}

# Install only when pyproject.toml changed since the last install (an editable install
# picks up code changes by itself): a stamp file holds the checksum it was installed at.
venv_if_changed() {
  local stamp=.venv/.installed-pyproject
  local sum
  sum="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ -x .venv/bin/warden ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    return
  fi
  venv ""
  echo "$sum" > "$stamp"
}

case "${1:-}" in
  serve)
    venv_if_changed
    shift
    exec .venv/bin/warden serve "$@"
    ;;
  test)
    debian_packages
    postgres
    venv test,local
    shift
    .venv/bin/ruff check warden tests bench
    .venv/bin/mypy
    exec .venv/bin/pytest -q "$@"
    ;;
  *)
    echo "usage: ./dev.sh serve [warden serve options] | ./dev.sh test [pytest options]" >&2
    exit 2
    ;;
esac
