"""`plan`: what a stack would deploy, computed offline by running the real program under mocks.

Reviewers (and pull requests from forks, which get no cloud credentials) see the host, every
container (image, published ports, networks, volumes, env var *names*, limits) and the proxy's
routes without a Pulumi CLI, a Docker engine or an AWS account. It is the *intended* state the stack
file asks for, never the cloud's current state: `pulumi preview` is what compares with that.

    python -m offline.plan STACK [--config-file FILE] [--format text|markdown|json] [--out FILE]

Env values are never printed, only names; a name is marked secret when its value carries a secret
the run handled (a config secret or a generated password). The JSON is sorted, so plans diff cleanly
(offline/diff.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from config import docker_provider
from config.errors import ConfigError
from offline import mockrun
from rules.environments import policy

FORMAT_VERSION = 1
INTENDED_STATE = (
    "Intended state: what this stack file asks for, computed offline by running the program under "
    "Pulumi mocks. It is not the cloud's current state; `pulumi preview` compares with what is deployed. "
    "Image digests, ids and addresses are stand-ins, and build contexts are empty stand-ins."
)
CONTAINER = "docker:index/container:Container"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
IMAGES = ("docker:index/remoteImage:RemoteImage", "docker:index/image:Image")
ECS_SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
SCALING_TARGET = "aws:appautoscaling/target:Target"
NOT_EXPORTED = None  # a section the described program does not export (an older berth): shown as unknown
UNKNOWN = "not known (this version of the program does not export it)"


class PlanError(Exception):
    """A problem with what `plan` was asked to do (not with the stack's config: that is a ConfigError)."""


# --- making a plan -----------------------------------------------------------------------------------

def stack_file(stack: str, config_file: Path | None) -> Path:
    path = config_file or mockrun.REPO / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        hint = ("name the file it is copied from, e.g. --config-file Pulumi.staging.yaml for a PR stack"
                if config_file is None else "check the path")
        raise PlanError(f"no stack file {path}; {hint}")
    return path


def read_stack_file(path: Path) -> mockrun.StackConfig:
    try:
        return mockrun.StackConfig.from_file(path)
    except (yaml.YAMLError, AttributeError) as err:  # YAML syntax, or a file that is not a mapping
        raise PlanError(f"{path.name} is not a stack file berth can read: {err}") from err


def make_plan(stack: str, config_file: Path | None = None) -> dict:
    """Run this checkout's program for `stack` with its stack file in a sandbox; describe what it declared."""
    path = stack_file(stack, config_file)
    config = read_stack_file(path)
    with tempfile.TemporaryDirectory(prefix="berth-plan-") as tmp:
        run = mockrun.record(stack, config, Path(tmp))
        return describe(run, path.name)


# --- describing a run --------------------------------------------------------------------------------

def describe(run: mockrun.Run, config_file: str) -> dict:
    """The plan of one run, from only what it registered and exported: what reviewers need, nothing a mock
    makes up, no secret value. Any commit's run can be described, whatever its internals."""
    config = run.config or mockrun.StackConfig({}, frozenset())
    secrets = {config.values[k] for k in config.secret_keys}
    secrets |= {r.state["result"] for r in run.resources if r.type.startswith("random:") and r.state.get("result")}
    secrets = {s for s in secrets if isinstance(s, str) and len(s) >= 4}
    project = Path(run.project) if run.project else Path("/nonexistent")
    not_set = run.outputs.get("secretsNotSet", NOT_EXPORTED)
    plan = {
        "berthPlan": FORMAT_VERSION,
        "intendedState": INTENDED_STATE,
        "stack": run.stack,
        "configFile": config_file,
        "environment": run.outputs.get("environment", config.values.get("berth:environment")),
        "host": _host(run, config),
        "proxy": {"loadBalancer": "application"} if run.of_type(ECS_SERVICE) else run.outputs.get("proxy", NOT_EXPORTED),
        "containers": {c.name: _container(run, c, secrets, project) for c in run.of_type(CONTAINER)},
        # every image the stack pulls or builds, static sites' included (they run in no container)
        "images": {r.name: _image_source(r, project) for r in run.resources if r.type in IMAGES},
        "routes": _ecs_routes(run) if run.of_type(LISTENER_RULE) else run.outputs.get("routes", NOT_EXPORTED),
        "keptOnDestroy": sorted(f"{r.type.rsplit(':', 1)[-1]} {r.name}" for r in run.resources
                                if r.survives_destroy and not r.type.startswith("berth:")),
        "secretsNotSet": not_set,
        # a stand-in's warning is said once, by the secrets note (when the program exports the names)
        "warnings": sorted(line.removeprefix("warning: ") for line in run.logs if line.startswith("warning: ")
                           and (not_set is NOT_EXPORTED or "uses a generated stand-in" not in line)),
    }
    if run.of_type(ECS_SERVICE):
        plan["services"] = ecs_services(run, secrets, project)
    else:
        plan["backups"] = run.outputs.get("backups", NOT_EXPORTED)
    return json.loads(json.dumps(plan, sort_keys=True))  # plain JSON types, the same as a plan read back


def _host(run: mockrun.Run, config: mockrun.StackConfig) -> dict:
    region = config.values.get("aws:region", "the AWS provider's default")
    if run.of_type(ECS_SERVICE):
        gpu = [r.values["instanceType"] for r in run.of_type("aws:ec2/launchTemplate:LaunchTemplate")]
        return {"kind": "ecs", "region": region, "cluster": run.outputs.get("clusterName"),
                "capacity": "Fargate" + (f", GPU instances {', '.join(sorted(gpu))}" if gpu else "")}
    instances = run.of_type("aws:ec2/instance:Instance")
    if not instances:
        hosts = sorted(run.by_urn(urn).values.get("host", "the local engine") for urn in _host_providers(run))
        return {"kind": "local", "dockerHost": ", ".join(hosts)}
    instance = instances[0].values
    ingress = {}
    for rule in run.of_type(INGRESS):
        v = rule.values
        ports = f"{int(v['fromPort'])}" if v.get("fromPort") == v.get("toPort") else f"{int(v['fromPort'])}-{int(v['toPort'])}"
        ingress[rule.name] = f"{v.get('ipProtocol')} {ports} from {v.get('cidrIpv4') or v.get('cidrIpv6')}"
    ssh_opts = " ".join(str(run.by_urn(urn).values.get("sshOpts", "")) for urn in _host_providers(run))
    return {
        "kind": "ec2",
        "access": "ssm" if "aws ssm start-session" in ssh_opts else "ssh",
        "instanceType": instance.get("instanceType"),
        "region": region,
        "rootVolumeGiB": int((instance.get("rootBlockDevice") or {}).get("volumeSize", 0)) or None,
        "dataVolumesGiB": {r.name: int(r.values["size"]) for r in run.of_type("aws:ebs/volume:Volume")},
        "elasticIp": bool(run.of_type("aws:ec2/eip:Eip")),
        "ingress": ingress,
    }


def _host_providers(run: mockrun.Run) -> set[str]:
    """The Docker providers the containers run on (the host's engine, never the image builder)."""
    return {c.provider.rsplit("::", 1)[0] for c in run.of_type(CONTAINER)}


def _container(run: mockrun.Run, c: mockrun.Resource, secrets: set[str], project: Path) -> dict:
    v = c.values
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in v.get("envs") or [])
    image = _image(run, c, project)
    return {
        "image": image,
        "ports": sorted(_port(p) for p in v.get("ports") or []),
        "networks": {n["name"]: sorted(n.get("aliases") or []) for n in v.get("networksAdvanced") or []},
        "volumes": {m["containerPath"]: _mount(m, project) for m in v.get("volumes") or []},
        "env": {name: "secret" if any(s in value for s in secrets) else "plain" for name, value in env.items()},
        "restart": v.get("restart", "no"),
        "memoryMb": int(v["memory"]) if v.get("memory") else None,
        "cpus": v.get("cpus"),
        "capAdd": sorted((v.get("capabilities") or {}).get("adds") or []),
        "replace": "delete-first" if docker_provider.container_delete_first(c.delete_before_replace_defined,
                                                                           c.delete_before_replace) else "create-first",
        # what a second `pulumi up` compares (offline/diff.py): digests, never values
        "inputs": docker_provider.input_digests(_sandbox_free({**v, "image": image}, project)),
        "replaceOnChanges": sorted(c.replace_on_changes),
        "replacementTrigger": None if c.replacement_trigger is None else docker_provider.digest(c.replacement_trigger),
    }


