"""Check imported app files with berth's own loader (config/load.py), as a dev stack would load them.

The files are loaded from a scratch project holding only them, with the overlay's build contexts and
source mounts resolved from where the files are written, so what is reported is exactly what
`pulumi up` of a dev stack would report: each problem with its path and what to do.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

from config.errors import ConfigError
from config.load import load
from config.raw_config import RawConfig
from importer.draft import AppDraft


def stack_config(drafts: list[AppDraft], out_dir: Path, absolute: bool = False) -> dict:
    """The `berth:*` values of a dev stack deploying the drafts (paths absolute for a scratch project)."""
    apps, shared = {}, {}
    for draft in drafts:
        overlay = copy.deepcopy(draft.overlay)
        if absolute:
            for svc in overlay.get("services", {}).values():
                if "build" in svc:
                    svc["build"]["context"] = str((out_dir / svc["build"]["context"]).resolve())
                for host_dir in svc.get("hostDirs", {}).values():
                    host_dir["source"] = str((out_dir / host_dir["source"]).resolve())
        apps[draft.name] = overlay
        shared.update({k: {**shared.get(k, {}), **v} for k, v in draft.shared.items()})
    config = {"environment": "dev", "host": {"kind": "local"}, "apps": apps}
    if shared:
        config["shared"] = shared
    return config


def problems(drafts: list[AppDraft], texts: dict[str, str], out_dir: Path) -> list[str]:
    """Every problem berth's loader finds in the written files (`texts`: path under the project -> text)."""
    with tempfile.TemporaryDirectory(prefix="berth-import-") as scratch:
        project = Path(scratch)
        for relative, text in texts.items():
            if relative.startswith("apps/"):
                (project / relative).parent.mkdir(parents=True, exist_ok=True)
                (project / relative).write_text(text, encoding="utf-8")
        raw = RawConfig(stack_config(drafts, out_dir, absolute=True))
        try:
            load(raw, "dev", project)
        except ConfigError as err:
            return [str(p) for p in err.problems]
    return []
