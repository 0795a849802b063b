"""`plan` and `diff`, from real program runs: what reviewers read on every pull request.

Plans are made by running `__main__.py` under mocks with the real stack files (and variants of them
written to temporary files, as a user would edit them); diffs compare such plans, and one compares
two commits of a temporary git repository holding this checkout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.stacks import REPO
from tests.support.validators import caddyfile_of, shellcheck
from offline import diff as diffing
from offline import plan as planning

STACKS = ["dev", "staging", "prod"]
FORMATS = sorted(planning.RENDERERS)
CONTAINER = "docker:index/container:Container"
SECRET_MARKERS = ("test-secret-", "plan-stand-in-", "generated-", "sk-prod-test")
_plans: dict[str, dict] = {}


@pytest.fixture
def plan_of(shared_runs):
    """The plan of a stack file as it is in the repository, as `make_plan` makes it: the description of
    the session's shared run of it (tests/support/stacks.py `SharedRuns.recorded`, `mockrun.record`).
    `plan_of("prod")` is Pulumi.prod.yaml's; an example's is named by its file, relative to the repository."""

    def _plan(stack: str, config_file: str | None = None) -> dict:
        config_file = config_file or f"Pulumi.{stack}.yaml"
        assert Path(config_file).name == f"Pulumi.{stack}.yaml", "the stack is the one the file is named for"
        if config_file not in _plans:
            _plans[config_file] = planning.describe(shared_runs.recorded(config_file), Path(config_file).name)
        return _plans[config_file]

    return _plan


def variant(tmp_path, stack: str, edit, name: str | None = None):
    """A copy of Pulumi.<stack>.yaml changed by `edit(config)`, as a user would change the file."""
    data = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    edit(data["config"])
    path = tmp_path / (name or f"Pulumi.{stack}.yaml")
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def stack_file_config(stack: str) -> dict:
    return yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"]


# --- what a plan shows --------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_plan_lists_exactly_the_containers_the_program_declares(plan_of, deploy, stack):
    assert set(plan_of(stack)["containers"]) == {r.name for r in deploy(stack).of_type(CONTAINER)}


@pytest.mark.parametrize("stack", STACKS)
def test_plan_shows_the_proxy_as_the_only_container_publishing_ports(plan_of, stack):
    published = {name for name, c in plan_of(stack)["containers"].items() if c["ports"]}
    assert published == {"proxy"}


def test_plan_shows_where_each_port_is_bound(plan_of):
    assert plan_of("dev")["containers"]["proxy"]["ports"] == ["127.0.0.1:8080->80/tcp"]
    assert plan_of("prod")["containers"]["proxy"]["ports"] == ["0.0.0.0:443->443/tcp", "0.0.0.0:80->80/tcp"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_plan_shows_each_built_image_with_the_context_and_version_the_stack_file_names(plan_of, stack):
    apps = stack_file_config(stack)["berth:apps"]
    expected = {f"{app}-{svc}": (overlay["build"]["context"], overlay["version"])
                for app, a in apps.items() for svc, overlay in a["services"].items()}
    images = plan_of(stack)["containers"]
    assert {name: (images[name]["image"]["build"], images[name]["image"]["tag"]) for name in expected} == expected


@pytest.mark.parametrize("stack", STACKS)
def test_plan_lists_every_image_the_program_pulls_or_builds(plan_of, deploy, stack):
    declared = {r.name for r in deploy(stack).resources if r.type in planning.IMAGES}
    assert declared and set(plan_of(stack)["images"]) == declared


def test_plan_lists_a_static_sites_image_though_no_container_runs_it(plan_of):
    """youtube-talker's frontend is a static site copied into a volume: only `images` shows its build."""
    plan = plan_of("prod", "examples/youtube-talker/Pulumi.prod.yaml")
    assert "youtube-talker-frontend" not in plan["containers"]
    assert plan["images"]["youtube-talker-frontend"]["build"].startswith("../")
    assert plan["images"]["youtube-talker-frontend"]["tag"]


def test_plan_shows_pinned_images_by_their_reference(plan_of):
    containers = plan_of("prod")["containers"]
    assert containers["proxy"]["image"] == {"pull": "caddy:2.10.2-alpine"}
    assert containers["shared-postgres"]["image"]["pull"].startswith("postgres:")


