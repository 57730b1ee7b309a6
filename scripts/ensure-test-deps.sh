#!/bin/sh
# Makes sure the Debian packages the tests need are installed (the tests start
# their own servers on free loopback ports): redis-server for the budget tests,
# promtool/prometheus for the alert and dashboard tests, PostgreSQL for the
# audit database sink, openssl for the Kubernetes webhook's test certificates.
# The test machines run as root; elsewhere the tests that need a missing
# package say why they skip (and fail under CI=true).
set -eu
need=""
command -v redis-server >/dev/null 2>&1 || need="$need redis-server"
command -v promtool >/dev/null 2>&1 || need="$need prometheus"
command -v prometheus >/dev/null 2>&1 || case "$need" in *prometheus*) ;; *) need="$need prometheus" ;; esac
# openssl makes the webhook tests' serving certificates.
command -v openssl >/dev/null 2>&1 || need="$need openssl"
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
[ -z "$need" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-test-deps: missing:$need and this is not root; the tests that need them will skip (or fail under CI=true)" >&2
  exit 0
fi
echo "ensure-test-deps: installing$need" >&2
apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
