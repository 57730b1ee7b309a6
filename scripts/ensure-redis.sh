#!/bin/sh
# Makes sure Debian's redis-server is on PATH for the budget tests (which start
# their own on a free loopback port). The test machines run as root.
set -eu
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-redis: redis-server is missing and this is not root; the Redis budget tests will be skipped" >&2
  exit 0
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server
command -v redis-server