def _sandbox_free(value: Any, project: Path) -> Any:
    """`value` with the sandbox's directory left out of its paths (a mock image id stands in for its source)."""
    if isinstance(value, str):
        return value.replace(str(project.parent), "")
    if isinstance(value, dict):
        return {k: _sandbox_free(v, project) for k, v in value.items()}
    if isinstance(value, list):
        return [_sandbox_free(v, project) for v in value]
    return value


def _port(p: dict) -> str:
    external = int(p["external"]) if p.get("external") else ""
    return f"{p.get('ip') or '0.0.0.0'}:{external}->{int(p['internal'])}/{p.get('protocol') or 'tcp'}"


def _mount(m: dict, project: Path) -> str:
    source = f"volume {m['volumeName']}" if m.get("volumeName") else f"host {_relative(m.get('hostPath', ''), project)}"
    return source + (" (read-only)" if m.get("readOnly") else "")


def _relative(path: str, project: Path) -> str:
    """Paths inside the sandbox project, as the stack file would have them (relative to the project)."""
    return os.path.relpath(path, project) if path.startswith(str(project.parent)) else path


def _image(run: mockrun.Run, container: mockrun.Resource, project: Path) -> dict:
    """Where the container's image comes from: a pinned pull, or a build (context, version)."""
    sources = []
    seen, todo = set(), list(container.dependencies)
    while todo:  # everything the container's image input came through, short of other containers
        urn = todo.pop()
        if urn in seen:
            continue
        seen.add(urn)
        resource = run.by_urn(urn)
        if resource.type in IMAGES:
            sources.append(_image_source(resource, project))
        elif resource.type != CONTAINER:
            todo.extend(resource.dependencies)
    if len(sources) != 1:
        return {"unresolved": f"{len(sources)} image sources found"}
    return sources[0]


