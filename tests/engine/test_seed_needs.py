"""What the seeds' apps need, seen at run time on a real engine (the mock tier is
tests/test_seed_needs.py): the headers a browser and an upstream see through the proxy, one uploads
volume shared by every backend replica, and a volume inside a read-only source checkout.

The on-prem RAG dev stack and Collabry (prod, 3 backend replicas behind the proxy over HTTPS) are
applied once each, one after the other (both run a container named `proxy`; `on_engine` keeps the last
one up for tests/engine/test_stacks.py). Run alone with
`scripts/test -m engine tests/engine/test_seed_needs.py`.
"""

from __future__ import annotations

import secrets
from ipaddress import ip_address
from pathlib import Path

import pytest

from tests.support.engine_stacks import EngineStack

pytestmark = pytest.mark.engine

IMMUTABLE = "public, max-age=31536000, immutable"
DATA_FILE = "standin.txt"  # where the stand-in server keeps what it is given, in its first volume


# --- a volume inside a read-only source checkout (dev) ---------------------------------------------------------

@pytest.fixture
def rag_dev(on_engine) -> EngineStack:
    return on_engine("on-prem-rag-dev")


class TestRagDevCheckout:
    def test_a_volume_inside_the_read_only_checkout_takes_the_writes_and_the_checkout_none(self, rag_dev):
        (api,) = rag_dev.containers_of("rag", "api")
        mounts = {m["Destination"]: m for m in
                  rag_dev.client.api.inspect_container(rag_dev.applied.containers[api])["Mounts"]}
        assert mounts["/app"]["Type"] == "bind" and mounts["/app"]["RW"] is False
        assert (mounts["/app/data/documents"]["Type"], mounts["/app/data/documents"]["RW"]) == ("volume", True)
        body = secrets.token_hex(16)
        rag_dev.standin_data(api, body)
        assert rag_dev.standin_data(api) == body
        # the volume covers the checkout's (empty) directory: nothing lands in the user's checkout
        assert not (Path(mounts["/app"]["Source"]) / "data" / "documents" / DATA_FILE).exists()

    def test_each_dev_service_runs_on_its_own_checkout(self, rag_dev):
        sources = {}
        for service in ("api", "frontend"):
            (name,) = rag_dev.containers_of("rag", service)
            mounts = rag_dev.client.api.inspect_container(rag_dev.applied.containers[name])["Mounts"]
            sources[service] = next(m["Source"] for m in mounts if m["Destination"] == "/app")
        assert sources["frontend"] == sources["api"] + "/frontend"


@pytest.fixture
def collabry(on_engine) -> EngineStack:
    return on_engine("collabry")


class TestCollabry:
    """Collabry in prod: 3 backend replicas behind the proxy, over HTTPS."""

    # --- headers -----------------------------------------------------------------------------------------------

    def test_the_browser_gets_the_seeds_security_headers(self, collabry):
        app = collabry.deployment.apps["collabry"]
        response = collabry.through.request(collabry.url(app, "/"))
        assert response.status == 200
        assert response.headers["x-frame-options"] == "DENY"  # seed 004's, berth's default
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")
        assert "cache-control" not in response.headers or "immutable" not in response.headers["cache-control"]

    def test_hashed_next_assets_are_kept_a_year(self, collabry):
        app = collabry.deployment.apps["collabry"]
        response = collabry.through.request(collabry.url(app, "/_next/static/chunks/main-3f9c2a1.js"))
        assert response.status == 200 and response.json()["service"] == "collabry/frontend"
        assert response.headers["cache-control"] == IMMUTABLE

    def test_upstreams_see_the_clients_address_as_x_real_ip_and_cannot_be_fooled(self, collabry):
        app = collabry.deployment.apps["collabry"]
        seen = collabry.through.request(collabry.url(app, "/api/who"), headers={"X-Real-IP": "203.0.113.66"}).json()
        headers = {k.lower(): v for k, v in seen["headers"].items()}
        assert seen["service"] == "collabry/backend"
        real_ip = headers["x-real-ip"]
        ip_address(real_ip)  # an address, not the client's claim
        assert real_ip != "203.0.113.66"
        assert headers["x-forwarded-for"].split(",")[-1].strip() == real_ip  # the proxy's own view of the client


    # --- one uploads volume for every backend replica -------------------------------------------------------------

    def test_every_backend_replica_mounts_the_one_uploads_volume(self, collabry):
        backends = collabry.containers_of("collabry", "backend")
        assert len(backends) == 3
        for name in backends:
            mounts = collabry.client.api.inspect_container(collabry.applied.containers[name])["Mounts"]
            uploads = [m for m in mounts if m["Destination"] == "/app/uploads"]
            assert [(m["Type"], m["Name"], m["RW"]) for m in uploads] == [("volume", "collabry_uploads", True)]

    def test_a_file_one_replica_stored_is_served_by_every_other(self, collabry):
        first, *others = collabry.containers_of("collabry", "backend")
        body = secrets.token_hex(16)
        collabry.standin_data(first, body)
        for replica in others:
            assert collabry.standin_data(replica) == body, f"{replica} does not see what {first} stored"
