#!/bin/sh
# Run once by the postgres image on an empty data directory: one database per service, owned
# by the platform's role, and the gateway's login role (its grants come after the migrations).
set -eu
for service in crm files gateway mes notifier shop; do
  psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres \
    -c "CREATE DATABASE alexandrite_${service} OWNER $POSTGRES_USER"
done
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres \
  -v password="$(cat /run/secrets/gateway-database-password)" <<'SQL'
CREATE ROLE alexandrite_gateway_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
SQL
