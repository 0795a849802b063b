"""The rules that span a whole stack: settings against apps, the environment, the host, the filesystem.

Each check adds every problem it finds to `problems` (with its config path and what to do) and never
raises; config/load.py runs them all and raises once, so a user sees every problem in one go.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Network
from pathlib import Path

from config import conventions
from config.app import SHARED_SERVICES, App, Build, HostDir, Service, _hostname
from config.conventions import EC2_DATA_ROOT
from config.deployment import NAMESPACE, Deployment
from config.errors import Problems
from config.instance_types import InstanceType, InstanceTypeLookup, UnknownInstanceType
from config.raw_config import RawConfig
from config.stack import Ec2HostSettings, StackSettings
from rules import containers, credentials, environments, images, network, postgres

SETTINGS_KEYS = frozenset(f.alias or n for n, f in StackSettings.model_fields.items())


def check_keys(raw: RawConfig, secret_names: frozenset[str], problems: Problems) -> None:
    for key in raw.values:
        if key not in SETTINGS_KEYS and key not in secret_names:
            problems.add(f"{NAMESPACE}:{key}",
                         "is neither a berth setting nor a secret an app names; remove it, check its spelling, "
                         f"or reference it from an app's `secretEnv`/`external` (settings: {', '.join(sorted(SETTINGS_KEYS))})")


def check_placement(settings: StackSettings, problems: Problems) -> None:
    """Where each environment runs and under which names: dev locally, staging/prod on AWS with a real domain."""
    env, host, policy = settings.environment, settings.host, environments.policy(settings.environment)
    if policy.on_this_machine and host.kind != "local":
        problems.add(f"{NAMESPACE}:host.kind", f"{env} runs on the local Docker engine; set `kind: local`")
    if not policy.on_this_machine and host.kind == "local":
        problems.add(f"{NAMESPACE}:host.kind", f"{env} runs on an EC2 host (`kind: ec2`) or an ECS cluster (`kind: ecs`) berth creates")
    if policy.serves_https and settings.domain == "localhost":
        problems.add(f"{NAMESPACE}:domain", f"{env} needs a real domain (e.g. chmedia.com) for its sites and certificates")
    if settings.dns is not None and host.kind == "local":
        problems.add(f"{NAMESPACE}:dns", "DNS records point at the EC2 host's public IP, but this stack runs on the "
                                         "local Docker engine; remove berth:dns (dev serves *.localhost names)")


def check_proxy(settings: StackSettings, problems: Problems) -> None:
    """The proxy's ports, and the contact its certificate authority needs outside dev."""
    if environments.policy(settings.environment).serves_https and settings.host.kind == "ec2" and settings.proxy.acme_email is None:
        problems.add(f"{NAMESPACE}:proxy.acmeEmail", "set the e-mail the certificate authority may warn about expiring certificates")
    if settings.proxy.http_port == settings.proxy.https_port:
        problems.add(f"{NAMESPACE}:proxy.httpsPort", "must differ from proxy.httpPort")


def check_host_access(settings: StackSettings, problems: Problems) -> None:
    """How pulumi reaches an EC2 host, and who else may: the deploy key, and SSH only from admin networks."""
    host = settings.host
    if not isinstance(host, Ec2HostSettings):
        return
    if host.access == "ssh" and not host.admin_cidrs:
        problems.add(f"{NAMESPACE}:host.adminCidrs",
                     "with `access: ssh` pulumi reaches the host on port 22, which opens only to these networks; "
                     "name the network you deploy from, or set `access: ssm` to deploy through SSM Session Manager")
    if not host.ssh_public_key:
        problems.add(f"{NAMESPACE}:host.sshPublicKey",
                     "the Docker provider logs in over SSH (directly or through SSM); give the deploy key's public half")
    _check_admin_space(host, settings.environment, problems)