def _image_source(resource: mockrun.Resource, project: Path) -> dict:
    if resource.type == "docker:index/remoteImage:RemoteImage":
        return {"pull": resource.values["name"]}
    build, name = resource.values.get("build") or {}, resource.values.get("imageName", "")
    dockerfile = build.get("dockerfile")
    return {"build": _relative(build.get("context", ""), project), "tag": name.rsplit(":", 1)[-1] if ":" in name else None,
            "dockerfile": os.path.relpath(dockerfile, build["context"]) if dockerfile else None}


# --- ECS: services, their tasks, and the load balancer's rules ----------------------------------------

def _by_arn(run: mockrun.Run, type_: str) -> dict[str, mockrun.Resource]:
    return {r.state["arn"]: r for r in run.of_type(type_)}  # the mocks give every AWS resource an ARN


def ecs_services(run: mockrun.Run, secrets: set[str], project: Path) -> dict:
    """Each ECS service: where it runs, how many, its task's size, containers, env and secret names."""
    tasks = _by_arn(run, TASK_DEFINITION)
    scaling = {r.values["resourceId"].rsplit("/", 1)[-1]: r.values for r in run.of_type(SCALING_TARGET)}
    groups = {r.state.get("arn"): r.name for r in run.of_type("aws:lb/targetGroup:TargetGroup")}
    services = {}
    for service in run.of_type(ECS_SERVICE):
        v = service.values
        task = tasks.get(v.get("taskDefinition", ""))
        limits = scaling.get(service.state["name"])  # the mocks name every AWS resource, as the provider does
        strategy = [s.get("capacityProvider") for s in v.get("capacityProviderStrategies") or []]
        services[service.name] = {
            "runsOn": v.get("launchType") or ", ".join(map(str, strategy)) or "the cluster's default",
            "count": int(v.get("desiredCount") or 0),
            "scaling": f"{int(limits['minCapacity'])}-{int(limits['maxCapacity'])}" if limits else None,
            "singleton": v.get("deploymentMaximumPercent") == 100,
            "task": {"cpu": task.values.get("cpu"), "memoryMb": int(task.values.get("memory") or 0) or None} if task else None,
            "containers": {c["name"]: _task_container(c, secrets) for c in _container_definitions(task)},
            "targetGroups": sorted(groups.get(lb.get("targetGroupArn"), "?") for lb in v.get("loadBalancers") or []),
            "aliases": sorted(f"{a['dnsName']}:{int(a['port'])}" for s in (v.get("serviceConnectConfiguration") or {})
                              .get("services") or [] for a in s.get("clientAlias") or []),
        }
    return services


