#!/usr/bin/env bash
# tools/amqp_test_broker.sh — a RabbitMQ broker on loopback, for the tests of `shmq bridge`.
#
#   tools/amqp_test_broker.sh start     install rabbitmq-server if missing, start the node
#                                       rabbit@localhost on 127.0.0.1:5672, and wait until a
#                                       real client can publish and get a message (up to 30 s)
#   tools/amqp_test_broker.sh stop      stop that node (and epmd, unless another node uses it)
#   tools/amqp_test_broker.sh restart   stop, then start
#   tools/amqp_test_broker.sh status    exit 0 if a client can publish and get a message now
#
# Idempotent: starting a running broker or stopping a stopped one does nothing and succeeds.
# Runs without a terminal or standard input (CI), as root or through sudo. Nothing listens on
# anything but 127.0.0.1: AMQP on 5672, Erlang distribution on 25672, epmd on 4369.
#
# The client check uses Debian's python3-amqp (installed with rabbitmq-server when missing):
# `rabbitmq-diagnostics ping` answers seconds before the broker accepts a publish.
#
# Environment: SHMQ_AMQP_BROKER_WAIT (seconds to wait for the broker, default 30).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib/common.sh"

export RABBITMQ_NODENAME=rabbit@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=5672
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
# Where the node writes its pid (the Debian default for this node name); `rabbitmqctl stop`
# given this file waits until the process has exited.
pid_file=/var/lib/rabbitmq/mnesia/${RABBITMQ_NODENAME}.pid
wait_s="${SHMQ_AMQP_BROKER_WAIT:-30}"
python=/usr/bin/python3 # Debian's, with python3-amqp: not the first python3 on PATH

say() { echo "amqp_test_broker: $*" >&2; }

# A real client: connect, open a channel with publisher confirms, publish to a private queue
# and get the message back. Exit 0 when all of it works.
probe() {
    timeout 10 "$python" - 2>/dev/null <<'EOF'
import amqp
c = amqp.Connection('127.0.0.1:5672', connect_timeout=2)
c.connect()
ch = c.channel()
ch.confirm_select()
q, _, _ = ch.queue_declare('', exclusive=True)
ch.basic_publish(amqp.Message('probe'), routing_key=q)
m = ch.basic_get(q, no_ack=True)
assert m is not None and m.body in ('probe', b'probe')
c.close()
EOF
}

# The pid of our node, if it runs.
node_pid() {
    local pid
    [ -r "$pid_file" ] || return 1
    pid=$(tr -dc 0-9 < "$pid_file")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q beam "/proc/$pid/cmdline" 2>/dev/null &&
        echo "$pid"
}

start() {
    shmq_install_packages rabbitmq-server python3-amqp
    if probe; then
        say "a broker already answers on 127.0.0.1:5672"
        return 0
    fi
    if ! node_pid > /dev/null; then
        # The Debian wrapper runs the server as the rabbitmq user, keeping this environment.
        # -detached: the node runs in the background; output goes to /var/log/rabbitmq.
        (cd / && shmq_as_root env RABBITMQ_NODENAME="$RABBITMQ_NODENAME" \
            RABBITMQ_NODE_IP_ADDRESS="$RABBITMQ_NODE_IP_ADDRESS" \
            RABBITMQ_NODE_PORT="$RABBITMQ_NODE_PORT" ERL_EPMD_ADDRESS="$ERL_EPMD_ADDRESS" \
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS" \
            rabbitmq-server -detached < /dev/null > /dev/null 2>&1)
    fi
    local t0=$SECONDS
    while (( SECONDS - t0 < wait_s )); do
        if probe; then
            say "broker ready on 127.0.0.1:5672 after $((SECONDS - t0)) s"
            return 0
        fi
        sleep 0.5
    done
    say "the broker did not accept a client within ${wait_s} s; its log:"
    tail -n 30 "/var/log/rabbitmq/${RABBITMQ_NODENAME}.log" >&2 2>/dev/null || true
    stop || true
    return 1
}

stop() {
    local pid
    if pid=$(node_pid); then
        # Waits for the process to exit when given the pid file; bounded all the same.
        timeout "$wait_s" env RABBITMQ_NODENAME="$RABBITMQ_NODENAME" \
            ERL_EPMD_ADDRESS="$ERL_EPMD_ADDRESS" rabbitmqctl stop "$pid_file" \
            < /dev/null > /dev/null 2>&1 || true
        local t0=$SECONDS
        while kill -0 "$pid" 2>/dev/null && (( SECONDS - t0 < wait_s )); do
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "node did not stop within ${wait_s} s: killing pid $pid"
            shmq_as_root kill -KILL "$pid" 2>/dev/null || true
        fi
        say "broker stopped"
    fi
    # epmd outlives the node; stop it too unless another Erlang node still uses it.
    if command -v epmd > /dev/null && epmd -names > /dev/null 2>&1; then
        if ! epmd -names 2>/dev/null | grep -q '^name '; then
            epmd -kill > /dev/null 2>&1 || true
        fi
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
restart) stop && start ;;
status) probe ;;
*)
    echo "usage: $0 start|stop|restart|status" >&2
    exit 2
    ;;
esac
