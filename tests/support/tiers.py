"""The servers tier: a test that starts a server says so, or fails.

The mock tier computes (the program under Pulumi's mocks, validators that read a file and exit) and
reports first, on two workers. A test that starts a server on this machine (Postgres, Redis, Caddy,
moto's AWS API) is a real consumer of what berth writes, and runs in the servers tier (`-m servers`), beside
the engine and host tiers, which mostly wait (docs/testing.md). So that no server slips back into the
mock tier unseen, each server's start asks `starting(...)`, which fails a test not marked `servers`
(the engine and host tiers start theirs too).
"""

from __future__ import annotations

import pytest

TIERS_THAT_START_SERVERS = ("servers", "engine", "host")
_current: pytest.Item | None = None


def entering(item: pytest.Item | None) -> None:
    """The test whose setup, call and teardown run now (tests/conftest.py)."""
    global _current
    _current = item


def starting(server: str) -> None:
    item = _current
    if item is not None and not any(item.get_closest_marker(tier) for tier in TIERS_THAT_START_SERVERS):
        raise AssertionError(f"{item.nodeid} starts {server}: mark it `pytest.mark.servers` (a module's "
                             "`pytestmark`), so it runs in the servers tier (tests/support/tiers.py)")
