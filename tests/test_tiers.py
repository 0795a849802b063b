"""Which tier a test runs in: the mock tier starts no server, and says so when one tries."""

from __future__ import annotations

import pytest

from tests.support import tiers
from tests.support.local_data import LocalPostgres
from tests.support.moto_server import MotoServer


def test_a_test_that_starts_nothing_is_in_the_mock_tier(request):
    assert request.node.get_closest_marker("mock") and not request.node.get_closest_marker("servers")


def test_starting_a_server_in_a_test_not_marked_servers_fails_naming_the_mark(request):
    with pytest.raises(AssertionError, match=f"{request.node.name} starts moto's AWS API server: mark it "
                                             r"`pytest.mark.servers`"):
        MotoServer()


def test_a_server_started_by_a_test_not_marked_servers_fails_naming_the_mark(request):
    postgres = LocalPostgres()
    try:
        with pytest.raises(AssertionError, match=f"{request.node.name} starts a Postgres cluster: mark it "
                                                 r"`pytest.mark.servers`"):
            postgres.start()
        assert postgres.process is None and not postgres.data.exists()  # refused before initdb
    finally:
        postgres.stop()


@pytest.mark.servers
def test_a_test_marked_servers_may_start_one(request):
    assert not request.node.get_closest_marker("mock")
    tiers.starting("a Postgres cluster")
