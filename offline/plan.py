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
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from render import caddyfile
from config.app import App
from config.errors import ConfigError
from config.deployment import NAMESPACE, Deployment
from config.load import load
from config.raw_config import RawConfig
from config.yaml_files import load_yaml
from offline import mockrun

FORMAT_VERSION = 1
INTENDED_STATE = (
    "Intended state: what this stack file asks for, computed offline by running the program under "
    "Pulumi mocks. It is not the cloud's current state; `pulumi preview` compares with what is deployed. "
    "Image digests, ids and addresses are stand-ins, and build contexts are empty stand-ins."
)
CONTAINER = "docker:index/container:Container"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
IMAGES = ("docker:index/remoteImage:RemoteImage", "docker:index/image:Image")


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


def make_plan(stack: str, config_file: Path | None = None) -> dict:
    """Run the program for `stack` with its stack file in a sandbox; describe what it declared."""
    path = stack_file(stack, config_file)
    try:
        config = mockrun.StackConfig.from_file(path)
    except (yaml.YAMLError, AttributeError) as err:  # YAML syntax, or a file that is not a mapping
        raise PlanError(f"{path.name} is not a stack file berth can read: {err}") from err
    environment = config.values.get(f"{NAMESPACE}:environment")
    not_set = sorted(_named_secrets(config) - {k.split(":", 1)[1] for k in config.secret_keys})
    if environment == "prod" and not_set:
        # prod never makes secrets up (config/checks.py); a stand-in lets the plan show everything else.
        config = config.with_values(secrets={f"{NAMESPACE}:{n}": f"plan-stand-in-{n}" for n in not_set})
    with tempfile.TemporaryDirectory(prefix="berth-plan-") as tmp:
        project = mockrun.sandbox_project(Path(tmp), config)
        run = mockrun.run(stack, config, root_directory=project)
        deployment = load(RawConfig.from_values(config.values, config.secret_keys), stack, project)
        plan = describe(run, config, deployment, Path(tmp))
    plan.update(configFile=path.name, secretsNotSet=not_set)
    return json.loads(json.dumps(plan, sort_keys=True))  # plain JSON types, the same as a plan read back


def _named_secrets(config: mockrun.StackConfig) -> set[str]:
    """The config secrets the stack's apps name. An app file that does not load is left to the run to report."""
    apps = config.object(f"{NAMESPACE}:apps")
    names: set[str] = set()
    for name in apps if isinstance(apps, dict) else ():
        try:
            names |= App.model_validate(load_yaml(mockrun.REPO / "apps" / f"{name}.yaml")).secret_names
        except (OSError, ValueError, yaml.YAMLError, ValidationError):
            continue
    return names


# --- describing a run --------------------------------------------------------------------------------

def describe(run: mockrun.Run, config: mockrun.StackConfig, deployment: Deployment, sandbox: Path) -> dict:
    """The plan of one run: what reviewers need, nothing a mock makes up, no secret value."""
    secrets = {config.values[k] for k in config.secret_keys}
    secrets |= {r.state["result"] for r in run.resources if r.type.startswith("random:") and r.state.get("result")}
    secrets = {s for s in secrets if len(s) >= 4}
    proxy_plan = caddyfile.plan(deployment)
    return {
        "berthPlan": FORMAT_VERSION,
        "intendedState": INTENDED_STATE,
        "stack": run.stack,
        "environment": deployment.environment,
        "host": _host(run, config),
        "proxy": {_camel(k): v for k, v in dataclasses.asdict(proxy_plan).items() if k != "sites"},
        "containers": {c.name: _container(run, c, secrets, sandbox) for c in run.of_type(CONTAINER)},
        # every image the stack pulls or builds, static sites' included (they run in no container)
        "images": {r.name: _image_source(r, sandbox) for r in run.resources if r.type in IMAGES},
        "routes": _routes(proxy_plan),
        "keptOnDestroy": sorted(f"{r.type.rsplit(':', 1)[-1]} {r.name}" for r in run.resources
                                if r.survives_destroy and not r.type.startswith("berth:")),
        "warnings": sorted(line.removeprefix("warning: ") for line in run.logs if line.startswith("warning: ")),
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _host(run: mockrun.Run, config: mockrun.StackConfig) -> dict:
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
        "region": config.values.get("aws:region", "the AWS provider's default"),
        "rootVolumeGiB": int((instance.get("rootBlockDevice") or {}).get("volumeSize", 0)) or None,
        "dataVolumesGiB": {r.name: int(r.values["size"]) for r in run.of_type("aws:ebs/volume:Volume")},
        "elasticIp": bool(run.of_type("aws:ec2/eip:Eip")),
        "ingress": ingress,
    }


