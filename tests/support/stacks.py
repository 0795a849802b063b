"""Running a stack file's program under mocks, for tests: config with test secrets, a sandboxed project.

Shared by the fixtures in conftest.py and by tests that need a run outside a fixture (benchmarks).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from config.instance_types import InstanceType, UnknownInstanceType, described
from config.load import OFFLINE_PLAN_ENV
from offline import diff, mockrun

REPO = mockrun.REPO
PROD_SECRETS = {"berth:chatbotOpenaiApiKey": "sk-prod-test-openai-key"}
# Every stack file berth ships, relative to the repository: its own stacks and the examples'.
STACK_FILES = sorted(str(p.relative_to(REPO)) for p in [*REPO.glob("Pulumi.*.yaml"), *REPO.glob("examples/*/Pulumi.*.yaml")])


def stack_config(stack: str, *, plain=None, secrets=None, remove=(), stack_file: Path | None = None):
    path = stack_file or REPO / f"Pulumi.{stack}.yaml"
    config = mockrun.StackConfig.from_file(path)
    base_secrets = PROD_SECRETS if stack == "prod" and stack_file is None else {}
    return config.with_values(plain=plain, secrets={**base_secrets, **(secrets or {})}, remove=tuple(remove))


def run_stack(tmp: Path, stack: str, config: mockrun.StackConfig, mocks=None, leave_missing=()) -> mockrun.Run:
    project = mockrun.sandbox_project(tmp, config, leave_missing)
    return mockrun.run(stack, config, root_directory=project, mocks=mocks)


class SharedRuns:
    """Program runs shared by every test of a session: one run per distinct stack name, config and mocks.

    A run costs a fifth of a second of CPU and most tests only read one, so the mock tier's time grows
    with the number of distinct stacks, not of tests. Under pytest-xdist the workers share them too: a
    run is pickled into the session's directory, which every worker of the session sees, and a worker
    that finds one there loads it instead of running the program again. Runs happen in that directory
    (never a test's `tmp_path`), and a run must be read, never changed: every later use checks that it is
    still what the program recorded.
    """

    def __init__(self, root: Path):
        self._root = root
        self._runs: dict[str, tuple[mockrun.Run, str]] = {}
        self._unshared = 0

    @classmethod
    def for_session(cls, tmp_path_factory) -> SharedRuns:
        """xdist gives each worker `<the session's basetemp>/<worker id>`: the runs go beside them."""
        base = tmp_path_factory.getbasetemp()
        root = base.parent / "shared-runs" if os.environ.get("PYTEST_XDIST_WORKER") else base / "shared-runs"
        root.mkdir(exist_ok=True)
        return cls(root)

    def get(self, stack: str, config: mockrun.StackConfig, mocks: mockrun.BerthMocks | None = None) -> mockrun.Run:
        key = self._key(stack, config, mocks, os.environ.get(OFFLINE_PLAN_ENV))
        if key is None:
            self._unshared += 1
            return run_stack(self._root / f"unshared-{os.getpid()}-{self._unshared}", stack, config, mocks)
        return self._checked(key, stack, lambda: run_stack(self._root / key[:16], stack, config, mocks))

    def recorded(self, config_file: str) -> mockrun.Run:
        """The run a plan describes of a stack file of the repository (`mockrun.record`: prod's unset
        secrets stood in for, as `plan` and `diff` run it), shared as `get` shares runs: it is the run `get`
        makes of the file's config with BERTH_OFFLINE_PLAN set, so the two are one."""
        stack = Path(config_file).name.split(".")[1]
        config = mockrun.StackConfig.from_file(REPO / config_file)
        key = self._key(stack, config, None, "1")
        assert key is not None
        return self._checked(key, stack, lambda: mockrun.record(stack, config, self._root / key[:16]))

    def at_ref(self, ref: str, config_files: tuple[str, ...]) -> dict[str, mockrun.Run]:
        """What commit `ref`'s own program registers for each of these stack files (as `recorded` runs
        them), all in one process of that program (offline/diff.py `runs_at_ref`), once for the session."""
        key = self._digest(["at-ref", ref, list(config_files)])
        if f"{key}/{config_files[0]}" not in self._runs:
            runs = self._shared(key, lambda: diff.runs_at_ref(
                ref, [(Path(f).name.split(".")[1], f) for f in config_files]))
            for config_file, run in zip(config_files, runs, strict=True):
                self._runs[f"{key}/{config_file}"] = (run, _fingerprint(run))
        return {f: self._checked(f"{key}/{f}", f"{f} at {ref}", None) for f in config_files}

    def _checked(self, key: str, what: str, run_program) -> mockrun.Run:
        """The shared run under `key` (made by `run_program` if no worker made it yet), still as recorded."""
        if key not in self._runs:
            run = self._shared(key, run_program)
            self._runs[key] = (run, _fingerprint(run))
        run, fingerprint = self._runs[key]
        assert _fingerprint(run) == fingerprint, (
            f"a test changed the shared run of stack {what!r}: runs are shared between tests; copy what you change")
        return run

    def _shared(self, key: str, run_program):
        """The run another worker recorded, or this one's: a worker asking for a run another is making
        waits for it (a lock per run), so no two workers make the same run."""
        path = self._root / f"{key}.pickle"
        with open(self._root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists():
                return pickle.loads(path.read_bytes())
            run = run_program()
            path.write_bytes(pickle.dumps(run))
            return run

    @staticmethod
    def _key(stack: str, config: mockrun.StackConfig, mocks, offline_plan: str | None) -> str | None:
        """What the run depends on besides the repository (`offline_plan`: BERTH_OFFLINE_PLAN's value):
        None when the mocks are not plain BerthMocks."""
        if mocks is not None and type(mocks) is not mockrun.BerthMocks:
            return None
        existing = mocks.existing_image_tags if mocks is not None else {}
        return SharedRuns._digest([stack, config.values, sorted(config.secret_keys), existing, offline_plan])

    @staticmethod
    def _digest(what: list) -> str:
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _fingerprint(run: mockrun.Run) -> str:
    return hashlib.sha256(pickle.dumps((run.resources, run.outputs, sorted(run.secret_outputs), run.logs))).hexdigest()


def mocked_instance_type(name: str) -> InstanceType:
    """What the mocks answer for `aws.ec2.get_instance_type`, for loading a stack outside a program run."""
    if name not in mockrun.INSTANCE_TYPES:
        raise UnknownInstanceType(f"{name!r} is not an EC2 instance type in this region (aws:region)")
    memory, vcpus, gpu, arch = mockrun.INSTANCE_TYPES[name]
    return described(name, memory, vcpus, 1 if gpu else 0, [arch])


def require_tool(name: str) -> str:
    """A validator binary: in CI it must exist (a validator test never silently skips there)."""
    path = shutil.which(name) or (shutil.which(name, path=str(Path(os.sys.executable).parent)))
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed; .ci/run installs it, so CI must have it")
    pytest.skip(f"{name} is not installed here (CI installs it)")