def test_plan_shows_networks_aliases_and_volumes(plan_of):
    backend = plan_of("prod")["containers"]["chatbot-backend"]
    assert backend["networks"] == {"berth-chatbot": ["backend"], "berth-chatbot-edge": ["chatbot-backend"]}
    assert backend["volumes"]["/data/chroma_db"] == "volume chatbot_chroma"
    frontend = plan_of("prod")["containers"]["chatbot-frontend"]
    assert not any(name.endswith("-data") for name in frontend["networks"]), "frontends join no data network"


def test_plan_shows_host_dirs_relative_to_the_project_never_the_sandbox(plan_of):
    mount = plan_of("dev")["containers"]["mediahub-backend"]["volumes"]["/home/ubuntu/chm_report_automation"]
    assert mount == "host .berth-data/host-dirs/mediahub/reports"


def test_plan_marks_which_env_names_hold_secrets(plan_of):
    containers = plan_of("staging")["containers"]
    assert containers["chatbot-backend"]["env"] == {"CHROMA_PERSIST_DIRECTORY": "plain", "HOSTNAME": "plain",
                                                    "OPENAI_API_KEY": "secret"}
    assert containers["mediahub-backend"]["env"]["DATABASE_URL"] == "secret"
    assert containers["mediahub-backend"]["env"]["REDIS_URL"] == "secret"
    assert containers["shared-postgres"]["env"] == {"POSTGRES_PASSWORD": "secret", "POSTGRES_USER": "plain"}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_no_env_value_of_a_secret_appears_in_any_format(plan_of, deploy, stack, fmt):
    run = deploy(stack)
    secret_values = {e.split("=", 1)[1] for c in run.of_type(CONTAINER) if c.is_secret("envs")
                     for e in c.values["envs"] if any(m in e for m in SECRET_MARKERS)}
    assert secret_values, "the run must handle secrets for this test to mean anything"
    text = planning.RENDERERS[fmt](plan_of(stack))
    assert not [s for s in secret_values if s in text]
    assert not [m for m in SECRET_MARKERS if m in text]
    assert "=" not in "".join(json.dumps(c["env"]) for c in plan_of(stack)["containers"].values())


def test_a_set_secret_value_appears_in_no_format(tmp_path):
    """A prod stack file with its secret set (a secure value) plans without stand-ins and never shows it."""
    path = variant(tmp_path, "prod", lambda c: c.update({"berth:chatbotOpenaiApiKey": {"secure": "v1:AAAA"}}))
    plan = planning.make_plan("prod", path)
    assert plan["secretsNotSet"] == []
    assert plan["containers"]["chatbot-backend"]["env"]["OPENAI_API_KEY"] == "secret"
    for render in planning.RENDERERS.values():
        assert "test-secret-chatbotOpenaiApiKey" not in render(plan)


def test_prod_plan_names_the_secrets_prod_refuses_to_deploy_without(plan_of):
    plan = plan_of("prod")
    assert plan["secretsNotSet"] == ["chatbotOpenaiApiKey"]
    for fmt in ("text", "markdown"):
        assert "prod refuses to deploy until they are set" in planning.RENDERERS[fmt](plan)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_says_it_is_the_intended_state_not_the_clouds(plan_of, fmt):
    text = planning.RENDERERS[fmt](plan_of("staging"))
    assert "Intended state" in text and "not the cloud's current state" in text


def test_plan_routes_match_the_caddyfile_the_program_gives_the_proxy(plan_of, deploy):
    caddyfile = caddyfile_of(deploy("prod"))
    routes = plan_of("prod")["routes"]
    assert set(routes) == {f"{app}.chmedia.com{path}" for app in ("chatbot", "mediahub") for path in ("/", "/api/")}
    for route in routes.values():
        assert route["host"] in caddyfile
        assert route["upstreams"] and all(u in caddyfile for u in route["upstreams"])
    assert routes["chatbot.chmedia.com/api/"]["upstreams"] == ["chatbot-backend:8000"]
    assert routes["chatbot.chmedia.com/api/"]["stripPrefix"] is True


def test_plan_shows_the_host_the_stack_file_asks_for(plan_of, deploy):
    config = stack_file_config("prod")
    host = plan_of("prod")["host"]
    assert (host["kind"], host["instanceType"], host["region"]) == ("ec2", config["berth:host"]["instanceType"],
                                                                    config["aws:region"])
    assert host["dataVolumesGiB"] == {"host-data": config["berth:host"]["dataVolumeGiB"]}
    opened = {r.values.get("cidrIpv4") or r.values.get("cidrIpv6")
              for r in deploy("prod").of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}
    assert {rule.rsplit(" from ", 1)[1] for rule in host["ingress"].values()} == opened
    assert plan_of("dev")["host"] == {"kind": "local", "dockerHost": "unix:///var/run/docker.sock"}


