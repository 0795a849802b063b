"""The files an import writes, as text first (so they are validated before anything touches disk)."""

from __future__ import annotations

from pathlib import Path

from config.reference import schema_line
from importer import yaml_out
from importer.draft import AppDraft
from importer.errors import ImportFailed
from importer.notes import Notes
from importer.validate import stack_config


def overlay_name(stack: str) -> str:
    return f"berth-import.{stack}.yaml"


def texts(drafts: list[AppDraft], stack: str) -> dict[str, str]:
    """Project-relative path -> text: each app file, its init SQL, and the overlay for Pulumi.<stack>.yaml."""
    out = {}
    for draft in drafts:
        out[f"apps/{draft.name}.yaml"] = schema_line(f"apps/{draft.name}.yaml") + yaml_out.dump(draft.data, draft.notes)
        out.update({f"apps/{name}": text for name, text in draft.files.items()})
    out[overlay_name(stack)] = _overlay(drafts, stack)
    return out


def _overlay(drafts: list[AppDraft], stack: str) -> str:
    values = stack_config(drafts, drafts[0].out_dir)
    config = {f"berth:{k}": v for k, v in values.items() if k in ("shared", "apps")}
    notes = Notes()
    notes.add((), f"Lines for Pulumi.{stack}.yaml from scripts/import: merge `berth:apps` and `berth:shared` into "
                  "the stack file (a new stack also needs berth:environment and berth:host; see Pulumi.dev.yaml).")
    for draft in drafts:
        for note in draft.overlay_notes.items:
            key = "berth:shared" if note.path[0] == "shared" else "berth:apps"
            path = ("config", key) + (note.path[1:] if key == "berth:shared" else (draft.name,) + note.path)
            notes.add(path, note.text, note.human)
    return schema_line(overlay_name(stack)) + yaml_out.dump({"config": config}, notes)  # editors check it as you type


def write(files: dict[str, str], out_dir: Path, force: bool) -> list[Path]:
    existing = [out_dir / p for p in files if (out_dir / p).exists() and p.startswith("apps/")]
    if existing and not force:
        raise ImportFailed(f"{', '.join(map(str, existing))} already exist(s); nothing was written. Choose another "
                           "--out, --app, or add --force to replace them")
    written = []
    for relative, text in files.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
