"""What the loader accepts deploys: every value a real `pulumi up` (Docker, the provider, AWS, the
policy pack) would refuse half-way is refused before anything exists, with its path and what to do.
"""

from __future__ import annotations

from tests.support.app_files import load_with_app, with_changes


def test_a_writable_root_is_refused_by_the_loader_as_by_the_policy_pack(tmp_path):
    """One rule (rules/containers.py): the mandatory pack refuses `readOnly: false`, so the loader does."""
    assert load_with_app(tmp_path, with_changes(api={"readOnly": False})) == [
        "apps/shop.yaml: services.api.readOnly: a writable root file system is refused: berth runs every container on "
        "a read-only root (CIS Docker 5.12); write to volumes and `tmpfs` paths instead, and leave readOnly out"]