def test_plan_shows_how_deploys_reach_the_host(tmp_path, plan_of):
    assert plan_of("prod")["host"]["access"] == "ssh"
    path = variant(tmp_path, "staging", lambda c: c["berth:host"].update(access="ssm"))
    plan = planning.make_plan("staging", path)
    assert plan["host"]["access"] == "ssm"
    assert "SSH through SSM Session Manager" in planning.render_text(plan)


def test_plan_shows_what_prod_keeps_on_destroy_and_staging_does_not(plan_of):
    kept = plan_of("prod")["keptOnDestroy"]
    assert {"Volume chatbot-chroma", "Volume shared-postgres", "Volume host-data"} <= set(kept)
    assert plan_of("staging")["keptOnDestroy"] == []


def test_a_pr_stack_copied_from_staging_gets_its_own_host_names():
    plan = planning.make_plan("pr-42", REPO / "Pulumi.staging.yaml")
    assert {r["host"] for r in plan["routes"].values()} == {"chatbot.pr-42.chmedia.com", "mediahub.pr-42.chmedia.com"}


def test_plan_json_is_stable_so_diffs_are_clean(plan_of):
    """Two runs (in two different sandboxes) give the same text: nothing random or machine-specific."""
    again = planning.make_plan("dev")
    assert planning.render_json(again) == planning.render_json(plan_of("dev"))
    assert planning.render_json(again) == json.dumps(json.loads(planning.render_json(again)), indent=2, sort_keys=True) + "\n"


# --- plan: bad input ----------------------------------------------------------------------------------

def test_plan_reports_config_problems_plainly(tmp_path, capsys):
    path = variant(tmp_path, "staging", lambda c: c["berth:host"].update(instanceType="t3.banana"))
    assert planning.main(["staging", "--config-file", str(path)]) == 1
    err = capsys.readouterr().err
    assert "berth:host.instanceType" in err and "t3.banana" in err and "Traceback" not in err


def test_plan_of_a_stack_without_a_file_says_which_file_to_name(capsys):
    assert planning.main(["pr-7"]) == 2
    err = capsys.readouterr().err
    assert "Pulumi.pr-7.yaml" in err and "--config-file Pulumi.staging.yaml" in err


def test_plan_of_an_unreadable_stack_file_says_so(tmp_path, capsys):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text("config: [unclosed\n", encoding="utf-8")
    assert planning.main(["staging", "--config-file", str(path)]) == 2
    assert "is not a stack file berth can read" in capsys.readouterr().err