def _container_definitions(task: mockrun.Resource | None) -> list[dict]:
    raw = task.values.get("containerDefinitions") if task else None
    return json.loads(raw) if isinstance(raw, str) else raw or []


def _task_container(c: dict, secrets: set[str]) -> dict:
    plain = {e["name"]: "secret" if any(s in str(e.get("value")) for s in secrets) else "plain"
             for e in c.get("environment") or []}
    return {"image": str(c.get("image", "")).split("@", 1)[0],
            "env": {**plain, **{s["name"]: "secret" for s in c.get("secrets") or []}},
            "ports": sorted(int(p["containerPort"]) for p in c.get("portMappings") or [])}


def _ecs_routes(run: mockrun.Run) -> dict:
    """Routes as the load balancer's listener rules have them: host and path to a service's target group."""
    served_by = {lb.get("targetGroupArn"): s.name for s in run.of_type(ECS_SERVICE) for lb in s.values.get("loadBalancers") or []}
    routes = {}
    for rule in run.of_type(LISTENER_RULE):
        conditions = {k: c[k]["values"] for c in rule.values.get("conditions") or [] for k in c if c[k]}
        host = (conditions.get("hostHeader") or ["*"])[0]
        patterns = conditions.get("pathPattern") or ["/"]
        path = "/" if patterns[0] in ("/", "/*") else patterns[0].rstrip("/") + ("/" if len(patterns) > 1 else "")
        group = next((a.get("targetGroupArn") for a in rule.values.get("actions") or [] if a.get("targetGroupArn")), None)
        routes[f"{host}{path}"] = {"host": host, "path": path, "upstreams": [served_by.get(group, "?")],
                                   "priority": int(rule.values.get("priority") or 0)}
    return routes


# --- rendering ---------------------------------------------------------------------------------------

def image_text(image: dict) -> str:
    if "pull" in image:
        return image["pull"]
    if "build" in image:
        text = f"build {image['build']}"
        if image.get("dockerfile"):
            text += f" ({image['dockerfile']})"
        return text + (f" tagged {image['tag']}" if image.get("tag") else "")
    return image.get("unresolved", "?")


