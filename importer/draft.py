"""One app being imported: the app file's data, the stack overlay, extra files, secrets, and the notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from importer.compose import ComposeProject
from importer.notes import Notes
from rules.environments import EnvironmentPolicy, environment_named_by, policy


@dataclass(frozen=True)
class SecretToSet:
    key: str  # the stack config key (`customerSupportOpenaiApiKey`)
    env: str  # the variable the service reads
    services: tuple[str, ...]
    source: str  # where its value is today, in words (never the value)


@dataclass
class AppDraft:
    name: str
    project: ComposeProject
    services: dict[str, str]  # Compose service -> berth service name
    out_dir: Path  # the berth project the files are written into
    data: dict = field(default_factory=dict)  # apps/<name>.yaml
    overlay: dict = field(default_factory=dict)  # berth:apps.<name> in Pulumi.<stack>.yaml
    shared: dict = field(default_factory=dict)  # berth:shared entries this app needs
    files: dict[str, str] = field(default_factory=dict)  # more files under apps/ (init SQL)
    secrets: dict[str, SecretToSet] = field(default_factory=dict)
    notes: Notes = field(default_factory=Notes)
    overlay_notes: Notes = field(default_factory=Notes)
    hostname: str | None = None  # the full host name the Compose setup served it at
    stack: str = "dev"  # the stack the overlay is for
    secret_values: frozenset[str] = frozenset()  # the project's secret values: never written or printed
    volume_sources: dict[str, str] = field(default_factory=dict)  # berth volume name -> what it holds
    data_moves: dict[str, str] = field(default_factory=dict)  # berth Docker volume -> how its data gets there
    replicas: dict[str, list[str]] = field(default_factory=dict)  # Compose service -> its copies merged into it
    local_digests: dict[str, str] = field(default_factory=dict)  # unpinned ref -> ref@digest this machine runs

    @property
    def policy(self) -> EnvironmentPolicy:
        """What the stack the overlay is for decides (rules/environments.py), by the environment its name implies."""
        return policy(environment_named_by(self.stack))

    def shown(self, path: str) -> str:
        """A path as the reader knows it: relative to the Compose file's directory when it is inside it."""
        try:
            return str(Path(path).relative_to(self.project.directory))
        except ValueError:
            return path

    def berth_name(self, compose_service: str) -> str | None:
        return self.services.get(compose_service)

    def service(self, name: str) -> dict:
        return self.data.setdefault("services", {}).setdefault(name, {})
