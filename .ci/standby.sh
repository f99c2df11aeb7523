#!/usr/bin/env bash
# A streaming standby of the local PostgreSQL cluster (127.0.0.1:5432) on 127.0.0.1:${STANDBY_PORT:-5433},
# made with `pg_basebackup -R`: the read replica that DATABASE_REPLICA_URL points at in CI and in
# `make standby`. Idempotent: a standby that is already streaming is left alone; a broken one is rebuilt.
# Needs root (it edits the primary's pg_hba.conf for replication and runs the standby as postgres).
set -euo pipefail
PRIMARY_PORT=${PRIMARY_PORT:-5432}
STANDBY_PORT=${STANDBY_PORT:-5433}
version=$(ls /etc/postgresql | sort -V | tail -n 1)
BIN=/usr/lib/postgresql/$version/bin
DATA=${STANDBY_DATA:-/var/lib/postgresql/$version/standby-$STANDBY_PORT}
LOG=/var/log/postgresql/standby-$STANDBY_PORT.log
as_pg() { runuser -u postgres -- "$@"; }
psql_at() { psql -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atc "$2"; }

if pg_isready -h 127.0.0.1 -p "$STANDBY_PORT" -q \
   && [ "$(psql_at "$STANDBY_PORT" 'SELECT pg_is_in_recovery()' 2>/dev/null)" = "t" ] \
   && [ "$(psql_at "$STANDBY_PORT" "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'" 2>/dev/null)" = "1" ]; then
  echo "standby on port $STANDBY_PORT is streaming"
  exit 0
fi

# The primary must accept replication connections from the loopback (wal_level is replica by default).
hba=$(psql_at "$PRIMARY_PORT" 'SHOW hba_file')
if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32' "$hba"; then
  echo "host replication all 127.0.0.1/32 trust" >> "$hba"
  psql_at "$PRIMARY_PORT" 'SELECT pg_reload_conf()' >/dev/null
fi

if [ -f "$DATA/postmaster.pid" ]; then as_pg "$BIN/pg_ctl" -D "$DATA" -m fast stop || true; fi
rm -rf "$DATA"
# A physical replication slot keeps the primary's WAL until the standby has streamed it: without one,
# a busy primary recycles the segments written between the base backup and the standby's start,
# and the standby never catches up ("requested WAL segment ... has already been removed").
SLOT="standby_$STANDBY_PORT"
psql_at "$PRIMARY_PORT" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
# ... but never more than a bounded amount, so a standby left stopped cannot fill the primary's disk.
psql_at "$PRIMARY_PORT" "ALTER SYSTEM SET max_slot_wal_keep_size = '4GB'" >/dev/null
psql_at "$PRIMARY_PORT" 'SELECT pg_reload_conf()' >/dev/null
mkdir -p "$(dirname "$DATA")" && chown postgres:postgres "$(dirname "$DATA")"
echo "pg_basebackup of 127.0.0.1:$PRIMARY_PORT into $DATA"
as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$DATA" -R -X stream -c fast -C -S "$SLOT"
# Debian keeps the configuration outside the data directory: give the standby its own.
cat > "$DATA/postgresql.conf" <<CONF
port = $STANDBY_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '/var/run/postgresql'
hot_standby = on
hot_standby_feedback = on
max_connections = 100
shared_buffers = 64MB
autovacuum = off
CONF
cat > "$DATA/pg_hba.conf" <<CONF
local all all trust
host all all 127.0.0.1/32 trust
CONF
chown postgres:postgres "$DATA/postgresql.conf" "$DATA/pg_hba.conf"
touch "$LOG" && chown postgres:postgres "$LOG"
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 300 start
for _ in $(seq 1 30); do
  [ "$(psql_at "$STANDBY_PORT" "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'" 2>/dev/null)" = "1" ] && break
  sleep 1
done
psql_at "$STANDBY_PORT" "SELECT 'standby streaming: ' || (pg_is_in_recovery())::text"
