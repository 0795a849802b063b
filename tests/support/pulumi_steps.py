"""How Pulumi turns the second `pulumi up`'s registrations into steps, as read in its source.

pulumi/pulumi at 1b5949891b (v3.259.0+, 2026-08-21), pkg/resource/deploy/:
- step_generator.go `generateStepsFromDiff`/`continueStepsFromDiff`: a resource not in the state is
  created; otherwise the provider diffs the old *outputs* against the new inputs; `replacement_trigger`
  (a non-null value that changed) forces a replace; `applyReplaceOnChanges` turns changed keys under a
  `replace_on_changes` path into replace keys, and an initialization error into one only when the list
  holds `"*"`; a resource with initialization errors and no changes gets an empty update (which runs
  the provider's Update: pulumi-docker's never waits for health again). A protected resource cannot be
  replaced. The provider's `DeleteBeforeReplace` decides create-first or delete-first unless the
  program set `deleteBeforeReplace` (either way).
- delete-first: `calculateDependentReplacements` deletes first every dependent whose inputs came from
  the replaced resource and whose provider would replace it for an unknown value there;
- create-first: "the delete step is generated later on, after all creates/updates finish" (GenerateDeletes
  and ScheduleDeletes in deployment_executor.go `performPostSteps`, reached only when every step
  succeeded): the old resource is only marked pending-delete (step.go CreateStep.Apply) and waits there,
  across failed deployments, until one succeeds;
- step.go CreateStep.Apply: a create the provider failed after setting an ID is kept with its
  initialization errors (pulumi-terraform-bridge pkg/tfbridge/provider.go Create returns
  `initializationError` when the state has an ID); RefreshStep.Apply clears them on a successful read;
- step.go DeleteStep.Apply: deleting a protected resource fails (`pulumi destroy --exclude-protected`
  leaves them); a `retain_on_delete` one leaves state without the provider's Delete.
pulumi-command 1.2.1 (provider/pkg/provider/{local,remote}/commandController.go, pulumi-go-provider
v1.3.0 infer/resource.go): a failed create returns a plain error, so nothing is kept and the next up
runs it again; `triggers` is replaceOnChanges; Update runs `update`, else `create` again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from config import docker_provider as provider

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
IMAGE = "docker:index/image:Image"
COMMANDS = ("command:local:Command", "command:remote:Command")
# Every input of these forces a replacement (terraform-provider-docker v4.5.0 resource_docker_network.go,
# resource_docker_volume.go; resource_docker_image.go: name, triggers, pull_triggers, platform).
REPLACED_ON_ANY_CHANGE = {NETWORK: None, VOLUME: None, REMOTE_IMAGE: {"name", "triggers", "pullTriggers", "platform"}}
UNKNOWN = "<unknown: replaced in this deployment>"


@dataclass
class Entry:
    """One resource as the checkpoint holds it: resolved inputs, the provider's outputs, its options."""

    urn: str
    type: str
    name: str
    id: str
    inputs: dict
    outputs: dict
    dependencies: frozenset[str] = frozenset()
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool = False  # the effective choice (program's, else the provider's)
    replace_on_changes: tuple[str, ...] = ()
    replacement_trigger: Any = None
    init_errors: list[str] = field(default_factory=list)
    pending_delete: bool = False


@dataclass(frozen=True)
class Decision:
    """The step one registration gets: create, same, update or replace (delete-first or create-first)."""

    kind: str
    keys: tuple[str, ...] = ()  # what changed (for a replace: what forces it)
    delete_first: bool = False

    def text(self) -> str:
        if self.kind == "replace":
            return f"replace ({'delete' if self.delete_first else 'create'}-first: {', '.join(self.keys)})"
        return f"{self.kind} ({', '.join(self.keys)})" if self.keys else self.kind


class ProtectedReplace(AssertionError):
    """Pulumi refuses to replace a protected resource."""


def effective_delete_before_replace(type_: str, recorded) -> bool:
    """The program's `deleteBeforeReplace` when it set one, else the provider's (config/docker_provider.py)."""
    if type_ == CONTAINER:
        return provider.container_delete_first(recorded.delete_before_replace_defined, recorded.delete_before_replace)
    if recorded.delete_before_replace_defined or recorded.delete_before_replace:
        return recorded.delete_before_replace
    # pulumi-docker auto-names `name` (SetAutonaming); one the program gave is replaced delete-first
    return type_ in (NETWORK, VOLUME) and bool(recorded.values.get("name"))


