"""What each environment decides (rules/environments.py), as users rely on it, and that the program asks
the policy rather than the environment's name."""

from __future__ import annotations

import re
from typing import get_args

from rules.environments import POLICIES, Environment, policy
from tests.support.stacks import REPO


def test_every_environment_a_stack_file_may_name_has_a_policy_and_only_those():
    assert set(POLICIES) == set(get_args(Environment))
    assert all(name == p.name for name, p in POLICIES.items())


def test_dev_is_plain_http_on_this_machine_and_keeps_nothing():
    dev = policy("dev")
    assert dev.on_this_machine and not dev.serves_https and not dev.keeps_data and dev.makes_up_secrets


def test_staging_has_prods_shape_but_is_disposable():
    staging, prod = policy("staging"), policy("prod")
    assert staging.serves_https and staging.versions_builds and not staging.on_this_machine
    assert not staging.keeps_data and not staging.resilient
    assert not staging.hsts  # its certificates come from the staging CA: HSTS would lock browsers out
    assert prod.serves_https and prod.hsts and prod.keeps_data and prod.resilient


def test_only_prod_refuses_made_up_secrets_and_unpinned_images_and_alarms_by_default():
    assert {name for name, p in POLICIES.items() if not p.makes_up_secrets} == {"prod"}
    assert {name for name, p in POLICIES.items() if p.pins_images} == {"prod"}
    assert {name for name, p in POLICIES.items() if p.alarms_by_default} == {"prod"}


# An environment's name compared with a literal, or a name called environment or stack compared at all.
NAME_TEST = re.compile(r"""(==|!=|\bin\b)\s*[(\[{]?\s*["'](dev|staging|prod)["']|["'](dev|staging|prod)["']\s*(==|!=)"""
                       r"""|(environment|stack)\s*(==|!=|\bin\b)\s*[(\[{"']|\bis_prod\b""")
BRANCHING_FOLDERS = ("components", "render", "config", "operate", "importer", "policy", "offline")


def test_no_component_renderer_or_check_branches_on_an_environments_name():
    """One place decides: a new environment (or a changed rule) is one line in rules/environments.py."""
    found = [f"{path.relative_to(REPO)}:{n}" for folder in BRANCHING_FOLDERS
             for path in (REPO / folder).rglob("*.py") if "venv" not in path.relative_to(REPO).parts
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if NAME_TEST.search(line)]
    assert found == []


def test_the_name_check_sees_the_ways_a_name_is_compared():
    for line in ('if deployment.environment == "prod":', 'if "prod" == env:', 'x = stack in ("dev", "staging")',
                 'tags.get("berth:environment") != "prod"', "if env not in {'dev'}:", "if is_prod:"):
        assert NAME_TEST.search(line), line
    assert not NAME_TEST.search('parser.add_argument("--stack", default="dev")')
