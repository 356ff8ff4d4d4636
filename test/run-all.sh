#!/usr/bin/env bash
# The one command that tests everything: unit, integration (real RabbitMQ), browser (Debian chromium
# through real nginx). Works on a fresh Debian machine as root: installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "run-all: missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "run-all: installing ${missing[*]} from apt"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's package starts a system RabbitMQ node; the tests run their own private nodes and do not need it.
if pgrep -f 'rabbit@' >/dev/null 2>&1 && command -v rabbitmqctl >/dev/null 2>&1; then
  rabbitmqctl stop >/dev/null 2>&1 || true
fi

npm ci --no-audit --no-fund
npm run build
npm run typecheck
npm test -- "$@"
