#!/bin/sh
# Run once by the postgres image on an empty data directory, as the administrator
# (POSTGRES_USER), like alexandrite.ops.postgres_roles locally and the chart's init script: one
# login role per service owning only its database, CONNECT revoked from PUBLIC; the gateway's
# runtime role may connect to the gateway's database only (its table rights come after the
# migrations, from alexandrite.ops.gateway_grants).
set -eu
login_role() {  # role password-file
  psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -v role="$1" \
    -v password="$(cat "/run/secrets/$2")" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
SQL
}
owned_database() {  # database owner
  psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres \
    -c "CREATE DATABASE $1 OWNER $2" -c "REVOKE ALL ON DATABASE $1 FROM PUBLIC"
}
for service in crm files mes notifier shop; do
  login_role "alexandrite_${service}" "${service}-database-password"
  owned_database "alexandrite_${service}" "alexandrite_${service}"
done
login_role alexandrite_gateway_owner gateway-owner-database-password
owned_database alexandrite_gateway alexandrite_gateway_owner
login_role alexandrite_gateway_app gateway-database-password
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres \
  -c "GRANT CONNECT ON DATABASE alexandrite_gateway TO alexandrite_gateway_app"
