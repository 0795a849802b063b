#!/bin/sh
# Node frontend stand-in entrypoint: the Next.js-style server whatever the command line.
exec node /opt/standin/server.js
