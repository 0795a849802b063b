"""Service Connect on a first deploy and later ones: who starts first, and how long each hop may take.

A caller's tasks reach only the endpoints that existed when they started (AWS, "Service Connect
components"), so each service is created after the ones it calls, and redeployed when one of them
is created anew. Each endpoint's proxy gets timeouts from the app's routes and call graph instead
of Envoy's 15 s per request.
"""

from __future__ import annotations

import pytest
import yaml

from components.ecs.service_connect import KEEP_ALIVE_MARGIN_S, HopTimeout, hop_timeouts
from config.app import App
from config.calls import callees
from offline.mockrun import REPO
from tests.support.ecs import (
    CHM,
    COLLABRY,
    ECS_STACKS,
    RAG_GPU,
    SERVICE,
    containers,
    ecs_config,
)
from tests.support.stacks import run_stack


def service_urn(run, name: str) -> str:
    return run.get(SERVICE, name).urn


def app(services: dict, routes: dict) -> App:
    defaults = {"port": 8000, "healthcheck": {"path": "/health"}, "image": "example/app:1.0.3"}
    return App.model_validate({"name": "demo", "hostname": "demo", "routes": routes, "services": {
        name: {**defaults, **fields} for name, fields in services.items()}})


# --- start order --------------------------------------------------------------------------------------

@pytest.mark.parametrize("example, caller, called", [
    (COLLABRY, "collabry-backend", "collabry-ai-engine"),   # AI_ENGINE_URL: http://ai-engine:8000
    (COLLABRY, "collabry-frontend", "collabry-backend"),
    (CHM, "chatbot-edge", "chatbot-backend"),                # the edge strips /api and forwards to the backend
    (CHM, "mediahub-edge", "mediahub-backend"),
    (RAG_GPU, "rag-api", "rag-ollama"),
    (RAG_GPU, "rag-api", "rag-vectordb"),
    (RAG_GPU, "rag-edge", "rag-api"),
])
def test_a_service_starts_after_the_services_it_calls(ecs, example, caller, called):
    run = ecs(example)
    assert service_urn(run, called) in run.get(SERVICE, caller).dependencies


def test_an_alias_in_the_env_is_a_call_and_a_name_that_admits_the_caller_is_not():
    """`CACHE: redis://cache:6379/0` calls the cache even without dependsOn; Ollama's `OLLAMA_ORIGINS:
    http://api:8000` names the service that calls it (api depends on it), so it is no call back; two
    services naming each other with no dependsOn tell nothing, and neither waits for the other."""
    demo = app({"ai": {"env": {"OLLAMA_ORIGINS": "http://api:8000"}},
                "api": {"env": {"AI_URL": "http://ai:8000/v1", "CACHE": "redis://cache:6379/0"}, "dependsOn": ["ai"]},
                "cache": {"port": 6379}, "left": {"env": {"PEER": "http://right:8000"}},
                "right": {"env": {"PEER": "http://left:8000"}}}, {"/": {"service": "api"}})
    assert callees(demo) == {"ai": set(), "api": {"ai", "cache"}, "cache": set(), "left": set(), "right": set()}


def test_a_caller_is_redeployed_when_a_service_it_calls_is_created_later(tmp_path):
    """A later deploy adds `search`, which chatbot's backend already names: the backend's task definition
    is unchanged, yet its tasks must restart to resolve the new endpoint; the endpoint ids it follows
    change, and ECS starts a new deployment (forceNewDeployment with triggers)."""
    def chatbot_with(services: dict):
        apps = tmp_path / f"run{len(services)}" / "berth" / "apps"
        apps.mkdir(parents=True)
        for source in (REPO / "apps").iterdir():
            (apps / source.name).write_bytes(source.read_bytes())
        chatbot = yaml.safe_load((apps / "chatbot.yaml").read_text())
        chatbot["services"]["backend"]["env"]["SEARCH_URL"] = "http://search:9200"
        chatbot["services"].update(services)
        (apps / "chatbot.yaml").write_text(yaml.safe_dump(chatbot, sort_keys=False))
        return run_stack(apps.parent.parent, "chm-ecs-prod", ecs_config(CHM))

    before = chatbot_with({})
    after = chatbot_with({"search": {"image": "example/search:1.0.3", "port": 9200,
                                     "healthcheck": {"path": "/health"}}})
    backend = [r.get(SERVICE, "chatbot-backend").values for r in (before, after)]
    old, new = (containers(r, "chatbot-backend")["backend"] for r in (before, after))
    assert {**old, "image": None} == {**new, "image": None}  # (each run builds from its own stand-in checkout)
    assert "triggers" not in backend[0]  # it called nothing: nothing to follow
    assert backend[1]["forceNewDeployment"] is True
    assert backend[1]["triggers"]["endpoints"] == "chatbot-search-id"  # the mocks' id: a new service has a new one
    assert service_urn(after, "chatbot-search") in after.get(SERVICE, "chatbot-backend").dependencies


