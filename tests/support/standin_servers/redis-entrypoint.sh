#!/bin/sh
# Stand-in for docker-library/redis's docker-entrypoint.sh (7.4, alpine), written for the engine tier.
# Its contract: a first argument starting with `-` or ending in `.conf` means `redis-server <args>`;
# only when the command is `redis-server` and it runs as root does it give the working directory
# (/data) to redis and drop to redis. Any other command (`sh -c ...`) runs as given, as whoever started
# it: as root, without CHOWN/DAC_OVERRIDE, it cannot write a redis-owned /data.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec gosu redis "$0" "$@"
fi

um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi

exec "$@"
