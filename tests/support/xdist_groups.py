"""Under `-n`, the tests of one `xdist_group` go to one pytest-xdist worker (tests/conftest.py).

pytest-xdist's `loadgroup` learns a test's group from a suffix its workers add to the test's id; with pytest
9.2's structured ids the suffix no longer takes (xdist 3.8 adds it to `_nodeid`, pytest 9.2 reports `_id`),
and `-n 2` alone never asked the workers for it: every test was scheduled on its own, a group's module
fixtures were made on both workers, and a worker asking for an older commit's runs waited while the other made
them. Here each worker writes the groups it collected to a file the controller names, and the scheduler reads
them when it splits the collection into units of work.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

# The method of pytest-xdist 3.8's load-scope scheduling this overrides: gone, grouping would quietly stop.
assert hasattr(LoadScopeScheduling, "_split_scope"), "pytest-xdist no longer splits by _split_scope"
FILE_KEY = "berth_xdist_groups_file"  # in a worker's `workerinput`: where it writes its groups
_DIRECTORY = pytest.StashKey[Path]()


def name_the_file(node) -> None:
    """Controller: the file this worker writes its groups to (in a directory of this session's own)."""
    stash = node.config.stash
    if _DIRECTORY not in stash:
        stash[_DIRECTORY] = Path(tempfile.mkdtemp(prefix="berth-xdist-groups-"))
    node.workerinput[FILE_KEY] = str(stash[_DIRECTORY] / f"{node.gateway.id}.json")


def write_groups(config, items) -> None:
    """Worker: each grouped test's group, as xdist names it (its groups' names, sorted, joined by `_`)."""
    path = getattr(config, "workerinput", {}).get(FILE_KEY)
    if path is None:
        return
    groups = {}
    for item in items:
        names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
        if names:
            groups[item.nodeid] = "_".join(sorted(names))
    Path(path).write_text(json.dumps(groups), encoding="utf-8")


def forget(config) -> None:
    """Controller: remove the groups' directory at the end of the session."""
    if _DIRECTORY in config.stash:
        shutil.rmtree(config.stash[_DIRECTORY], ignore_errors=True)


class GroupScheduling(LoadScopeScheduling):
    """pytest-xdist's load-scope scheduling with a test's scope its group, or the test itself: units with the
    most tests go first, the rest in collection order, each to the next worker that is free."""

    def __init__(self, config, log=None):
        super().__init__(config, log)
        self._groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None:  # every worker has collected (and written) by the time the scheduler splits
            directory = self.config.stash.get(_DIRECTORY, None)
            files = sorted(directory.glob("*.json")) if directory else []
            # one file per worker, or the grouping would quietly be off (every test a unit of its own)
            assert len(files) >= len(self.nodes), f"{len(files)} workers' groups for {len(self.nodes)} workers"
            self._groups = {}
            for path in files:
                self._groups.update(json.loads(path.read_text(encoding="utf-8")))
        return self._groups.get(nodeid, nodeid)