def check_shared_services(settings: StackSettings, apps: dict[str, App], problems: Problems) -> None:
    """Every shared service an app uses is one the stack runs."""
    for app in apps.values():
        for shared in SHARED_SERVICES:
            if app.uses_shared(shared) and getattr(settings.shared, shared) is None:
                problems.add(f"{NAMESPACE}:shared.{shared}",
                             f"app {app.name!r} uses {shared}; add `{shared}: {{}}` under berth:shared")


def _check_admin_space(host: Ec2HostSettings, environment: str, problems: Problems) -> None:
    """Every EC2 stack (staging and PR stacks too) admits SSH from named admin networks only (rules/network.py)."""
    for version, total in network.too_wide(host.admin_cidrs.values()):
        admitted = {name: cidr for name, cidr in host.admin_cidrs.items() if cidr.version == version}
        widest = max(admitted, key=lambda n: admitted[n].num_addresses)
        problems.add(f"{NAMESPACE}:host.adminCidrs.{widest}",
                     f"{', '.join(str(c) for c in admitted.values())} open SSH to {network.reach(total, version)}; "
                     f"{environment} allows SSH only from named admin networks (at most a "
                     f"/{network.MAX_ADMIN_PREFIX[version]} in all), or none: use SSM Session Manager")


def check_images(settings: StackSettings, apps: dict[str, App], project_dir: Path, problems: Problems) -> None:
    env = settings.environment
    pins = environments.policy(env).pins_images
    if pins:
        for where, ref in [(f"{NAMESPACE}:proxy.image", settings.proxy.image)] + [
            (f"{NAMESPACE}:shared.{name}.image", getattr(settings.shared, name).image)
            for name in SHARED_SERVICES if getattr(settings.shared, name) is not None
        ]:
            if not images.is_pinned(ref):
                problems.add(where, images.pin_fix(ref, "prod deploys only pinned images"))
    for app in apps.values():
        for svc_name, svc in app.services.items():
            where = f"{NAMESPACE}:apps.{app.name}.services.{svc_name}"
            if svc.image is None and svc.build is None:
                problems.add(where, "has no image; set `image` (a pinned reference) or `build.context` (a source dir)")
            elif svc.image is not None and pins and not images.is_pinned(svc.image):
                problems.add(f"{where}.image", images.pin_fix(svc.image, "prod deploys only pinned images"))
            elif svc.build is not None:
                _check_build(app, svc_name, svc, svc.build, env, where, project_dir, problems)


def _held_by_context(context: Path, project_dir: Path) -> str | None:
    """What a build context (resolved) would hand a build that is not the app's: the machine's system
    directories, or this project with its Pulumi state and passphrase."""
    if containers.is_system_path(str(context)):
        return "the machine's own system files"
    if project_dir.resolve().is_relative_to(context):
        return "this project (its Pulumi state and passphrase)"
    return None


def _check_build(app: App, svc_name: str, svc: Service, build: Build, env: str, where: str, project_dir: Path,
                 problems: Problems) -> None:
    if build.context is None:
        problems.add(f"{where}.build.context",
                     f"is not set; point it at the source of {app.name}/{svc_name}: "
                     f"pulumi config set --path '{where}.build.context' ../path/to/source")
        return
    context = (project_dir / build.context).resolve()
    if held := _held_by_context(context, project_dir):
        problems.add(f"{where}.build.context", f"{build.context} is {context}, which holds {held}; Docker sends a "
                                               "build all of its context. Point it at the app's own checkout")
    elif not context.is_dir():
        problems.add(f"{where}.build.context",
                     f"directory {build.context} does not exist (looked for {context}); clone the source there "
                     f"or set its path: pulumi config set --path '{where}.build.context' <dir>")
    elif build.dockerfile and not (context / build.dockerfile).is_file():
        problems.add(f"{where}.build.dockerfile", f"{build.dockerfile} is not in {context}")
    if environments.policy(env).versions_builds and not svc.version:
        problems.add(f"{where}.version",
                     "is required for a built image outside dev: the version (e.g. the git SHA) it is tagged and "
                     "pushed as, and what you set back to roll back")


