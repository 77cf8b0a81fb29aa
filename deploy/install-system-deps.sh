#!/bin/sh
# Installs what the hub needs from Debian's packages, only where it is missing:
# a Java 17+ runtime and Maven (the local Kafka broker), PostgreSQL (the store's tests) and
# Chromium (the inbox page's browser test).
# Idempotent; `make run` and `make test` call it. Uses sudo when not root.
set -eu

missing=""
command -v java >/dev/null 2>&1 || missing="$missing openjdk-17-jre-headless"
command -v mvn >/dev/null 2>&1 || missing="$missing maven"
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$missing postgresql"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"

if [ -z "$missing" ]; then
    exit 0
fi
echo "install-system-deps: installing$missing"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: no apt-get here; please install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
# Debian starts a default cluster on install; the tests run their own, so stop it.
if [ -n "$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null)" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
    $SUDO sh -c 'for c in /etc/postgresql/*/main; do [ -d "$c" ] && pg_ctlcluster "$(basename "$(dirname "$c")")" main stop || true; done' || true
fi
