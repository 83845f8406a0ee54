#!/bin/sh
# A PostgreSQL server of its own for benchmarks, set as one would set up a
# production server on this machine (24 GB, 2 cores; the settings pgtune
# suggests), on port 5433 beside the machine's default one:
#
#   bench/pg-tuned.sh start    # then: --pg postgres://postgres@127.0.0.1:5433/
#   bench/pg-tuned.sh stop
#
# The machine's own server keeps Debian's defaults (shared_buffers 128 MB,
# max_wal_size 1 GB). Since the import analyzes its tables as it grows them
# it is about as fast on both (bench/README.md, "Customer import").
set -eu
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DATA=${CB_PG_TUNED_DIR:-/tmp/cb-pg-tuned}
PORT=${CB_PG_TUNED_PORT:-5433}
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else sh -c "$*"; fi; }

case "${1:-}" in
start)
    if [ ! -d "$DATA" ]; then
        mkdir -p "$DATA"
        [ "$(id -u)" = 0 ] && chown postgres "$DATA"
        as_postgres "$BIN/initdb -D $DATA -A trust -U postgres -E UTF8 --locale=C.UTF-8" >/dev/null
        cat >>"$DATA/postgresql.conf" <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DATA'
shared_buffers = 6GB
effective_cache_size = 18GB
maintenance_work_mem = 1GB
work_mem = 64MB
max_wal_size = 16GB
min_wal_size = 2GB
checkpoint_timeout = 30min
checkpoint_completion_target = 0.9
wal_compression = lz4
wal_buffers = 64MB
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
CONF
    fi
    as_postgres "$BIN/pg_ctl -D $DATA -l $DATA/server.log -w start" >/dev/null
    # Server time by statement (bench/import_cpu_split.py --statements).
    as_postgres "$BIN/psql -h $DATA -p $PORT -U postgres -qc 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' postgres" >/dev/null
    echo "postgres://postgres@127.0.0.1:$PORT/"
    ;;
stop)
    as_postgres "$BIN/pg_ctl -D $DATA -m fast -w stop" >/dev/null
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
