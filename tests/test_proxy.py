"""The proxy container under the real program: what it depends on, how a config change reaches it, and
that every name in its Caddyfile is something it can actually reach on the host."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from tests.support.stacks import stack_config
from tests.support.validators import caddyfile_in, caddyfile_of
from offline import mockrun

# One xdist worker runs this module, so its run of the shop stack is made once (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("test_proxy")

CONTAINER = "docker:index/container:Container"
STACKS = ["dev", "staging", "prod"]


def dependency_closure(run: mockrun.Run, urn: str) -> set[str]:
    seen, todo = set(), [urn]
    while todo:
        for dep in run.by_urn(todo.pop()).dependencies:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize("stack", STACKS)
def test_the_proxy_waits_for_no_app_container(deploy, stack):
    """It must start (and serve the other apps) while an upstream is down or not yet created."""
    run = deploy(stack)
    proxy = run.containers()["proxy"]
    closure = [run.by_urn(u) for u in dependency_closure(run, proxy.urn)]
    assert {r.name for r in closure if r.type == "docker:index/network:Network"} == {"mediahub-edge", "chatbot-edge"}
    assert [r.name for r in closure if r.type == CONTAINER] == []


def apps_with(stack: str, change) -> dict:
    apps = json.loads(json.dumps(stack_config(stack).object("berth:apps")))
    change(apps)
    return apps


def test_a_caddyfile_change_reaches_the_container_in_its_environment(deploy):
    """An env change forces a new container: the proxy is replaced, delete-first since it holds 80/443."""
    before = deploy("dev").containers()["proxy"]
    renamed = apps_with("dev", lambda apps: apps["chatbot"].update(hostname="bot"))
    after = deploy("dev", plain={"berth:apps": renamed}).containers()["proxy"]
    old, new = (caddyfile_in(c) for c in (before, after))
    assert "http://chatbot.localhost {" in old.splitlines() and "http://bot.localhost {" in new.splitlines()
    assert labels(after)["berth.caddyfile-sha256"] == hashlib.sha256(new.encode()).hexdigest() != \
        labels(before)["berth.caddyfile-sha256"]
    assert after.delete_before_replace and after.values["name"] == "proxy"


@pytest.mark.parametrize("stack", STACKS)
def test_the_old_proxy_lets_go_of_its_ports_before_docker_has_to_kill_it(deploy, stack):
    """Replacement is delete-first: however long the old proxy takes to stop, 80/443 are down. Caddy's grace
    period bounds it (an open event stream would otherwise hold it until Docker's kill)."""
    run = deploy(stack)
    grace = next(int(m.group(1)) for line in caddyfile_of(run).splitlines()
                 if (m := re.fullmatch(r"\tgrace_period (\d+)s", line)))
    assert grace < run.containers()["proxy"].values["destroyGraceSeconds"]


def test_redeploying_an_app_leaves_the_proxy_untouched(deploy):
    """Upstream names do not change with a version, so a release does not restart the proxy."""
    before = deploy("prod").containers()["proxy"]
    released = apps_with("prod", lambda apps: apps["chatbot"]["services"]["backend"].update(version="77aa0ff"))
    after = deploy("prod", plain={"berth:apps": released}).containers()
    assert after["chatbot-backend"].values != deploy("prod").containers()["chatbot-backend"].values  # it was released
    assert after["proxy"].values == before.values


def labels(container: mockrun.Resource) -> dict[str, str]:
    return {entry["label"]: entry["value"] for entry in container.values["labels"]}


@pytest.mark.parametrize("stack", STACKS)
def test_prod_alone_sends_hsts(deploy, stack):
    assert ("Strict-Transport-Security" in caddyfile_of(deploy(stack))) is (stack == "prod")


def test_staging_asks_the_cas_staging_endpoint_and_prod_the_real_one(deploy):
    assert "acme_ca https://acme-staging-v02.api.letsencrypt.org/directory" in caddyfile_of(deploy("staging"))
    assert "acme_ca" not in caddyfile_of(deploy("prod"))
    assert "\temail \"ops@chmedia.com\"" in caddyfile_of(deploy("prod")).splitlines()


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_certificates_live_on_volumes_and_prod_keeps_them(deploy, stack):
    """A replaced proxy finds its certificates again instead of asking the CA (rate limits)."""
    run = deploy(stack)
    mounts = {v["containerPath"]: v["volumeName"] for v in run.containers()["proxy"].values["volumes"]}
    assert (mounts["/data"], mounts["/config"]) == ("berth_proxy_data", "berth_proxy_config")
    volume = next(v for v in run.of_type("docker:index/volume:Volume") if v.values["name"] == "berth_proxy_data")
    assert volume.survives_destroy is (stack == "prod")


# --- every name in the Caddyfile is reachable --------------------------------------------------------

SHOP = {
    "name": "shop", "hostname": "shop",
    "services": {
        "api": {"image": "example/api:1.0", "port": 8000, "replicas": 2, "healthcheck": {"path": "/health"}},
        "events": {"image": "example/events:1.0", "port": 9000, "healthcheck": {"path": "/health"}},
        "web": {"kind": "static", "image": "example/web:1.0", "sitePath": "/usr/share/web"},
    },
    "routes": {
        "/api/": {"service": "api", "stripPrefix": True, "sticky": True},
        "/events/": {"service": "events", "stream": True, "timeoutS": 180},
        "/": {"service": "web", "spa": True},
    },
}


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory) -> mockrun.Run:
    """dev with the CHM apps and a shop app: replicas, a stream and a static site."""
    root = tmp_path_factory.mktemp("shop")
    apps = root / "berth" / "apps"
    apps.mkdir(parents=True)
    for path in (mockrun.REPO / "apps").glob("*"):
        (apps / path.name).write_bytes(path.read_bytes())
    (apps / "shop.yaml").write_text(json.dumps(SHOP), encoding="utf-8")
    config = stack_config("dev", plain={"berth:apps": {**stack_config("dev").object("berth:apps"), "shop": {}}})
    project = mockrun.sandbox_project(root, config)
    return mockrun.run("dev", config, root_directory=project)


