#!/bin/sh
# Creates Temporal's two PostgreSQL databases and brings their schemas to the version the
# admin-tools image ships (idempotent: an existing database is updated, not recreated).
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p 5432 "$@"; }
schema=/etc/temporal/schema/postgresql/v12
for db in temporal:temporal temporal_visibility:visibility; do
  name=${db%%:*}
  dir=${db##*:}
  tool --db "$name" create || true
  tool --db "$name" setup-schema -v 0.0 || true
  tool --db "$name" update-schema -d "$schema/$dir/versioned"
done
echo "temporal schemas are up to date"
