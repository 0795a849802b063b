"""One-off services (importer/classify.py, importer/jobs.py): none becomes a service that runs forever.
A job of the app's image is an afterDeploy hook, a chown of a volume is volumeOwner, anything else a TODO
that says what it ran."""

from __future__ import annotations

from tests.support.compose_import import import_fixture


def test_one_off_services_become_hooks_owners_or_todos(tmp_path):
    result = import_fixture(tmp_path, "one-offs")
    services = result.apps["tasks"]["services"]
    assert list(services) == ["web"]
    assert services["web"]["afterDeploy"] == [{"command": ["tasks", "migrate", "--noinput"]}]
    assert services["web"]["volumeOwner"] == "1000:1000"
    todo = next(t for t in result.todos if "'mongo-init'" in t)
    assert "berth runs no one-off containers, so it is not imported" in todo and "rs.initiate()" in todo
    assert result.problems == []