def test_plan_writes_the_chosen_format_to_a_file(tmp_path, plan_of):
    out = tmp_path / "plan.json"
    assert planning.main(["staging", "--format", "json", "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == plan_of("staging")


def test_scripts_plan_passes_shellcheck():
    shellcheck(REPO / "scripts" / "plan")


# --- diff ---------------------------------------------------------------------------------------------

def bump_chatbot(config: dict) -> None:
    """A typical PR: a new backend version, more memory for it, and the chatbot moved to another host name."""
    backend = config["berth:apps"]["chatbot"]["services"]["backend"]
    backend.update(version="6c0ffee", memoryMb=2560)
    config["berth:apps"]["chatbot"]["hostname"] = "assistant"


def test_diff_of_two_real_plans_shows_exactly_what_the_stack_file_changed(tmp_path, plan_of):
    after = planning.make_plan("staging", variant(tmp_path, "staging", bump_chatbot))
    result = diffing.compare(plan_of("staging"), after, ("before", "after"))
    sections = {k: v for k, v in result.sections.items() if v}
    assert set(sections) == {"containers", "images", "routes"}
    images = sections["images"]
    assert {name: [(c.path, c.before, c.after) for c in found] for name, found in images.changed.items()} == {
        "chatbot-backend": [("tag", "5be2a1f", "6c0ffee")]}
    assert not images.added and not images.removed
    containers = sections["containers"]
    assert not containers.added and not containers.removed
    assert {name: [(c.kind, c.path, c.before, c.after) for c in found] for name, found in containers.changed.items()} == {
        "chatbot-backend": [("~", "image.tag", "5be2a1f", "6c0ffee"), ("~", "memoryMb", 2048, 2560)], "proxy": []}
    # what `pulumi up` does: a new image replaces the backend (it holds data: delete-first); the new host
    # name is a new Caddyfile, which the proxy carries in its environment
    assert containers.steps == {"chatbot-backend": "replaced delete-first (image)",
                                "proxy": "replaced delete-first (envs, labels)"}
    routes = sections["routes"]
    assert set(routes.removed) == {"chatbot.staging.chmedia.com/", "chatbot.staging.chmedia.com/api/"}
    assert set(routes.added) == {"assistant.staging.chmedia.com/", "assistant.staging.chmedia.com/api/"}
    assert not routes.changed
    text = diffing.render_text(result)
    assert "image.tag: 5be2a1f -> 6c0ffee" in text and "memoryMb: 2048 -> 2560" in text
    assert "changed chatbot-backend: replaced delete-first (image)" in text
    assert "added assistant.staging.chmedia.com/api/: -> chatbot-backend:8000" in text


def test_diff_shows_added_removed_and_changed_env_ports_and_volumes():
    before = {"berthPlan": 1, "containers": {"api": {
        "image": {"pull": "api:1"}, "ports": [], "env": {"A": "plain", "B": "plain"}, "volumes": {"/d": "volume d"}}}}
    after = {"berthPlan": 1, "containers": {"api": {
        "image": {"pull": "api:2"}, "ports": ["127.0.0.1:9000->9000/tcp"], "env": {"A": "plain", "C": "secret"},
        "volumes": {"/d": "volume d (read-only)"}}}}
    lines = diffing.render_text(diffing.compare(before, after, ("a", "b")))
    for expected in ("image.pull: api:1 -> api:2", "ports: added 127.0.0.1:9000->9000/tcp", "env.B: removed plain",
                     "env.C: added secret", "volumes./d: volume d -> volume d (read-only)"):
        assert expected in lines


@pytest.mark.parametrize("fmt", sorted(diffing.RENDERERS))
def test_diff_of_equal_plans_says_no_changes_and_intended_state(plan_of, fmt):
    result = diffing.compare(plan_of("prod"), plan_of("prod"), ("a", "b"))
    assert result.empty
    text = diffing.RENDERERS[fmt](result)
    assert "not the cloud's current state" in text
    assert ("No changes" in text) if fmt != "json" else json.loads(text)["changed"] is False


def test_diff_exit_code_is_zero_unless_asked(tmp_path, plan_of, capsys):
    same, other = tmp_path / "same.json", tmp_path / "other.json"
    same.write_text(planning.render_json(plan_of("staging")), encoding="utf-8")
    other.write_text(planning.render_json(plan_of("prod")), encoding="utf-8")
    assert diffing.main([str(same), str(other)]) == 0
    assert diffing.main([str(same), str(other), "--exit-code"]) == 1
    assert diffing.main([str(same), str(same), "--exit-code"]) == 0
    out = capsys.readouterr().out
    assert "environment: staging -> prod" in out


@pytest.mark.parametrize("side, message", [
    ("missing.json", "no such file"),
    ("not-a-plan.json", "is not a berth plan"),
    ("git:prod", "git:<ref>:<stack>"),
    ("git:no-such-ref-anywhere:prod", "is not a commit"),
])
def test_diff_rejects_a_side_it_cannot_read_with_what_to_do(tmp_path, monkeypatch, capsys, side, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-a-plan.json").write_text('{"hello": 1}', encoding="utf-8")
    (tmp_path / "ok.json").write_text(json.dumps({"berthPlan": 1}), encoding="utf-8")
    assert diffing.main([side, "ok.json"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def git_copy_of_this_checkout(berth, root=None):
    """A git repository holding a copy of this checkout at `berth` (inside `root`), committed once."""
    root = root or berth
    shutil.copytree(REPO, berth, ignore=shutil.ignore_patterns(  # and what .gitignore keeps out: caches, tools
        ".git", ".venv", "__pycache__", ".pytest_cache", ".benchmarks", ".pulumi-state", ".berth-data",
        ".mypy_cache", ".ruff_cache", ".hypothesis", ".berth-tools", "venv"))
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    return git


BROKEN_STAGING = "broken-staging"  # a branch of the history below whose staging stack file berth refuses


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Berth in a sub-directory of a temporary git repository holding this checkout: HEAD~1 is the copy,
    HEAD bumps the chatbot in dev (the cheapest stack to run), and the branch BROKEN_STAGING (off HEAD~1)
    breaks staging's config. Made once for the tests below, which only read its commits."""
    root = tmp_path_factory.mktemp("history") / "repo"
    berth = root / "infra" / "berth"
    git = git_copy_of_this_checkout(berth, root)
    subprocess.run([*git, "checkout", "-qb", BROKEN_STAGING], check=True)
    variant(berth, "staging", lambda c: c["berth:host"].update(instanceType="t3.banana"))
    subprocess.run([*git, "commit", "-qam", "break staging"], check=True)
    subprocess.run([*git, "checkout", "-q", "-"], check=True)
    variant(berth, "dev", bump_chatbot)
    subprocess.run([*git, "commit", "-qam", "bump the chatbot"], check=True)
    return berth


@pytest.mark.xdist_group("a-temporary-history")  # the history is made once, on one worker
def test_diff_between_two_git_commits_plans_each_commit(history):
    """The second commit edits dev; berth sits in a sub-directory of the repository."""
    with diffing.ThreadPoolExecutor(max_workers=2) as pool:
        before, after = pool.map(lambda ref: diffing.read_side(f"git:{ref}:dev", history), ("HEAD~1", "HEAD"))
    result = diffing.compare(before, after, ("git:HEAD~1:dev", "git:HEAD:dev"))
    assert {k for k, v in result.sections.items() if v} == {"containers", "routes"}  # dev's images are tagged `dev`
    assert {name: [c.path for c in found] for name, found in result.sections["containers"].changed.items()} == {
        "chatbot-backend": ["memoryMb"], "proxy": []}
    assert result.sections["containers"].steps["chatbot-backend"] == "updated in place (memory, memorySwap)"
    assert set(result.sections["routes"].added) == {"assistant.localhost/", "assistant.localhost/api/"}


@pytest.mark.xdist_group("a-temporary-history")
def test_diff_reports_a_commit_whose_config_is_broken(history):
    with pytest.raises(diffing.DiffError) as caught:
        diffing.read_side(f"git:{BROKEN_STAGING}:staging", history)
    message = str(caught.value)
    assert f"the plan of staging at {BROKEN_STAGING} failed" in message
    assert "berth:host.instanceType" in message and "Traceback" not in message
    # several stacks in one process (as tests/test_layout.py runs them): the one that failed is named
    with pytest.raises(diffing.DiffError) as caught:
        diffing.runs_at_ref(BROKEN_STAGING, [("dev", "Pulumi.dev.yaml"), ("staging", "Pulumi.staging.yaml")], history)
    message = str(caught.value)
    assert f"the plan of staging at {BROKEN_STAGING} failed" in message and "berth:host.instanceType" in message


# --- diff across versions of this repository ---------------------------------------------------------

# Real commits of this repository from before plans were derived from the run's record: 01c26dc has
# `spec/` and `tools/` (the plan tool then called RawConfig.from_values, which 01c26dc lacks), 8a43c8c
# the last commit before the layout change.
OLDER_COMMITS = ["01c26dc", "8a43c8c"]


def _is_commit(ref: str) -> bool:
    return subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{ref}^{{commit}}"], capture_output=True).returncode == 0


@pytest.mark.parametrize("commit", OLDER_COMMITS)
def test_diff_plans_a_real_older_commit_with_its_own_program(commit, plan_of):
    assert _is_commit(commit), f"{commit} is not in this clone; CI clones the whole history"
    before = diffing.read_side(f"git:{commit}:staging")
    # The older program's own containers, read from what it registered (it had no per-app Redis, no ECS...).
    assert {"proxy", "shared-postgres", "chatbot-backend", "mediahub-frontend"} <= set(before["containers"])
    assert before["containers"]["proxy"]["ports"] and not any(
        spec["ports"] for name, spec in before["containers"].items() if name != "proxy")
    assert before["images"]["chatbot-backend"]["build"] == "../chm-chatbot"
    # Sections that program did not export are unknown, never shown as everything added or removed.
    assert before["routes"] is None and before["secretsNotSet"] is None
    result = diffing.compare(before, plan_of("staging"), (f"git:{commit}:staging", "staging"))
    assert isinstance(result.sections["routes"], diffing.NotCompared)
    assert result.sections["routes"].sides == [f"git:{commit}:staging"]
    text = diffing.render_text(result)
    assert f"not compared: git:{commit}:staging does not export it" in text


def test_scripts_plan_diff_between_an_older_commit_and_head_succeeds():
    """The command the issue reported failing, as CI's plan-diff job runs it."""
    done = subprocess.run([str(REPO / "scripts" / "plan"), "diff", f"git:{OLDER_COMMITS[0]}:staging", "git:HEAD:staging",
                           "--format", "markdown"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "berth diff" in done.stdout and "Traceback" not in done.stdout + done.stderr


def test_a_plan_reads_routes_and_unset_secrets_from_the_runs_exports(deploy, plan_of):
    """The plan describes only the record: the routes are the program's `routes` output, unchanged."""
    run = deploy("prod")
    assert plan_of("prod")["routes"] == json.loads(json.dumps(run.outputs["routes"]))
    assert plan_of("prod")["proxy"] == run.outputs["proxy"]
    assert plan_of("staging")["secretsNotSet"] == deploy("staging").outputs["secretsNotSet"]


def test_prod_stand_ins_for_a_plan_are_refused_outside_mocks(monkeypatch):
    """BERTH_OFFLINE_PLAN only works under mocks: a real `pulumi up` of prod never makes secrets up."""
    from config import load as loading
    from offline import mockrun

    monkeypatch.setenv(mockrun.OFFLINE_PLAN_ENV, "1")
    assert loading.OFFLINE_PLAN_ENV == mockrun.OFFLINE_PLAN_ENV
    assert loading._offline_plan() is False  # noqa: SLF001 - no mock monitor in this process now


def test_an_ecs_plan_shows_services_tasks_and_the_load_balancers_routes(tmp_path, plan_of):
    example = REPO / "examples" / "collabry-ecs" / "Pulumi.prod.yaml"
    plan = plan_of("prod", str(example.relative_to(REPO)))
    assert plan["host"]["kind"] == "ecs" and plan["containers"] == {}
    backend = plan["services"]["collabry-backend"]
    # the seed's 3-5 backends; secrets reach the task as `secrets`, never as plain environment
    assert (backend["count"], backend["scaling"], backend["singleton"]) == (3, "3-5", False)
    assert backend["containers"]["backend"]["env"]["JWT_SECRET"] == "secret"
    assert backend["targetGroups"] == ["collabry-backend"] and backend["aliases"] == ["backend:5000"]
    assert plan["services"]["collabry-worker"]["singleton"] is True
    assert plan["routes"]["collabry.example.com/api/"]["upstreams"] == ["collabry-backend"]
    assert plan["routes"]["collabry.example.com/"]["upstreams"] == ["collabry-frontend"]
    assert "ECS services (4):" in planning.render_text(plan)
    assert "3 tasks on FARGATE; scales 3-5" in planning.render_text(plan)

    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    data["config"]["berth:apps"]["collabry"]["services"]["frontend"]["maxReplicas"] = 4
    edited = tmp_path / "Pulumi.prod.yaml"
    edited.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = diffing.compare(plan, planning.make_plan("prod", edited), ("before", "after"))
    assert {k for k, v in result.sections.items() if v} == {"services"}
    assert [(c.path, c.before, c.after) for c in result.sections["services"].changed["collabry-frontend"]] == [
        ("scaling", "2-3", "2-4")]


STEP_BEFORE = {"inputs": {"image": "i1", "memory": "m1", "memorySwap": "s1", "healthcheck": "h1", "command": "c1"},
               "replaceOnChanges": ["healthcheck", "tmpfs"], "replace": "create-first", "replacementTrigger": "t1"}


@pytest.mark.parametrize("change,step", [
    ({"memory": "m2", "memorySwap": "s2"}, "updated in place (memory, memorySwap)"),
    ({"healthcheck": "h2"}, "replaced create-first (healthcheck)"),  # Update would record it, never apply it
    ({"image": "i2", "memory": "m2"}, "replaced create-first (image)"),
    ({"command": None}, None),  # the provider keeps a command the program leaves out
])
def test_the_diff_says_whether_pulumi_updates_or_replaces_a_changed_container(change, step):
    after = {**STEP_BEFORE, "inputs": {k: v for k, v in {**STEP_BEFORE["inputs"], **change}.items() if v is not None}}
    assert diffing.container_step(STEP_BEFORE, after) == step


def test_a_setting_left_out_that_the_provider_would_keep_replaces_through_the_trigger():
    after = {**STEP_BEFORE, "inputs": {k: v for k, v in STEP_BEFORE["inputs"].items() if k != "command"},
             "replacementTrigger": "t2"}
    assert diffing.container_step(STEP_BEFORE, after) == "replaced create-first (command, user or env left out)"
    assert diffing.container_step({k: v for k, v in STEP_BEFORE.items() if k != "inputs"}, after) is None  # older plan
