"""The tests of one `xdist_group` are one unit of work for pytest-xdist's scheduler (tests/support/xdist_groups.py):
what a group shares (an older commit's runs, a module's fixtures) is made on one worker, once."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.xdist_groups import FILE_KEY, GroupScheduling, forget, name_the_file, write_groups


def collected(nodeid: str, *groups: str):
    marks = [pytest.mark.xdist_group(group).mark for group in groups]
    return SimpleNamespace(nodeid=nodeid, iter_markers=lambda name: [m for m in marks if m.name == name])


def test_a_groups_tests_are_one_unit_and_every_other_test_its_own():
    controller = SimpleNamespace(stash=pytest.Stash(), getvalue=lambda name: ["2*popen"] if name == "tx" else None)
    workers = [SimpleNamespace(config=controller, workerinput={}, gateway=SimpleNamespace(id=f"gw{i}")) for i in (0, 1)]
    for worker in workers:
        name_the_file(worker)
    items = [collected("tests/a.py::t1", "older-commit"), collected("tests/a.py::t2"),
             collected("tests/b.py::t3[x@y]", "older-commit"), collected("tests/b.py::t4", "pg", "older-commit")]
    try:
        for worker in workers:  # as each worker does, having collected the same tests
            write_groups(SimpleNamespace(workerinput=worker.workerinput), items)
        scheduler = GroupScheduling(controller)
        scopes = [scheduler._split_scope(item.nodeid) for item in items]  # noqa: SLF001 - what the scheduler splits by
    finally:
        forget(controller)
    assert scopes == ["older-commit", "tests/a.py::t2", "older-commit", "older-commit_pg"]
    assert not any(Path(worker.workerinput[FILE_KEY]).parent.exists() for worker in workers)
