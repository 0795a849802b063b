"""How the engine tier turns a second `pulumi up` into steps (tests/support/pulumi_steps.py), as Pulumi's
step generator does: checked here without an engine, then applied by tests/engine/."""

from __future__ import annotations

import pytest

from offline.mockrun import Resource
from tests.support import pulumi_steps as steps
from tests.support.pulumi_steps import Decision, Entry

CONTAINER, NETWORK, COMMAND = steps.CONTAINER, steps.NETWORK, steps.COMMANDS[0]
OUTPUTS = {"image": "sha256:a", "memory": 512, "memorySwap": 512, "restart": "unless-stopped",
           "healthcheck": {"tests": ["CMD", "true"], "interval": "1s", "timeout": "5s", "startPeriod": "0s",
                           "startInterval": "0s", "retries": 5}}


def recorded(type_=CONTAINER, name="web", **options) -> Resource:
    fields = {"protect": False, "retain_on_delete": False, "delete_before_replace": False, "ignore_changes": [],
              "delete_before_replace_defined": False, "replace_on_changes": [], "replacement_trigger": None, **options}
    return Resource(type=type_, name=name, urn=f"urn::{name}", inputs=fields.pop("inputs", {}), parent="", provider="",
                    dependencies=[], **fields)


def entry(type_=CONTAINER, name="web", outputs=OUTPUTS, **fields) -> Entry:
    return Entry(urn=f"urn::{name}", type=type_, name=name, id=f"{name}-real", inputs=dict(outputs),
                 outputs=dict(outputs), **fields)


def test_a_resource_not_in_state_is_created():
    assert steps.decide(None, OUTPUTS, recorded(), True) == Decision("create")


def test_inputs_equal_to_what_the_provider_stored_are_the_same():
    assert steps.decide(entry(), dict(OUTPUTS), recorded(), True) == Decision("same")


def test_memory_is_updated_in_place_and_the_image_replaces():
    assert steps.decide(entry(), {**OUTPUTS, "memory": 2048, "memorySwap": 2048}, recorded(), False) == \
        Decision("update", ("memory", "memorySwap"))
    assert steps.decide(entry(), {**OUTPUTS, "image": "sha256:b"}, recorded(), False) == \
        Decision("replace", ("image",), False)


def test_replace_on_changes_turns_an_update_the_provider_would_ignore_into_a_replacement():
    changed = {**OUTPUTS, "healthcheck": {**OUTPUTS["healthcheck"], "retries": 3}}
    assert steps.decide(entry(), changed, recorded(), True).kind == "update"
    assert steps.decide(entry(), changed, recorded(replace_on_changes=["healthcheck"]), True) == \
        Decision("replace", ("healthcheck",), True)


def test_a_resource_kept_with_an_initialization_error_gets_an_empty_update_unless_every_change_replaces():
    failed = entry(init_errors=["container failed to be in healthy state"])
    assert steps.decide(failed, dict(OUTPUTS), recorded(), True) == Decision("update")
    assert steps.decide(failed, dict(OUTPUTS), recorded(replace_on_changes=["*"]), True) == \
        Decision("replace", ("#initerror",), True)


def test_a_replacement_trigger_replaces_only_when_it_changes_from_one_value_to_another():
    assert steps.decide(entry(), dict(OUTPUTS), recorded(replacement_trigger="a"), True).kind == "same"  # null before
    kept = entry(replacement_trigger="a")
    assert steps.decide(kept, dict(OUTPUTS), recorded(replacement_trigger="a"), True).kind == "same"
    assert steps.decide(kept, dict(OUTPUTS), recorded(replacement_trigger="b"), True) == \
        Decision("replace", ("replacementTrigger",), True)


def test_a_protected_resource_is_never_replaced():
    with pytest.raises(steps.ProtectedReplace, match="marked for protection"):
        steps.decide(entry(protect=True), {**OUTPUTS, "image": "sha256:b"}, recorded(protect=True), True)


def test_the_programs_delete_before_replace_overrides_the_providers():
    assert steps.effective_delete_before_replace(CONTAINER, recorded()) is True  # pulumi-docker's mapping
    assert steps.effective_delete_before_replace(CONTAINER, recorded(delete_before_replace_defined=True)) is False
    assert steps.effective_delete_before_replace(NETWORK, recorded(NETWORK, inputs={"name": "n"})) is True
    assert steps.effective_delete_before_replace(COMMAND, recorded(COMMAND)) is False


def test_commands_replace_on_their_triggers_and_run_again_for_any_other_change():
    old = entry(COMMAND, "gate", outputs={"create": "wait x", "triggers": ["c1"]})
    assert steps.decide(old, {"create": "wait x", "triggers": ["c2"]}, recorded(COMMAND, "gate"), False).kind == "replace"
    assert steps.decide(old, {"create": "wait y", "triggers": ["c1"]}, recorded(COMMAND, "gate"), False).kind == "update"


def test_a_delete_first_replacement_deletes_first_the_dependents_it_would_replace():
    network = entry(NETWORK, "net", outputs={"name": "berth-app"})
    container = entry(name="web", outputs={**OUTPUTS, "networksAdvanced": [{"name": "berth-app"}]},
                      dependencies=frozenset({network.urn}), property_dependencies={"networksAdvanced": [network.urn]})
    gate = entry(COMMAND, "gate", outputs={"create": "wait web", "triggers": ["web-real"]},
                 dependencies=frozenset({container.urn}), property_dependencies={"triggers": [container.urn]})
    hook = entry(COMMAND, "hook", outputs={"create": "exec web"}, dependencies=frozenset({container.urn}),
                 property_dependencies={"create": [container.urn]})
    live = {e.urn: e for e in (network, container, gate, hook)}
    assert [e.name for e in steps.dependents_replaced_with(network, live)] == ["gate", "web"]


def test_deletes_run_dependents_first_in_batches():
    network = entry(NETWORK, "net", outputs={})
    a = entry(name="a", dependencies=frozenset({network.urn}))
    b = entry(name="b", dependencies=frozenset({network.urn}))
    gate = entry(COMMAND, "gate", outputs={}, dependencies=frozenset({a.urn}))
    batches = steps.delete_antichains([network, a, b, gate])
    assert [sorted(e.name for e in batch) for batch in batches] == [["b", "gate"], ["a"], ["net"]]