def host_type(settings: StackSettings, lookup: InstanceTypeLookup, problems: Problems) -> InstanceType | None:
    """What AWS says the EC2 host's instance type is (None when not on EC2, or when AWS knows no such type)."""
    if not isinstance(settings.host, Ec2HostSettings):
        return None
    try:
        return lookup(settings.host.instance_type)
    except UnknownInstanceType as err:
        problems.add(f"{NAMESPACE}:host.instanceType", f"{err}; choose one `aws ec2 describe-instance-types` lists")
        return None


def check_host_type(settings: StackSettings, apps: dict[str, App], host: InstanceType | None, problems: Problems) -> None:
    """Only real misfits: memory the containers need, a GPU a service needs, images for the other architecture."""
    if host is None:
        return
    _check_memory(settings, apps, host, problems)
    _check_cpus(apps, host, problems)
    for app in apps.values():
        for svc_name, svc in app.services.items():
            if svc.gpu and not host.gpu:
                problems.add(f"{NAMESPACE}:host.instanceType",
                             f"{host.name} has no GPU but {app.name}.{svc_name} needs one; choose a type with an NVIDIA "
                             "GPU (g4dn, g5, g6, ...), or set the service's `gpu: false` to run it on the CPU")
            if svc.build is not None and svc.build.platform not in (None, host.platform):
                problems.add(f"{NAMESPACE}:apps.{app.name}.services.{svc_name}.build.platform",
                             f"{svc.build.platform} images do not run on {host.name}, which is {host.architecture} "
                             f"({host.platform}); build for {host.platform}, or leave platform unset to build for the host")


def _check_memory(settings: StackSettings, apps: dict[str, App], host: InstanceType, problems: Problems) -> None:
    """The limits of every container fit the host, also while a deploy that changes one service runs that
    service's new containers beside its old ones (a stateless service is replaced create-first and its
    old containers are retired once the new ones are healthy; components/single_host/container.py). Limits
    are ceilings Docker never reserves: a deploy changing every stateless service at once can briefly exceed
    this (docs/deploys.md), but no single-service deploy can."""
    shared = settings.shared
    total = settings.proxy.memory_mb + (shared.postgres.memory_mb if shared.postgres else 0)
    if shared.redis is not None:  # one Redis per app that uses it
        total += sum(shared.redis.memory_mb_for(a) for a in apps.values() if a.uses_shared("redis"))
    servers = [(f"{a.name}.{n}", s) for a in apps.values() for n, s in a.services.items() if s.kind == "server"]
    total += sum(s.memory_mb * s.replicas for _, s in servers)
    usable = host.usable_memory_mb
    if total > usable:
        problems.add(f"{NAMESPACE}:host.instanceType",
                     f"the containers' memory limits add up to {total} MiB but {host.name} leaves {usable} MiB "
                     "for containers; choose a larger instance type or lower memoryMb")
        return
    overlap, name = max(((s.memory_mb * s.replicas, n) for n, s in servers if not s.stateful), default=(0, ""))
    if total + overlap > usable:
        problems.add(f"{NAMESPACE}:host.instanceType",
                     f"a deploy that changes {name} starts its new containers ({overlap} MiB) beside the old "
                     f"ones: the memory limits then add up to {total + overlap} MiB but {host.name} leaves {usable} "
                     "MiB for containers; choose a larger instance type or lower memoryMb")


def _check_cpus(apps: dict[str, App], host: InstanceType, problems: Problems) -> None:
    """Docker refuses a container more CPUs than the host has ("Range of CPUs is from 0.01 to 2.00, as
    there are only 2 CPUs available", Docker 20.10 on a 2-CPU engine)."""
    for app in apps.values():
        for svc_name, svc in app.services.items():
            if svc.cpus is not None and svc.cpus > host.vcpus:
                problems.add(f"{NAMESPACE}:apps.{app.name}.services.{svc_name}.cpus",
                             f"{svc.cpus} CPUs, but {host.name} has {host.vcpus}; Docker refuses to create the "
                             f"container. Set at most {host.vcpus}, or choose a larger instance type")


