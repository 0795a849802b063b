"""Running `scripts/import compose` in tests: a copy of a fixture, its source checkouts stood in for.

The Compose fixtures live in tests/fixtures/compose/<name>/. A test imports a copy under tmp_path, so
the import writes nowhere else; `with_checkouts` creates the build contexts (and Dockerfiles) the file
names, as the program tests' sandbox does, so what berth's loader then reports is about the app files.
"""

from __future__ import annotations

import io
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from importer import cli, compose

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "compose"
REPO = FIXTURES.parent.parent.parent


@dataclass
class Imported:
    code: int
    stdout: str
    stderr: str
    out: Path
    apps: dict[str, dict] = field(default_factory=dict)  # app name -> the written file, parsed
    texts: dict[str, str] = field(default_factory=dict)  # app name -> the written file's text
    overlay: dict = field(default_factory=dict)

    @property
    def everything(self) -> str:
        """All the import wrote and printed: where a secret value must never be."""
        written = "".join(p.read_text(encoding="utf-8") for p in self.out.rglob("*") if p.is_file())
        return written + self.stdout + self.stderr

    @property
    def todos(self) -> list[str]:
        """The summary's "Needs a human" lines, without their leading '  - '."""
        part = self.stdout.split("Needs a human before the first deploy:", 1)
        lines = part[1].split("\n\n", 1)[0].splitlines() if len(part) > 1 else []
        return [line[4:] for line in lines if line.startswith("  - ")]

    @property
    def problems(self) -> list[str]:
        lines = self.stdout.split("berth's loader reports", 1)
        return [line[4:] for line in lines[1].splitlines()[1:] if line.startswith("  - ")] if len(lines) > 1 else []


def fixture(tmp_path: Path, name: str) -> Path:
    """A copy of the fixture directory under tmp_path (checkouts beside it, as in the user's layout)."""
    target = tmp_path / "src" / name
    shutil.copytree(FIXTURES / name, target)
    return target


def with_checkouts(compose_file: Path, env_files: tuple[Path, ...] = ()) -> None:
    """Create each build context and Dockerfile the Compose file names (empty: only their existence counts)."""
    project = compose.load(compose_file, list(env_files))
    for svc in project.services.values():
        build = svc.get("build")
        if build:
            context = Path(build["context"])
            context.mkdir(parents=True, exist_ok=True)
            (context / build.get("dockerfile", "Dockerfile")).touch()


def import_fixture(tmp_path: Path, name: str, *args: str, file: str = "docker-compose.yml") -> Imported:
    """Import a copy of fixture `name` (its build contexts stood in for) into tmp_path/berth."""
    where = fixture(tmp_path, name)
    with_checkouts(where / file)
    return run_import(tmp_path, where / file, *[a.format(dir=where) for a in args])


def prose(text: str) -> str:
    """A written file's comments as running text (the notes are wrapped over `#` lines)."""
    return " ".join(text.replace("#", " ").split())


@contextmanager
def docker_host(url: str):
    """DOCKER_HOST for the import's look at the local engine (importer/digests.py); restored after."""
    before = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = url
    try:
        yield
    finally:
        if before is None:
            del os.environ["DOCKER_HOST"]
        else:
            os.environ["DOCKER_HOST"] = before


def run_import(tmp_path: Path, compose_file: Path | list[Path], *args: str, out: Path | None = None,
               engine: str | None = None) -> Imported:
    """The import as a user runs it. No Docker engine answers its digest look-up unless `engine` names one,
    so what it writes does not depend on the images this machine happens to have."""
    out = out or tmp_path / "berth"
    out.mkdir(parents=True, exist_ok=True)
    stdout, stderr = io.StringIO(), io.StringIO()
    files = [str(f) for f in (compose_file if isinstance(compose_file, list) else [compose_file])]
    with docker_host(engine or f"unix://{tmp_path}/no-engine.sock"):
        code = cli.main(["compose", *files, "--out", str(out), *args], out=stdout, err=stderr)
    result = Imported(code, stdout.getvalue(), stderr.getvalue(), out)
    for path in sorted((out / "apps").glob("*.yaml")) if (out / "apps").is_dir() else []:
        result.texts[path.stem] = path.read_text(encoding="utf-8")
        result.apps[path.stem] = yaml.safe_load(result.texts[path.stem])
    overlays = list(out.glob("berth-import.*.yaml"))
    if overlays:
        result.overlay = yaml.safe_load(overlays[0].read_text(encoding="utf-8"))["config"]
    return result


def berth_app(name: str) -> dict:
    """berth's own app file for a seed (apps/<name>.yaml in this repository)."""
    return yaml.safe_load((REPO / "apps" / f"{name}.yaml").read_text(encoding="utf-8"))
