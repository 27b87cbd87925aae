#!/bin/sh
# As in the official image: arguments that start with "-" are nats-server's flags.
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- nats-server "$@"
fi
exec "$@"