def check_host_dirs(settings: StackSettings, apps: dict[str, App], project_dir: Path, problems: Problems) -> None:
    """A host dir reaches only what is the app's own: on EC2 a directory of its own on the data volume
    (rules/containers.py), in dev one of its own checkouts (its services' build contexts), judged
    after resolving `..` and links. Either way never another app's data, berth's, or the host's."""
    on_ec2 = isinstance(settings.host, Ec2HostSettings)
    for app in apps.values():
        checkouts = _checkouts(app, project_dir)
        for svc_name, svc in app.services.items():
            for dir_name, hd in svc.host_dirs.items():
                where = f"{NAMESPACE}:apps.{app.name}.services.{svc_name}.hostDirs.{dir_name}.source"
                if hd.source is None:
                    continue
                problem = (_ec2_host_dir_problem(app, hd.source) if on_ec2
                           else _dev_host_dir_problem(hd.source, checkouts, project_dir, where))
                if problem:
                    problems.add(where, problem)
                elif hd.read_only:
                    _check_mounts_inside(svc, hd, where.removesuffix(".source"), project_dir, problems)
            for dir_name, hd in svc.host_dirs.items():
                if hd.source is None and hd.read_only:
                    where = f"{NAMESPACE}:apps.{app.name}.services.{svc_name}.hostDirs.{dir_name}"
                    _check_mounts_inside(svc, hd, where, project_dir, problems)


def _ec2_host_dir_problem(app: App, source: str) -> str | None:
    if not source.startswith("/"):
        return (f"{source} is a directory on the machine running pulumi; only dev mounts a local checkout. Build the "
                f"code into the image, or leave source unset for a directory of the app's own under {EC2_DATA_ROOT}/")
    return containers.own_directory_problem(source, conventions.app_host_dirs(EC2_DATA_ROOT, app.name))


def _checkouts(app: App, project_dir: Path) -> list[Path]:
    """The app's own source checkouts here: its services' build contexts that exist."""
    contexts = [(project_dir / s.build.context).resolve() for s in app.services.values() if s.build and s.build.context]
    return sorted({c for c in contexts if c.is_dir()})


def _dev_host_dir_problem(source: str, checkouts: list[Path], project_dir: Path, where: str) -> str | None:
    resolved = (project_dir / source).resolve()
    if not resolved.is_dir():
        return (f"directory {source} does not exist (looked for {resolved}); clone the source there or set its path: "
                f"pulumi config set --path '{where}' <dir>")
    if not any(resolved.is_relative_to(c) for c in checkouts):
        own = ", ".join(str(c) for c in checkouts) or "none: no service of the app builds from a checkout here"
        return (f"{source} is {resolved}, which is not inside one of the app's own checkouts ({own}); in dev a host "
                "directory mounts part of the app's source for live reload, nothing else")
    return None


def _check_mounts_inside(svc: Service, hd: HostDir, where: str, project_dir: Path, problems: Problems) -> None:
    """A mount inside a read-only bind mount needs its mount point to exist in the source already:
    Docker creates missing mount points, but it cannot inside a read-only mount, and the container
    then fails to start. A local checkout (dev) can be looked at; a directory on the host cannot."""
    inside = [path for path in [*svc.mounted_volumes.values(), *svc.tmpfs,
                                *(other.target for other in svc.host_dirs.values() if other is not hd)]
              if path.startswith(hd.target.rstrip("/") + "/")]
    for path in inside:
        below = path[len(hd.target.rstrip("/")) + 1:]
        if hd.source is None or hd.source.startswith("/"):
            problems.add(where, f"{path} is mounted inside this read-only mount of {hd.target}, whose directory on the "
                                f"host berth cannot look into; Docker cannot create the mount point {below} there. "
                                f"Mount it outside {hd.target}, or drop readOnly")
        elif not (project_dir / hd.source / below).is_dir():
            problems.add(where, f"{path} is mounted inside this read-only mount of {hd.source}, which has no directory "
                                f"{below} for it; Docker cannot create one in a read-only mount, so the container would "
                                f"not start. Create it (it stays empty; the mount covers it): mkdir -p {hd.source}/{below}")


