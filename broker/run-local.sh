#!/usr/bin/env bash
# Runs a private RabbitMQ node natively (no Docker) with broker/rabbitmq.conf, for development and
# for operators trying the relay on one machine.
#
#   broker/run-local.sh            start (or report the running node), print BROKER_URL
#   broker/run-local.sh stop       stop the node
#   broker/run-local.sh status     exit 0 if the node is up
#
# Environment (all optional):
#   RABBITMQ_DATA_DIR  where data, logs and generated config go   (default ./.rabbitmq)
#   RABBITMQ_NODENAME  Erlang node name                            (default stomprelay@localhost)
#   STOMP_PORT         STOMP listener                              (default 61613)
#   WEB_STOMP_PORT     Web-STOMP listener                          (default 15674)
#   AMQP_PORT          AMQP listener                               (default 5672)
#   DIST_PORT          Erlang distribution port                    (default AMQP_PORT + 20000)
#   MANAGEMENT_PORT    management UI (if the plugin is present)    (default 15672)
#   RABBITMQ_BIN       folder with rabbitmq-server and rabbitmqctl (default /usr/lib/rabbitmq/bin)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command="${1:-start}"

data_dir="${RABBITMQ_DATA_DIR:-$PWD/.rabbitmq}"
node="${RABBITMQ_NODENAME:-stomprelay@localhost}"
stomp_port="${STOMP_PORT:-61613}"
web_stomp_port="${WEB_STOMP_PORT:-15674}"
amqp_port="${AMQP_PORT:-5672}"
dist_port="${DIST_PORT:-$((amqp_port + 20000))}"
management_port="${MANAGEMENT_PORT:-15672}"
bin="${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"

if [[ ! -x "$bin/rabbitmq-server" ]]; then
  echo "rabbitmq-server not found in $bin. Install it: apt-get install -y rabbitmq-server" >&2
  exit 1
fi

mkdir -p "$data_dir/home" "$data_dir/mnesia" "$data_dir/log"
data_dir="$(cd "$data_dir" && pwd)"

# A private node: its own Erlang cookie (in HOME), and no /etc/rabbitmq/rabbitmq-env.conf, whose
# settings would override the variables below.
export HOME="$data_dir/home"
: > "$data_dir/rabbitmq-env.conf"
export RABBITMQ_CONF_ENV_FILE="$data_dir/rabbitmq-env.conf"
export RABBITMQ_USE_LONGNAME=false
export RABBITMQ_NODENAME="$node"
export RABBITMQ_NODE_PORT="$amqp_port"
export RABBITMQ_DIST_PORT="$dist_port"
export RABBITMQ_MNESIA_BASE="$data_dir/mnesia"
export RABBITMQ_LOG_BASE="$data_dir/log"
export RABBITMQ_PID_FILE="$data_dir/rabbitmq.pid"
export RABBITMQ_CONFIG_FILE="$data_dir/rabbitmq.conf"
export RABBITMQ_ENABLED_PLUGINS_FILE="$data_dir/enabled_plugins"

ctl() { "$bin/rabbitmqctl" -n "$node" "$@"; }
is_up() { ctl status >/dev/null 2>&1; }
broker_url() { echo "stomp://guest:guest@127.0.0.1:$stomp_port/"; }

case "$command" in
  start)
    if is_up; then
      echo "RabbitMQ node $node is already running (data in $data_dir)."
      echo "BROKER_URL=$(broker_url)"
      exit 0
    fi
    # The shipped config with this node's ports (the same rewrite the test harness does).
    sed -e "s/^listeners\.tcp\.default = .*/listeners.tcp.default = $amqp_port/" \
        -e "s/^stomp\.listeners\.tcp\.1 = .*/stomp.listeners.tcp.1 = $stomp_port/" \
        -e "s/^web_stomp\.tcp\.port = .*/web_stomp.tcp.port = $web_stomp_port/" \
        -e "s/^management\.tcp\.port = .*/management.tcp.port = $management_port/" \
        "$here/rabbitmq.conf" > "$RABBITMQ_CONFIG_FILE"
    plugins_dir="$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins 2>/dev/null | head -n 1 || true)"
    if [[ -n "$plugins_dir" ]] && ! ls "$plugins_dir" | grep -q '^rabbitmq_management-'; then
      echo '[rabbitmq_stomp,rabbitmq_web_stomp].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    else
      cp "$here/enabled_plugins" "$RABBITMQ_ENABLED_PLUGINS_FILE"
    fi
    # RabbitMQ stalls at ~830 connections with the usual soft limit of 1024 open files.
    ulimit -n "$(ulimit -Hn)"
    echo "Starting RabbitMQ node $node (data and logs in $data_dir) ..."
    "$bin/rabbitmq-server" -detached
    # `wait` waits for the pid file, then for the node to boot (await_startup fails if it is not up yet).
    if ! ctl wait "$RABBITMQ_PID_FILE" --timeout 60 >/dev/null; then
      echo "RabbitMQ did not start; last log lines:" >&2
      tail -n 30 "$data_dir/log/$node.log" >&2 || true
      exit 1
    fi
    echo "RabbitMQ is up: STOMP on $stomp_port, Web-STOMP on $web_stomp_port, AMQP on $amqp_port."
    echo "BROKER_URL=$(broker_url)"
    ;;
  stop)
    if is_up; then
      ctl shutdown >/dev/null
      echo "RabbitMQ node $node stopped."
    else
      echo "RabbitMQ node $node is not running."
    fi
    ;;
  status)
    if is_up; then echo "running: $node, BROKER_URL=$(broker_url)"; else echo "not running: $node"; exit 1; fi
    ;;
  *)
    echo "usage: $0 [start|stop|status]" >&2
    exit 2
    ;;
esac