def provider_changes(type_: str, old: Entry, inputs: dict) -> tuple[set[str], set[str]]:
    """(changed keys, keys among them the provider replaces for), as each provider diffs."""
    if type_ == CONTAINER:
        changed = provider.changed_inputs(old.outputs, inputs)
        return changed, changed & provider.FORCE_NEW
    changed = {k for k in set(old.inputs) | set(inputs) if _plain(old.inputs.get(k)) != _plain(inputs.get(k))}
    if type_ in REPLACED_ON_ANY_CHANGE:
        forcing = REPLACED_ON_ANY_CHANGE[type_]
        return changed, changed if forcing is None else changed & forcing
    if type_ in COMMANDS:
        return changed, changed & {"triggers"}
    return changed, set()


def decide(old: Entry | None, inputs: dict, recorded, delete_first: bool) -> Decision:
    """The step generator's choice for one registration (`recorded`: its mock-run Resource)."""
    if old is None:
        return Decision("create")
    changed, replacing = provider_changes(old.type, old, inputs)
    replacing |= provider.forced_by(changed, recorded.replace_on_changes)
    trigger_changed = (old.replacement_trigger is not None and recorded.replacement_trigger is not None
                       and old.replacement_trigger != recorded.replacement_trigger)
    if trigger_changed:
        replacing.add("replacementTrigger")
    if old.init_errors and "*" in recorded.replace_on_changes:
        replacing.add("#initerror")
    if replacing:
        if old.protect and recorded.protect:
            raise ProtectedReplace(f"unable to replace resource {old.urn} as it is currently marked for protection "
                                   f"({', '.join(sorted(replacing))} changed)")
        return Decision("replace", tuple(sorted(replacing)), delete_first)
    if changed or old.init_errors:
        return Decision("update", tuple(sorted(changed)))
    return Decision("same")


def _plain(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def would_replace(dependent: Entry, replaced_urns: set[str]) -> bool:
    """calculateDependentReplacements: would `dependent`'s provider replace it if every input whose value
    came from a replaced resource became unknown?"""
    unknown = {k for k, urns in dependent.property_dependencies.items() if set(urns) & replaced_urns}
    if not unknown:
        return False
    inputs = {k: (UNKNOWN if k in unknown else v) for k, v in dependent.inputs.items()}
    changed, replacing = provider_changes(dependent.type, dependent, inputs)
    return bool(replacing | provider.forced_by(changed, dependent.replace_on_changes))


def dependents_replaced_with(root: Entry, live: dict[str, Entry]) -> list[Entry]:
    """Live resources deleted before `root` in a delete-first replacement, dependents first."""
    replaced, order = {root.urn}, []
    for entry in dependency_order(live.values()):
        if entry.urn not in replaced and entry.dependencies & replaced and would_replace(entry, replaced):
            replaced.add(entry.urn)
            order.append(entry)
    return list(reversed(order))


def dependency_order(entries) -> list[Entry]:
    """Entries with each after everything it depends on."""
    entries = list(entries)
    by_urn, done, out = {e.urn: e for e in entries}, set(), []

    def visit(entry: Entry) -> None:
        if entry.urn in done:
            return
        done.add(entry.urn)
        for dep in sorted(entry.dependencies):
            if dep in by_urn:
                visit(by_urn[dep])
        out.append(entry)

    for entry in entries:
        visit(entry)
    return out


def delete_antichains(entries: list[Entry]) -> list[list[Entry]]:
    """ScheduleDeletes: batches deleted one after another, each batch's members at once, every resource
    after all that depend on it."""
    remaining = {id(e): e for e in entries}
    batches = []
    while remaining:
        depended_on = {d for e in remaining.values() for d in e.dependencies}
        batch = [e for e in remaining.values() if e.urn not in depended_on]
        if not batch:
            raise AssertionError(f"dependency cycle among {[e.urn for e in remaining.values()]}")
        batches.append(batch)
        for e in batch:
            del remaining[id(e)]
    return batches