# berth's EC2 host sits in the default VPC, whose range every AWS account gets; a Docker network on it
# would hide the VPC's DNS resolver and peers from the host.
DEFAULT_VPC = IPv4Network("172.31.0.0/16")


def check_networks(settings: StackSettings, apps: dict[str, App], problems: Problems) -> None:
    """Fixed app subnets must not overlap each other, nor (on EC2) the VPC the host lives in."""
    owners: dict[str, IPv4Network] = {}
    for app in apps.values():
        if app.network is None:
            continue
        subnet, where = app.network.subnet, f"apps/{app.name}.yaml: network.subnet"
        for other, taken in owners.items():
            if subnet.overlaps(taken):
                problems.add(where, f"{subnet} overlaps {taken}, the subnet of app {other!r} in this stack; give each app its own range")
        if isinstance(settings.host, Ec2HostSettings) and subnet.overlaps(DEFAULT_VPC):
            problems.add(where, f"{subnet} overlaps the host's VPC {DEFAULT_VPC}; the host could no longer reach its "
                                "DNS resolver. Choose another range")
        owners[app.name] = subnet


def check_secrets(settings: StackSettings, raw: RawConfig, secret_names: frozenset[str], problems: Problems,
                  stand_ins_allowed: bool = False) -> None:
    for name in sorted(secret_names):
        key = f"{NAMESPACE}:{name}"
        if name in raw.values and name not in raw.secret_keys:
            problems.add(key, f"is stored in plain text; set it with: pulumi config set --secret {name} <value>")
        elif name not in raw.values and not environments.policy(settings.environment).makes_up_secrets and not stand_ins_allowed:
            problems.add(key, f"is not set and prod never makes up secrets; set it: pulumi config set --secret {name} <value>")


def _check_host_names_owned(deployment: Deployment, problems: Problems) -> None:
    owners: dict[str, str] = {}
    for app in deployment.apps.values():
        host = deployment.hostname(app).lower()
        if host in owners:
            problems.add(f"{NAMESPACE}:apps.{app.name}.hostname",
                         f"{host} is already the host name of app {owners[host]!r}; give each app its own")
        owners[host] = app.name
        zone = deployment.settings.dns.zone_name if deployment.settings.dns and deployment.settings.host.kind != "local" else None
        if zone and host != zone and not host.endswith(f".{zone}"):
            problems.add(f"{NAMESPACE}:dns.zoneName",
                         f"app {app.name!r} is served at {host}, which is not inside zone {zone}; name the zone that "
                         "holds the stack's domain, or give the app a host name inside this zone")


def check_init_sql(app: App, project_dir: Path, problems: Problems) -> None:
    """The file must exist inside apps/ (the model refuses names that leave it; a link could still)."""
    if app.database is None or app.database.init_sql is None:
        return
    apps_dir = (project_dir / "apps").resolve()
    path = (apps_dir / app.database.init_sql).resolve()
    where = f"apps/{app.name}.yaml: database.initSql"
    if not path.is_relative_to(apps_dir):
        problems.add(where, f"{app.database.init_sql} leads outside apps/ (to {path}); keep the SQL file in apps/")
    elif not path.is_file():
        problems.add(where, f"there is no file apps/{app.database.init_sql}; create it or remove initSql")
    elif path.stat().st_size > postgres.INIT_SQL_MAX_BYTES:
        problems.add(where, f"apps/{app.database.init_sql} has {path.stat().st_size} bytes; berth sends at most "
                            f"{postgres.INIT_SQL_MAX_BYTES}: keep schema changes in the app's migrations")
    elif problem := postgres.query_text_problem(path.read_bytes()):
        problems.add(where, f"apps/{app.database.init_sql} {problem}")