def unreachable_upstreams(run: mockrun.Run) -> set[str]:
    """Upstream names in the Caddyfile that no container answers to on a network the proxy joins."""
    containers = run.containers()
    proxy_networks = {n["name"] for n in containers["proxy"].values["networksAdvanced"]}
    reachable = {alias for name, c in containers.items() if name != "proxy"
                 for n in c.values["networksAdvanced"] if n["name"] in proxy_networks for alias in n.get("aliases", [])}
    upstreams = {u.rsplit(":", 1)[0] for line in caddyfile_of(run).splitlines()
                 if (m := re.match(r"\s*reverse_proxy (.+?)( \{)?$", line)) for u in m.group(1).split()}
    assert upstreams, "the Caddyfile proxies to nothing"
    return upstreams - reachable


@pytest.mark.parametrize("stack", STACKS)
def test_every_upstream_is_an_alias_on_a_network_the_proxy_joins(deploy, stack):
    assert unreachable_upstreams(deploy(stack)) == set()


def test_every_replica_stream_and_site_upstream_is_reachable_too(shop_run):
    assert unreachable_upstreams(shop_run) == set()


def test_replicas_are_each_listed_and_each_reachable(shop_run):
    assert "\t\treverse_proxy shop-api-1:8000 shop-api-2:8000 {" in caddyfile_of(shop_run).splitlines()
    edge = {c: [n for n in shop_run.containers()[c].values["networksAdvanced"] if n["name"] == "berth-shop-edge"]
            for c in ("shop-api-1", "shop-api-2")}
    assert {c: sorted(n[0]["aliases"]) for c, n in edge.items()} == {
        "shop-api-1": ["shop-api", "shop-api-1"], "shop-api-2": ["shop-api", "shop-api-2"]}


def test_a_static_site_is_copied_into_the_volume_the_proxy_serves_read_only(shop_run):
    text = caddyfile_of(shop_run)
    assert "\t\troot * /srv/sites/shop-web" in text.splitlines()
    mounts = {v["containerPath"]: v for v in shop_run.containers()["proxy"].values["volumes"]}
    assert mounts["/srv/sites/shop-web"]["volumeName"] == "shop_web_site"
    assert mounts["/srv/sites/shop-web"]["readOnly"] is True
    publish = shop_run.get("command:local:Command", "shop-web-publish").values["create"]
    assert "-v shop_web_site:/out " in publish and "cp -R /usr/share/web/. /out/" in publish
    for confinement in ("--network none", "--read-only", "--cap-drop ALL", "--security-opt no-new-privileges"):
        assert confinement in publish
