#!/usr/bin/env bash
# Makes a local PostgreSQL server available for the internal/kv/pgkv tests on a Debian machine,
# as root, without docker, and prints the URL the tests read from MICA_TEST_POSTGRES:
#
#   export MICA_TEST_POSTGRES="$(.ci/postgres.sh)"     # prints the URL only
#   eval "$(.ci/postgres.sh --export)"                 # prints: export MICA_TEST_POSTGRES='...'
#
# What it does: installs the `postgresql` package with apt if the server is missing
# (PostgreSQL 15 on Debian 12), creates the Debian cluster "<version> main" if there is none,
# starts it with pg_ctlcluster, creates the role and database mica_test (password mica_test)
# and checks that the URL accepts a connection. Every step is skipped when already done, so
# running it again reuses the same server, role and database. Quiet on success: stdout has the
# one line above; on failure it prints the failing step's output and a message on stderr and
# exits non-zero.
#
# Environment: MICA_PG_VERSION picks the server version (default 15 if installed, else the
# newest installed); MICA_PG_DB, MICA_PG_USER, MICA_PG_PASSWORD override the names.
set -euo pipefail

db=${MICA_PG_DB:-mica_test}
user=${MICA_PG_USER:-mica_test}
pass=${MICA_PG_PASSWORD:-mica_test}
mode=url
case "${1:-}" in
"") ;;
--export) mode=export ;;
*)
	echo "usage: $0 [--export]" >&2
	exit 2
	;;
esac

die() {
	echo "postgres.sh: $*" >&2
	exit 1
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# run CMD...: runs a step quietly; on failure shows its output and stops.
run() {
	if ! "$@" >"$log" 2>&1; then
		cat "$log" >&2
		die "failed: $*"
	fi
}

for name in "$db" "$user"; do
	[[ $name =~ ^[a-z_][a-z0-9_]*$ ]] || die "invalid database or role name: $name"
done
[[ $pass != *"'"* ]] || die "the password must not contain a single quote"
[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts the system cluster)"

have_server() {
	command -v pg_ctlcluster >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}
if ! have_server; then
	command -v apt-get >/dev/null || die "PostgreSQL is not installed and apt-get is not available"
	export DEBIAN_FRONTEND=noninteractive
	run apt-get update -q
	run apt-get install -y -q postgresql
	have_server || die "apt-get installed postgresql but pg_ctlcluster or the server binaries are still missing"
fi

version=${MICA_PG_VERSION:-}
if [ -z "$version" ]; then
	if [ -x /usr/lib/postgresql/15/bin/postgres ]; then
		version=15
	else
		version=$(ls /usr/lib/postgresql | sort -n | tail -1)
	fi
fi
[ -x "/usr/lib/postgresql/$version/bin/postgres" ] || die "PostgreSQL $version is not installed (see /usr/lib/postgresql)"

# cluster_field N: field N of `pg_lsclusters` for "<version> main" (3 = port, 4 = status).
cluster_field() {
	pg_lsclusters --no-header | awk -v v="$version" -v f="$1" '$1 == v && $2 == "main" { print $f }'
}
if [ -z "$(cluster_field 3)" ]; then
	run pg_createcluster "$version" main
fi
if [ "$(cluster_field 4)" != online ]; then
	run pg_ctlcluster "$version" main start
fi
port=$(cluster_field 3)
[ -n "$port" ] || die "cluster $version/main has no port (pg_lsclusters)"

ready=
for _ in $(seq 1 60); do
	if pg_isready -q -h 127.0.0.1 -p "$port"; then
		ready=1
		break
	fi
	sleep 0.5
done
[ -n "$ready" ] || die "cluster $version/main does not accept connections on 127.0.0.1:$port after 30s (see /var/log/postgresql/postgresql-$version-main.log)"

# Role and database, created if missing; the password is set on every run.
run sh -c "cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p '$port' -d postgres" <<SQL
SELECT format('CREATE ROLE %I LOGIN', '$user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') \gexec
ALTER ROLE "$user" LOGIN PASSWORD '$pass';
SELECT format('CREATE DATABASE %I OWNER %I', '$db', '$user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db') \gexec
SQL

url="postgres://$user:$pass@127.0.0.1:$port/$db?sslmode=disable"
out=$(psql -X -At -d "$url" -c 'SELECT 1' 2>&1) || die "cannot connect to $url: $out"
[ "$out" = 1 ] || die "unexpected answer from $url: $out"

if [ "$mode" = export ]; then
	printf "export MICA_TEST_POSTGRES='%s'\n" "$url"
else
	printf '%s\n' "$url"
fi
