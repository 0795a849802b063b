"""The engine the tier runs on is our own daemon, configured as the tier relies on, and restartable."""

from __future__ import annotations

import ipaddress

from tests.support import engine as engine_support


def test_the_engine_is_our_own_daemon_on_its_storage_driver_with_our_address_pool(engine):
    """overlay2 where this kernel mounts overlayfs on the cache (as on a server), vfs otherwise."""
    info = engine.client.info()
    assert info["Driver"] == engine.driver == engine_support.storage_driver(engine_support.cache_dir())
    assert info["DockerRootDir"] == str(engine.data_root)
    assert engine.data_root.is_relative_to(engine_support.cache_dir())  # images built into it are cached
    network = engine.client.networks.create("berth-engine-probe", internal=True)
    try:
        subnet = ipaddress.ip_network(network.attrs["IPAM"]["Config"][0]["Subnet"])
        assert subnet.subnet_of(ipaddress.ip_network("10.210.0.0/16"))
    finally:
        network.remove()


def test_restarting_the_engine_is_a_new_daemon_that_keeps_volumes(engine):
    engine.client.volumes.create("berth-engine-probe")
    before = engine.pid
    engine.restart()
    assert engine.pid not in (None, before)
    assert engine.client.volumes.get("berth-engine-probe").name == "berth-engine-probe"
    engine.client.volumes.get("berth-engine-probe").remove()