def _host_providers(run: mockrun.Run) -> set[str]:
    """The Docker providers the containers run on (the host's engine, never the image builder)."""
    return {c.provider.rsplit("::", 1)[0] for c in run.of_type(CONTAINER)}


def _container(run: mockrun.Run, c: mockrun.Resource, secrets: set[str], sandbox: Path) -> dict:
    v = c.values
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in v.get("envs") or [])
    return {
        "image": _image(run, c, sandbox),
        "ports": sorted(_port(p) for p in v.get("ports") or []),
        "networks": {n["name"]: sorted(n.get("aliases") or []) for n in v.get("networksAdvanced") or []},
        "volumes": {m["containerPath"]: _mount(m, sandbox) for m in v.get("volumes") or []},
        "env": {name: "secret" if any(s in value for s in secrets) else "plain" for name, value in env.items()},
        "restart": v.get("restart", "no"),
        "memoryMb": int(v["memory"]) if v.get("memory") else None,
        "cpus": v.get("cpus"),
        "capAdd": sorted((v.get("capabilities") or {}).get("adds") or []),
        "replace": "delete-first" if c.delete_before_replace else "create-first",
    }


def _port(p: dict) -> str:
    external = int(p["external"]) if p.get("external") else ""
    return f"{p.get('ip') or '0.0.0.0'}:{external}->{int(p['internal'])}/{p.get('protocol') or 'tcp'}"


def _mount(m: dict, sandbox: Path) -> str:
    source = f"volume {m['volumeName']}" if m.get("volumeName") else f"host {_relative(m.get('hostPath', ''), sandbox)}"
    return source + (" (read-only)" if m.get("readOnly") else "")


def _relative(path: str, sandbox: Path) -> str:
    """Paths inside the sandbox, as the stack file would have them (relative to the project)."""
    return os.path.relpath(path, sandbox / "berth") if path.startswith(str(sandbox)) else path


def _image(run: mockrun.Run, container: mockrun.Resource, sandbox: Path) -> dict:
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
            sources.append(_image_source(resource, sandbox))
        elif resource.type != CONTAINER:
            todo.extend(resource.dependencies)
    if len(sources) != 1:
        return {"unresolved": f"{len(sources)} image sources found"}
    return sources[0]


def _image_source(resource: mockrun.Resource, sandbox: Path) -> dict:
    if resource.type == "docker:index/remoteImage:RemoteImage":
        return {"pull": resource.values["name"]}
    build, name = resource.values.get("build") or {}, resource.values.get("imageName", "")
    dockerfile = build.get("dockerfile")
    return {"build": _relative(build.get("context", ""), sandbox), "tag": name.rsplit(":", 1)[-1] if ":" in name else None,
            "dockerfile": os.path.relpath(dockerfile, build["context"]) if dockerfile else None}


def _routes(proxy_plan) -> dict:
    routes = {}
    for site in proxy_plan.sites:
        for rule in site.rules:
            fields = {_camel(k): v for k, v in dataclasses.asdict(rule).items()
                      if k != "path" and v not in (None, False, (), [])}
            routes[f"{site.host}{rule.path}"] = {"host": site.host, "path": rule.path, **fields}
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
    disks = ", ".join(f"{name} {gib} GiB" for name, gib in host["dataVolumesGiB"].items())
    reached = "SSH through SSM Session Manager" if host["access"] == "ssm" else "SSH"
    return (f"EC2 {host['instanceType']} in {host['region']}; root {host['rootVolumeGiB']} GiB; data {disks or '-'}"
            + ("; Elastic IP" if host.get("elasticIp") else "") + f"; deploys reach it over {reached}")


def proxy_text(proxy: dict) -> str:
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
    if not plan["secretsNotSet"]:
        return None
    names = ", ".join(plan["secretsNotSet"])
    if plan["environment"] == "prod":
        consequence = "prod refuses to deploy until they are set (this plan used stand-ins)"
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
    lines += ["", f"Routes ({len(plan['routes'])}):"]
    for route in plan["routes"].values():
        where, target, options = route_text(route)
        lines.append(f"  {where} -> {target}" + (f"  [{options}]" if options else ""))
    lines += ["", f"Kept on destroy: {', '.join(plan['keptOnDestroy']) or 'nothing'}"]
    if secrets_note(plan):
        lines.append(f"Note: {secrets_note(plan)}")
    lines += [f"Warning: {w}" for w in plan["warnings"]]
    return "\n".join(lines) + "\n"


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
    lines += ["", "| route | to | options |", "| --- | --- | --- |"]
    lines += ["| " + " | ".join(_cell(c) for c in route_text(r)) + " |" for r in plan["routes"].values()]
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
    sys.exit(main())
