#!/usr/bin/env bash
# The official postgres image's entrypoint, in short: on the first start (an
# empty PGDATA) make the cluster with POSTGRES_USER/POSTGRES_PASSWORD, create
# POSTGRES_DB, run /docker-entrypoint-initdb.d/*.sql and *.sh against it on a
# server reachable only through its Unix socket, then start the real server.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?is required: the database is reachable over the network}"
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS holds several arguments
    initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        ${POSTGRES_INITDB_ARGS:-} --pgdata="$PGDATA"
    printf 'host all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"

    pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait start
    psql=(psql -v ON_ERROR_STOP=1 --username="$user" --no-password --no-psqlrc)
    if [ "$db" != postgres ]; then
        "${psql[@]}" --dbname=postgres --set=db="$db" <<<'CREATE DATABASE :"db";'
    fi
    shopt -s nullglob
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh)
                echo "running $f"
                # shellcheck disable=SC1090  # the image's user provides these scripts
                . "$f"
                ;;
            *.sql) echo "running $f"; "${psql[@]}" --dbname="$db" -f "$f" ;;
            *.sql.gz) echo "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname="$db" ;;
            *) echo "ignoring $f" ;;
        esac
    done
    pg_ctl --pgdata="$PGDATA" --mode=fast --wait stop
    echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