# --- timeouts -----------------------------------------------------------------------------------------

def endpoint_timeouts(run) -> dict[str, dict]:
    return {s.name: e["timeout"] for s in run.of_type(SERVICE)
            for e in s.values["serviceConnectConfiguration"].get("services") or []}


@pytest.mark.parametrize("example", ECS_STACKS)
def test_every_endpoint_keeps_connections_longer_than_the_load_balancer(ecs, example):
    """The load balancer's target is the Service Connect proxy: its idle timeout must be the longer one."""
    run = ecs(example)
    alb_idle = run.get("aws:lb/loadBalancer:LoadBalancer", "edge").values["idleTimeout"]
    timeouts = endpoint_timeouts(run)
    ported = {s.name for s in run.of_type(SERVICE) if s.values["serviceConnectConfiguration"].get("services")}
    assert set(timeouts) == ported and ported
    assert {t["idleTimeoutSeconds"] for t in timeouts.values()} == {max(alb_idle + KEEP_ALIVE_MARGIN_S, 300)}


def test_collabrys_ai_stream_is_not_cut_between_the_backend_and_the_ai_engine(ecs):
    """/api/ai/ streams for up to 180 s through the backend to the ai-engine: neither proxy ends it."""
    timeouts = endpoint_timeouts(ecs(COLLABRY))
    assert timeouts["collabry-ai-engine"]["perRequestTimeoutSeconds"] == 0
    assert timeouts["collabry-backend"]["perRequestTimeoutSeconds"] == 0


def test_chm_and_rag_calls_through_the_edge_have_no_15s_limit(ecs):
    """CHM's chat and report calls (edge -> backend), rag's api -> ollama: routes without timeoutS."""
    for example, service in ((CHM, "chatbot-backend"), (CHM, "mediahub-backend"), (RAG_GPU, "rag-ollama"),
                             (RAG_GPU, "rag-api"), (RAG_GPU, "rag-edge")):
        assert endpoint_timeouts(ecs(example))[service]["perRequestTimeoutSeconds"] == 0, service


def test_a_routes_timeout_bounds_every_hop_below_it():
    """A route with timeoutS 120 to `api`, which calls `model`: both hops allow 120 s per request; a
    service only a worker calls has no limit (one host has none between containers)."""
    demo = app({"api": {"dependsOn": ["model"]}, "model": {}, "index": {},
                "worker": {"port": None, "healthcheck": {"command": ["true"]}, "dependsOn": ["index"]}},
               {"/": {"service": "api", "timeoutS": 120}})
    timeouts = hop_timeouts(demo, load_balancer_idle_s=120)
    assert timeouts["api"] == timeouts["model"] == HopTimeout(per_request_s=120, idle_s=300)  # never below Envoy's
    assert hop_timeouts(demo, load_balancer_idle_s=600)["api"].idle_s == 660
    assert timeouts["index"].per_request_s == 0
    assert "worker" not in timeouts


def test_the_longest_bound_wins_and_a_stream_lifts_it():
    demo = app({"api": {}, "slow": {}}, {"/fast/": {"service": "api", "timeoutS": 30},
                                         "/slow/": {"service": "api", "timeoutS": 300},
                                         "/events/": {"service": "slow", "stream": True, "timeoutS": 60}})
    timeouts = hop_timeouts(demo, load_balancer_idle_s=300)
    assert timeouts["api"].per_request_s == 300
    assert timeouts["slow"].per_request_s == 0  # an event stream lasts as long as the client listens

