"""`scripts/import compose <file> ...`: load, convert, validate, write, and say what needs a human."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from importer import compose, convert, secrets, validate, write
from importer.compose import ComposeProject
from importer.draft import AppDraft
from importer.errors import ImportFailed
from rules.environments import environment_named_by

EXIT_OK, EXIT_FIX, EXIT_FAILED = 0, 1, 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="scripts/import", description="Turn a Compose deployment into berth app files.")
    sub = top.add_subparsers(dest="kind", required=True)
    p = sub.add_parser("compose", help="import a docker-compose.yml")
    p.add_argument("files", type=Path, nargs="+", metavar="file",
                   help="the Compose file; several are merged in order, as docker compose -f a -f b merges them")
    p.add_argument("--env-file", type=Path, action="append", default=[], help="as docker compose --env-file")
    p.add_argument("--profile", action="append", default=[], help="as docker compose --profile")
    p.add_argument("-p", "--project-name", help="as docker compose -p")
    p.add_argument("--app", help="the app's name (one app), or which of the file's apps to import")
    p.add_argument("--nginx-conf", type=Path, action="append", default=[],
                   help="the nginx config the Compose proxy serves with (its routes become berth's)")
    p.add_argument("--stack", default="dev", help="the stack the overlay lines are for (default dev)")
    p.add_argument("--out", type=Path, default=Path("."), help="the berth project to write into (default .)")
    p.add_argument("--force", action="store_true", help="replace app files that exist")
    p.add_argument("--dry-run", action="store_true", help="print the files instead of writing them")
    return top


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = parser().parse_args(argv)
    try:
        project = compose.load(args.files, args.env_file, args.profile, args.project_name)
        drafts = convert.convert(project, args.out, args.app, args.nginx_conf, args.stack)
        hidden = drafts[0].secret_values if drafts else frozenset()
        files = {path: secrets.redact(text, hidden) for path, text in write.texts(drafts, args.stack).items()}
        problems = validate.problems(drafts, files, args.out, args.stack)
        if args.dry_run:
            for path, text in files.items():
                print(f"--- {path}\n{text}", file=out)
        else:
            write.write(files, args.out, args.force)
    except ImportFailed as failure:
        print(f"berth import: {failure}", file=err)
        return EXIT_FAILED
    print(secrets.redact(summary(drafts, files, problems, project, args), hidden), file=out)
    return EXIT_FIX if problems else EXIT_OK


def summary(drafts: list[AppDraft], files: dict[str, str], problems: list[str], project: ComposeProject,
            args: argparse.Namespace) -> str:
    lines = [f"Imported {' + '.join(map(str, args.files))} ({len(project.services)} Compose services) into "
             f"{', '.join(d.name for d in drafts)}:"]
    verb = "would write" if args.dry_run else "wrote"
    lines += [f"  {verb} {args.out / path}" for path in files]
    for warning in project.warnings:
        lines.append(f"  Compose said: {warning}")
    secrets = [s for d in drafts for s in d.secrets.values()]
    if secrets:
        lines += ["", "Secrets (never written to a file): set each once per stack:"]
        for s in secrets:
            lines.append(f"  pulumi config set --stack {args.stack} --secret {s.key} <value>   "
                         f"# {s.env} of {', '.join(s.services)}; today in {s.source}")
    todo = [(d, n) for d in drafts for n in d.notes.for_humans] + \
           [(d, n) for d in drafts for n in d.overlay_notes.for_humans]
    if todo:
        lines += ["", "Needs a human before the first deploy:"]
        for draft, note in todo:
            where = ".".join(note.path) or "(the app)"
            lines.append(f"  - apps/{draft.name}.yaml {where}: {note.text}")
    loaded = f"loaded as a {environment_named_by(args.stack)} stack, its secrets counted as set"
    if problems:
        lines += ["", f"berth's loader reports ({loaded}; fix these, then `scripts/plan {args.stack}` shows the "
                      "result):"]
        lines += [f"  - {p}" for p in problems]
    else:
        lines += ["", f"berth's loader accepts the files ({loaded}). Merge {write.overlay_name(args.stack)} "
                      f"into Pulumi.{args.stack}.yaml and run `scripts/plan {args.stack}`."]
    return "\n".join(lines)
