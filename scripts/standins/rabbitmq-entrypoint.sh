#!/bin/sh
# The official rabbitmq image's interface, on Debian's RabbitMQ: RABBITMQ_DEFAULT_USER and
# RABBITMQ_DEFAULT_PASS become the first user, reachable from other hosts; the management
# plugin is on (the -management image); the server runs in the foreground.
set -eu
cat > /etc/rabbitmq/rabbitmq.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER:-guest}
default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}
loopback_users = none
CONF
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
exec runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
