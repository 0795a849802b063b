"""What the program registers to provision two apps' databases, on one host and on ECS, for the tests
that run it against a real Postgres (tests/test_postgres_trust.py, tests/engine/test_postgres_provisioning.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from offline.mockrun import REPO, Run
from tests.support.stacks import run_stack, stack_config

APP, OTHER = "mediahub", "youtube-talker"
INIT = "CREATE TABLE IF NOT EXISTS notes (body citext);\nINSERT INTO notes SELECT 'hello' WHERE NOT EXISTS (SELECT FROM notes)"
OTHER_INIT = "CREATE TABLE IF NOT EXISTS secrets (v text);\nINSERT INTO secrets SELECT 'kept' WHERE NOT EXISTS (SELECT FROM secrets)"
TASK, SECRET = "aws:ecs/taskDefinition:TaskDefinition", "aws:secretsmanager/secretVersion:SecretVersion"


def write_apps(apps: Path) -> None:
    """The repository's app files, with both apps' databases given extensions and init SQL."""
    apps.mkdir(parents=True)
    for source in (REPO / "apps").iterdir():
        (apps / source.name).write_bytes(source.read_bytes())
    for app, extensions, init in ((APP, ["citext", "pg_trgm"], INIT), (OTHER, [], OTHER_INIT)):
        data = yaml.safe_load((apps / f"{app}.yaml").read_text())
        data["database"] = {"extensions": extensions, "initSql": f"{app}-init.sql"}
        (apps / f"{app}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        (apps / f"{app}-init.sql").write_text(init)


def registered_runs(tmp: Path) -> dict[str, Run]:
    """The program under mocks, one host (staging, EC2) and ECS (chm-ecs), with the two apps' databases."""
    runs = {}
    for backend, stack, stack_file in (("one-host", "staging", None), ("ecs", "prod", REPO / "examples/chm-ecs/Pulumi.prod.yaml")):
        config = stack_config(stack, stack_file=stack_file, secrets={"berth:chatbotOpenaiApiKey": "sk-test"})
        overlay = config.object("berth:apps")
        overlay[OTHER] = {"services": {s: {"build": {"context": "../youtube-talker"}, "version": "3f9c2a1"}
                                       for s in ("backend", "frontend")}}
        host = config.object("berth:host")
        if backend == "one-host":
            host["instanceType"] = "t3.xlarge"  # room for the third app
        config = config.with_values(plain={"berth:apps": overlay, "berth:host": host}, secrets={
            "berth:youtubeTalkerOpenrouterApiKey": "or-test", "berth:youtubeTalkerSupadataApiKey": "sd-test"})
        write_apps(tmp / backend / "berth" / "apps")
        runs[backend] = run_stack(tmp / backend, f"{backend}-{stack}", config)
    return runs


