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
  # Debian's rabbitmq-server package starts a system node on install; the tests run private nodes of
  # their own (test/harness/rabbitmq.ts) and need none. A policy-rc.d that refuses service starts
  # (exit 101) keeps the install from starting one, so there is nothing of ours to stop afterwards.
  nodes_before=$(pgrep -f 'beam.*-s rabbit' || true)
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
    trap '[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; made_policy=; fi
  # Should the install have started a node anyway, stop that one (started by this run), and only if
  # no node ran before: RabbitMQ nodes found running are someone else's and are left alone.
  if [ -z "$nodes_before" ] && [[ " ${missing[*]} " == *" rabbitmq-server "* ]] && pgrep -f 'beam.*-s rabbit' >/dev/null 2>&1; then
    echo "run-all: stopping the system RabbitMQ node the rabbitmq-server install started"
    rabbitmqctl stop >/dev/null 2>&1 || true
  fi
fi

npm ci --no-audit --no-fund
npm run build
npm run typecheck
npm run lint
npm test -- "$@"
