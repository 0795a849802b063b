"""Read a stack's config and the app files once, check everything, and hand back one Deployment.

Every problem is collected with its config path and raised together before any resource exists,
so a bad `pulumi up` changes nothing. Secret values are never read here: only whether they are set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi
from pulumi.runtime import mocks, settings as runtime_settings
from pydantic import ValidationError

from config import checks, ecs_checks, names
from config.app import App, Service
from config.deployment import NAMESPACE, Deployment
from config.errors import ConfigError, Problems
from config.instance_types import InstanceTypeLookup, from_aws
from config.raw_config import RawConfig
from config.stack import AppOverlay, StackSettings
from config.yaml_files import YamlFileError, load_yaml


# Set by the offline plan (offline/plan.py): prod's unset secrets get stand-ins, so the plan shows everything
# else and names them. Honoured only under Pulumi mocks: a real `pulumi up` of prod never makes secrets up.
OFFLINE_PLAN_ENV = "BERTH_OFFLINE_PLAN"


def load(raw: RawConfig, stack: str, project_dir: Path, offline_plan: bool = False,
         instance_types: InstanceTypeLookup = from_aws) -> Deployment:
    """Validate the whole stack; raise ConfigError listing every problem, or return the Deployment.

    `instance_types` says what an EC2 instance type is: AWS itself (an invoke) in a program run.
    """
    problems = Problems()
    settings = _settings(raw, problems)
    apps = _apps(settings, project_dir, problems)
    secret_names = frozenset(name for app in apps.values() for name in app.secret_names)
    if len(apps) == len(settings.apps):  # with an app file broken, its secrets are unknown: judge no key
        checks.check_keys(raw, secret_names, problems)
    checks.check_placement(settings, problems)
    checks.check_proxy(settings, problems)
    checks.check_host_access(settings, problems)
    checks.check_shared_services(settings, apps, problems)
    checks.check_images(settings, apps, project_dir, problems)
    host_type = checks.host_type(settings, instance_types, problems)
    checks.check_host_type(settings, apps, host_type, problems)
    checks.check_host_dirs(settings, apps, project_dir, problems)
    checks.check_networks(settings, apps, problems)
    names.check_names(apps, settings.host.kind == "ecs", problems)
    checks.check_database_names(apps, problems)
    checks.check_plain_secrets(settings, apps, problems)
    checks.check_secrets_owned(apps, problems)
    checks.check_secrets(settings, raw, secret_names, problems, stand_ins_allowed=offline_plan)
    ecs_checks.check_ecs(settings, apps, problems)
    deployment = Deployment(stack, project_dir, settings, apps, raw.secret_keys & secret_names, host_type=host_type)
    checks.check_host_names(deployment, problems)
    problems.raise_if_any()
    return deployment


def load_from_pulumi() -> Deployment:
    project_dir = Path(pulumi.get_root_directory() or ".").resolve()
    return load(RawConfig.from_pulumi(), pulumi.get_stack(), project_dir, offline_plan=_offline_plan())


def _offline_plan() -> bool:
    return os.environ.get(OFFLINE_PLAN_ENV) == "1" and isinstance(runtime_settings.SETTINGS.monitor, mocks.MockMonitor)


# --- the steps -------------------------------------------------------------------------------------

def _settings(raw: RawConfig, problems: Problems) -> StackSettings:
    """The stack's settings, or a ConfigError: without them no app or check can be judged."""
    data = {k: v for k, v in raw.values.items() if k in checks.SETTINGS_KEYS}
    try:
        return StackSettings.model_validate(data)
    except ValidationError as err:
        problems.add_validation_error(f"{NAMESPACE}:", err)
        raise ConfigError(problems.items) from None


def _apps(settings: StackSettings, project_dir: Path, problems: Problems) -> dict[str, App]:
    apps = {}
    known = sorted(p.stem for p in (project_dir / "apps").glob("*.yaml"))
    for name, overlay in settings.apps.items():
        path = project_dir / "apps" / f"{name}.yaml"
        where = f"{NAMESPACE}:apps.{name}"
        if not path.is_file():
            problems.add(where, f"there is no app definition apps/{name}.yaml; known apps: {', '.join(known)}")
            continue
        try:
            data = load_yaml(path)
            if not isinstance(data, dict):
                raise YamlFileError("must be a mapping of the app's settings (name, hostname, services, routes, ...)")
            app = App.model_validate(data)
        except ValidationError as err:
            problems.add_validation_error(f"apps/{name}.yaml: ", err)
            continue
        except YamlFileError as err:  # YAML syntax, duplicate keys, hostile structure
            problems.add(f"apps/{name}.yaml", str(err))
            continue
        if app.name != name:
            problems.add(f"apps/{name}.yaml: name", f"is {app.name!r}; it must match the file name {name!r}")
            continue
        checks.check_init_sql(app, project_dir, problems)
        merged = _apply_overlay(app, overlay, where, problems)
        if merged is not None:
            apps[name] = merged
    return apps


def _apply_overlay(app: App, overlay: AppOverlay, where: str, problems: Problems) -> App | None:
    services = dict(app.services)
    ok = True
    for svc_name, svc_overlay in overlay.services.items():
        base = app.services.get(svc_name)
        if base is None:
            problems.add(f"{where}.services.{svc_name}",
                         f"app {app.name!r} has no service {svc_name!r}; it has {', '.join(app.services)}")
            ok = False
            continue
        data = base.model_dump(exclude_unset=True)
        changes = svc_overlay.model_dump(exclude_unset=True)
        for key in ("env", "host_dirs"):
            if key in changes:
                changes[key] = {**data.get(key, {}), **changes[key]}
        if changes.get("build") is not None:
            base_build = data.get("build") or {}
            args = {**base_build.get("args", {}), **changes["build"].get("args", {})}
            changes["build"] = {**base_build, **changes["build"], **({"args": args} if args else {})}
            data.pop("image", None)
        if "image" in changes:
            data.pop("build", None)
        try:
            services[svc_name] = Service.model_validate({**data, **changes})
        except ValidationError as err:
            problems.add_validation_error(f"{where}.services.{svc_name}", err)
            ok = False
    if not ok:
        return None
    # Overlays never add or remove services, so the app-level checks (routes, dependencies) still hold.
    return app.model_copy(update={"services": services, **({"hostname": overlay.hostname} if overlay.hostname else {})})
