#!/usr/bin/env bash
# Stand-in for docker-library/postgres's docker-entrypoint.sh (17, alpine), written for the engine tier.
# Its contract, as the official script has it: `postgres` (or a first argument starting with `-`) is the
# server command; only then, as root, it creates PGDATA, gives it to postgres (mode 700) and re-runs
# itself as postgres; as postgres, an empty PGDATA is initialised from POSTGRES_USER/PASSWORD/DB
# (a password is required unless POSTGRES_HOST_AUTH_METHOD=trust), scripts in
# /docker-entrypoint-initdb.d run once; the socket and loopback are trusted (initdb's default) and
# every other host connects with scram-sha-256. Anything else
# is exec'd as given, as root.
set -Eeo pipefail

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
	chmod 00700 "$PGDATA"
	chown postgres:postgres /var/run/postgresql
	chmod 03775 /var/run/postgresql
	exec gosu postgres "$BASH_SOURCE" "$@"
fi

if [ "$1" = 'postgres' ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}" "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
		echo 'Error: Database is uninitialized and superuser password is not specified.' >&2
		echo '       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.' >&2
		exit 1
	fi
	# No --auth: initdb's own pg_hba.conf trusts the socket and loopback, as the official image's does.
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") -D "$PGDATA" >/dev/null
	echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
	printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
	if [ "$POSTGRES_DB" != 'postgres' ]; then
		psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -q \
			-c "CREATE DATABASE \"$POSTGRES_DB\";"
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) . "$f" ;;
			*.sql) psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
