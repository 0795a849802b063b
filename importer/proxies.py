"""What the Compose proxy served, read as berth's routes: the nginx config (given with --nginx-conf,
bind-mounted into the proxy, or in the proxy's build context), filled from the proxy's environment as
the nginx image fills its templates; and Traefik's router labels on the app's services.
"""

from __future__ import annotations

from pathlib import Path

from importer import images, nginx, traefik
from importer.classify import Roles
from importer.compose import ComposeProject
from importer.errors import ImportFailed

CONFIG_SUFFIXES = (".conf", ".template", ".conf.template")
CONFIG_DIRS = ("/etc/nginx/conf.d", "/etc/nginx/templates", "/etc/nginx/sites-enabled", "/etc/nginx/http.d")


def _is_nginx(svc: dict) -> bool:
    image = svc.get("image") or ""
    dockerfile = (svc.get("build") or {}).get("dockerfile", "")
    return "nginx" in image or "nginx" in dockerfile.lower() or (bool(svc.get("build")) and not image)


def _configs(svc: dict) -> list[Path]:
    """The config files an nginx service reads: bind-mounted files and config dirs, else its build context's."""
    found = []
    for mount in svc.get("volumes") or []:
        source = Path(mount.get("source") or "")
        if mount.get("type") != "bind":
            continue
        if source.is_file() and source.name.endswith(CONFIG_SUFFIXES) and source.name != "mime.types":
            found.append(source)
        elif source.is_dir() and mount.get("target", "").rstrip("/") in CONFIG_DIRS:
            found += sorted(p for p in source.iterdir() if p.is_file() and p.name.endswith(CONFIG_SUFFIXES))
    context = Path((svc.get("build") or {}).get("context") or "/nonexistent")
    if not found and context.is_dir():  # COPY'd into the image: the context's files and its first level of dirs
        found = sorted(p for p in [*context.glob("*"), *context.glob("*/*")]
                       if p.is_file() and p.name.endswith(CONFIG_SUFFIXES))
    return found


def _read(conf: Path, environment: dict[str, str]) -> list[nginx.Server]:
    try:
        return nginx.servers(nginx.expand(conf.read_text(encoding="utf-8"), environment))
    except nginx.NginxSyntaxError as err:
        raise ImportFailed(f"{conf}: {err}") from err


def servers(project: ComposeProject, roles: Roles, given: list[Path]) -> tuple[list[nginx.Server], list[str]]:
    """The sites the Compose setup served, and what the reader should know about where they came from."""
    said, found = [], []
    proxies = [p for p in roles.proxy if not images.is_one_of(project.services[p].get("image") or "",
                                                              images.CERTIFICATE_IMAGES)]
    environment = {}
    for proxy in proxies:
        environment.update({k: str(v) for k, v in (project.services[proxy].get("environment") or {}).items()
                            if v is not None})
    for conf in given:
        if not Path(conf).is_file():
            raise ImportFailed(f"{conf}: no such nginx config (--nginx-conf)")
        found += _read(Path(conf), environment)
    if not given:
        for proxy in (p for p in proxies if _is_nginx(project.services[p])):
            for conf in _configs(project.services[proxy]):
                try:
                    found += _read(conf, environment)
                    said.append(f"routes read from {conf.name}, the config of the Compose {proxy} service")
                except ImportFailed as err:
                    said.append(f"{conf.name} of the Compose {proxy} service could not be read ({err}): routes are "
                                "guessed from published ports")
    labelled = traefik.servers(project)
    if labelled:
        found += labelled
        said.append("routes read from the services' Traefik labels")
    if proxies and not found:
        said.append(f"the Compose {', '.join(proxies)} proxy's config was not found (--nginx-conf gives it): routes "
                    "are guessed from published ports")
    return found, said
