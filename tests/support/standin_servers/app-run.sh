#!/bin/sh
# App stand-in entrypoint: runs the stand-in server whatever the command line (app files give their
# real servers' arguments, e.g. uvicorn's), from outside /app (a dev stack may mount a checkout there).
exec /opt/standin/bin/python3 /opt/standin/server.py
