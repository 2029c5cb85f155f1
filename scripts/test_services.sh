#!/usr/bin/env bash
# The services the full test suite needs, installed and started if missing (Debian / Ubuntu):
#   * a PostgreSQL server with a `coachrl` role and a `coachrl_test` database on 127.0.0.1:5432
#     (the store's tests run against it as well as SQLite);
#   * Chromium and its WebDriver (the web app's real-browser test).
# `make test` runs this first. It needs root (or passwordless sudo) for apt-get and for the
# server; without them it says what is missing and exits 0, and the tests that need a
# service fail when COACHRL_REQUIRE_SERVICES=1 (as `make test` sets), else skip.
# Prints nothing else on success but one line per service.
set -euo pipefail

ROLE=coachrl
DB=coachrl_test

if [[ $(id -u) -eq 0 ]]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
else
  echo "[services] not root and no passwordless sudo: PostgreSQL and Chromium not set up" >&2
  exit 0
fi

apt_install() {  # apt_install PACKAGE... (quietly; updates the index once if needed)
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y -q --no-install-recommends "$@" >/tmp/coachrl-apt.log 2>&1; then
    $SUDO apt-get update -q >>/tmp/coachrl-apt.log 2>&1
    $SUDO apt-get install -y -q --no-install-recommends "$@" >>/tmp/coachrl-apt.log 2>&1 || {
      echo "[services] apt-get install $* failed (see /tmp/coachrl-apt.log)" >&2; return 1; }
  fi
}

# PostgreSQL: Debian's package and its default cluster.
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  echo "[services] installing PostgreSQL" >&2
  apt_install postgresql
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -q "^$version main$"; then
  $SUDO pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | grep "^$version main" | grep -q online; then
  $SUDO pg_ctlcluster "$version" main start
fi
as_postgres() { $SUDO su postgres -c "psql -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
if [[ -z $(as_postgres "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'") ]]; then
  as_postgres "CREATE ROLE $ROLE LOGIN PASSWORD '$ROLE' CREATEDB"
fi
if [[ -z $(as_postgres "SELECT 1 FROM pg_database WHERE datname = '$DB'") ]]; then
  as_postgres "CREATE DATABASE $DB OWNER $ROLE"
fi
echo "[services] PostgreSQL $version: postgresql+psycopg://$ROLE:$ROLE@127.0.0.1:5432/$DB" >&2

# Chromium and chromedriver for the browser test.
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  echo "[services] installing Chromium and chromedriver" >&2
  apt_install chromium chromium-driver
fi
echo "[services] $(chromium --version 2>/dev/null | head -1)" >&2