def field_text(field: str, value: Any) -> str:
    """One container field, as a reviewer reads it."""
    if field == "image":
        return image_text(value)
    if field == "env":
        return ", ".join(f"{n} (secret)" if kind == "secret" else n for n, kind in value.items()) or "-"
    if field == "networks":
        return ", ".join(f"{n} ({', '.join(a)})" if a else n for n, a in value.items()) or "-"
    if field == "volumes":
        return ", ".join(f"{path} <- {source}" for path, source in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return "-" if value is None else str(value)


def host_text(host: dict) -> str:
    if host["kind"] == "local":
        return f"local Docker engine ({host['dockerHost']})"
    if host["kind"] == "ecs":
        return f"ECS cluster {host['cluster']} in {host['region']} ({host['capacity']})"
    disks = ", ".join(f"{name} {gib} GiB" for name, gib in host["dataVolumesGiB"].items())
    reached = "SSH through SSM Session Manager" if host["access"] == "ssm" else "SSH"
    return (f"EC2 {host['instanceType']} in {host['region']}; root {host['rootVolumeGiB']} GiB; data {disks or '-'}"
            + ("; Elastic IP" if host.get("elasticIp") else "") + f"; deploys reach it over {reached}")


def proxy_text(proxy: dict | None) -> str:
    if proxy is NOT_EXPORTED:
        return UNKNOWN
    return ", ".join(k if v is True else f"{k}={v}" for k, v in proxy.items() if v not in (None, False)) or "-"


def route_text(route: dict) -> tuple[str, str, str]:
    target = ", ".join(route.get("upstreams") or []) or (f"files in {route['staticRoot']}" if route.get("staticRoot") else "-")
    options = ", ".join(k if v is True else f"{k}={v}" for k, v in route.items()
                        if k not in ("host", "path", "upstreams", "staticRoot"))
    return f"{route['host']}{route['path']}", target, options


def _limits(spec: dict) -> str:
    parts = [f"memory {spec['memoryMb']} MB" if spec["memoryMb"] else "no memory limit"]
    if spec.get("cpus"):
        parts.append(f"cpus {spec['cpus']}")
    parts += [f"restart {spec['restart']}", f"replaced {spec['replace']}"]
    if spec["capAdd"]:
        parts.append(f"adds {', '.join(spec['capAdd'])}")
    return ", ".join(parts)


def secrets_note(plan: dict) -> str | None:
    if not plan.get("secretsNotSet"):
        return None
    names = ", ".join(plan["secretsNotSet"])
    if not policy(plan["environment"]).makes_up_secrets:
        consequence = f"{plan['environment']} refuses to deploy until they are set (this plan used stand-ins)"
    else:
        consequence = "the program generates stand-ins for them"
    return (f"secrets not set in {plan['configFile']}: {names}; {consequence}. "
            "Set one with: pulumi config set --secret <name> <value>")


def render_text(plan: dict) -> str:
    lines = [f"berth plan: stack {plan['stack']} (environment {plan['environment']}, {plan['configFile']})",
             plan["intendedState"], "", f"Host: {host_text(plan['host'])}"]
    lines += [f"  ingress {name}: {rule}" for name, rule in plan["host"].get("ingress", {}).items()]
    lines += [f"Proxy: {proxy_text(plan['proxy'])}", "", f"Containers ({len(plan['containers'])}):"]
    for name, spec in plan["containers"].items():
        lines.append(f"  {name}")
        for field in ("image", "ports", "networks", "volumes", "env"):
            lines.append(f"    {field:<9} {field_text(field, spec[field])}")
        lines.append(f"    {'limits':<9} {_limits(spec)}")
    lines += ["", f"Images ({len(plan['images'])}):"]
    lines += [f"  {name}: {image_text(image)}" for name, image in plan["images"].items()]
    if plan.get("services"):
        lines += ["", f"ECS services ({len(plan['services'])}):"]
        lines += [f"  {name}: {service_text(spec)}" for name, spec in plan["services"].items()]
    lines += ["", *_route_lines(plan)]
    if backup_lines(plan):
        lines += ["", *backup_lines(plan)]
    lines += ["", f"Kept on destroy: {', '.join(plan['keptOnDestroy']) or 'nothing'}"]
    if secrets_note(plan):
        lines.append(f"Note: {secrets_note(plan)}")
    lines += [f"Warning: {w}" for w in plan["warnings"]]
    return "\n".join(lines) + "\n"


def service_text(spec: dict) -> str:
    """One ECS service on a line: where, how many, how big, what it serves and is found by."""
    count = f"{spec['count']} task" + ("s" if spec["count"] != 1 else "")
    parts = [f"{count} on {spec['runsOn']}", f"scales {spec['scaling']}" if spec.get("scaling") else None,
             "singleton" if spec.get("singleton") else None]
    if spec.get("task"):
        parts.append(f"cpu {spec['task']['cpu']}, memory {spec['task']['memoryMb']} MB")
    parts += [f"target group {', '.join(spec['targetGroups'])}" if spec.get("targetGroups") else None,
              f"found as {', '.join(spec['aliases'])}" if spec.get("aliases") else None]
    for name, c in spec.get("containers", {}).items():
        parts.append(f"{name}: {c['image']} env {field_text('env', c['env'])}")
    return "; ".join(p for p in parts if p)


def backup_lines(plan: dict) -> list[str]:
    """The schedule, retention, where backups go, and what each app's backup holds (one host stacks)."""
    if "backups" not in plan:
        return []
    backups = plan["backups"]
    if backups is NOT_EXPORTED:
        return [f"Backups: {UNKNOWN}"]
    if not backups.get("enabled"):
        return ["Backups: off (berth:backups.enabled is false)"]
    kept = f"kept {backups['retentionDays']} days" if backups.get("retentionDays") else "kept until you delete them"
    lines = [f"Backups: {backups['schedule']}; {kept}; to {backups['store']}"]
    lines += [f"  {app}: {'; '.join(what)}" for app, what in backups["apps"].items()]
    return lines or ["  (no app holds data)"]


def _route_lines(plan: dict) -> list[str]:
    if plan["routes"] is NOT_EXPORTED:
        return [f"Routes: {UNKNOWN}"]
    lines = [f"Routes ({len(plan['routes'])}):"]
    for route in plan["routes"].values():
        where, target, options = route_text(route)
        lines.append(f"  {where} -> {target}" + (f"  [{options}]" if options else ""))
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(plan: dict) -> str:
    lines = [f"### berth plan: `{plan['stack']}` (environment {plan['environment']}, `{plan['configFile']}`)", "",
             f"> {plan['intendedState']}", "", f"**Host:** {host_text(plan['host'])}", ""]
    if plan["host"].get("ingress"):
        lines += ["**Ingress:** " + "; ".join(f"`{n}` {r}" for n, r in plan["host"]["ingress"].items()), ""]
    lines += [f"**Proxy:** {proxy_text(plan['proxy'])}", ""]
    lines += ["| container | image | ports | networks | volumes | env (names only) | limits |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, spec in plan["containers"].items():
        cells = [f"`{name}`"] + [field_text(f, spec[f]) for f in ("image", "ports", "networks", "volumes", "env")]
        lines.append("| " + " | ".join(_cell(c) for c in cells + [_limits(spec)]) + " |")
    lines += ["", "| image | source |", "| --- | --- |"]
    lines += [f"| `{name}` | {_cell(image_text(image))} |" for name, image in plan["images"].items()]
    if plan.get("services"):
        lines += ["", "| ECS service | what runs |", "| --- | --- |"]
        lines += [f"| `{name}` | {_cell(service_text(spec))} |" for name, spec in plan["services"].items()]
    if plan["routes"] is NOT_EXPORTED:
        lines += ["", f"**Routes:** {UNKNOWN}"]
    else:
        lines += ["", "| route | to | options |", "| --- | --- | --- |"]
        lines += ["| " + " | ".join(_cell(c) for c in route_text(r)) + " |" for r in plan["routes"].values()]
    if backup_lines(plan):
        head, *apps = backup_lines(plan)
        lines += ["", f"**{head.replace(':', ':**', 1)}", *[f"- {a.strip()}" for a in apps]]
    lines += ["", f"**Kept on destroy:** {', '.join(plan['keptOnDestroy']) or 'nothing'}"]
    if secrets_note(plan):
        lines += ["", f"**Note:** {secrets_note(plan)}"]
    lines += [f"- warning: {w}" for w in plan["warnings"]]
    return "\n".join(lines) + "\n"


def render_json(plan: dict) -> str:
    return json.dumps(plan, indent=2, sort_keys=True) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


# --- command line ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: dev, staging, prod, or a PR stack such as pr-42")
    parser.add_argument("--config-file", type=Path, help="stack file to use (default: Pulumi.<stack>.yaml)")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
    parser.add_argument("--out", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        text = RENDERERS[args.format](make_plan(args.stack, args.config_file))
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    except (PlanError, mockrun.NothingRecorded) as err:
        print(f"berth plan: {err}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    mockrun.collect_seldom()  # here, not in main(): it freezes what exists, and the tests call main() many times
    sys.exit(main())