def check_database_names(apps: dict[str, App], problems: Problems) -> None:
    """An app's role and database (and Redis user) are named after it: names Postgres, RDS, Redis or
    berth already use are not free (rules/postgres.py)."""
    for app in apps.values():
        reason = postgres.reserved_reason(app.name)
        if reason is not None and (app.database is not None or app.uses_shared("postgres") or app.uses_shared("redis")):
            problems.add(f"apps/{app.name}.yaml: name", f"app {app.name!r} would own the database role and user "
                                                        f"{reason}; rename the app (and its file)")


def check_secrets_owned(apps: dict[str, App], problems: Problems) -> None:
    """A secret is one app's: an app file that names a key another app names would be given that app's
    credential (app files are untrusted: docs/trust.md)."""
    owners: dict[str, str] = {}
    for app in sorted(apps.values(), key=lambda a: a.name):
        for name in sorted(app.secret_names):
            if owners.setdefault(name, app.name) != app.name:
                problems.add(f"apps/{app.name}.yaml: secretEnv", f"secret {name!r} is already app {owners[name]!r}'s "
                                                                 f"(its app file names it); each app names its own "
                                                                 f"secrets: set one for {app.name!r} under another key")


def check_plain_secrets(settings: StackSettings, apps: dict[str, App], problems: Problems) -> None:
    """prod refuses credentials (rules/credentials.py) in plain `env` and in build args, and says how to
    set them as secrets instead."""
    if not environments.policy(settings.environment).secrets_only_as_secrets:
        return
    for app in apps.values():
        for svc_name, svc in app.services.items():
            overlay = settings.apps[app.name].services.get(svc_name)
            plain = {("env", key): value for key, value in svc.env.items()}
            plain |= {("build.args", key): value for key, value in (svc.build.args if svc.build else {}).items()}
            for (field, key), value in plain.items():
                if not credentials.plain_credential(key, value):
                    continue
                overlaid = overlay is not None and key in ((overlay.env or {}) if field == "env" else
                                                           (overlay.build.args if overlay.build else {}))
                where = (f"{NAMESPACE}:apps.{app.name}.services.{svc_name}.{field}.{key}" if overlaid
                         else f"apps/{app.name}.yaml: services.{svc_name}.{field}.{key}")
                secret = _camel(f"{app.name}_{key}")
                kept = ("plain env is stored unmarked in state" if field == "env" else "a build argument stays in the "
                        "image's history (`docker history`) and in state")
                problems.add(where, f"looks like a credential, and {kept}; set it as a secret: pulumi config set "
                                    f"--secret {secret} <value>, and move it to `secretEnv: {{{key}: {secret}}}` of "
                                    f"{app.name}.{svc_name}")


def _camel(text: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    return words[0].lower() + "".join(w.capitalize() for w in words[1:])


def check_host_names(deployment: Deployment, problems: Problems) -> None:
    """Every app's full host name is a DNS name (`${stack}` in the domain included), its own (unique ignoring
    case) and inside the DNS zone berth writes records to."""
    _check_dns_names(deployment, problems)
    _check_host_names_owned(deployment, problems)


def _check_dns_names(deployment: Deployment, problems: Problems) -> None:
    try:
        _hostname(deployment.domain)
    except ValueError:
        problems.add(f"{NAMESPACE}:domain", f"becomes {deployment.domain!r} for stack {deployment.stack!r}, which is not a "
                                            "DNS name; `${stack}` must yield a DNS label (letters, digits, '-')")
        return
    for app in deployment.apps.values():
        try:
            _hostname(deployment.hostname(app))
        except ValueError as err:
            problems.add(f"{NAMESPACE}:apps.{app.name}.hostname", str(err))
