"""The GitHub Actions workflows: actionlint (with shellcheck) accepts them, and they keep their promises.

actionlint checks syntax, expressions, the inputs of the actions and of the reusable workflow, and
every `run:` script through shellcheck. The other tests read the workflows as data and check what
users rely on: fork pull requests never meet a secret, cloud access is OIDC only, two runs on one
stack never overlap, prod deploys wait behind an environment. The PR stack's `if:` conditions are
evaluated for each kind of pull request event with a small evaluator of GitHub's expression syntax.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.stacks import REPO, require_tool
from offline import plan as planning

WORKFLOWS = REPO / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
PINNED = re.compile(r"@(v\d+(\.\d+)*|[0-9a-f]{40})$")
LABEL = "ephemeral-staging"


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def steps(workflow: dict):
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, job, step


def scripts(workflow: dict) -> list[str]:
    return [step["run"] for _, _, step in steps(workflow) if "run" in step]


def every_text(node) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in every_text(k) + every_text(v)]
    if isinstance(node, list):
        return [s for v in node for s in every_text(v)]
    return [node] if isinstance(node, str) else []


# --- actionlint -----------------------------------------------------------------------------------------

def actionlint(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("actionlint"), "-no-color", f"-shellcheck={require_tool('shellcheck')}"],
                          cwd=project, capture_output=True, text=True, timeout=120)


def test_there_are_workflows_for_tests_previews_pr_stacks_deploys_and_the_plan_diff():
    assert {f.name for f in FILES} >= {"test.yml", "preview.yml", "pr-stack.yml", "deploy.yml", "plan-diff.yml",
                                       "plan-diff-comment.yml", "pulumi-stack.yml"}


def test_actionlint_accepts_every_workflow():
    result = actionlint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr


BREAKAGES = {
    "an input the Pulumi action does not have": ("pulumi-stack.yml", "stack-name:", "stack_name:", "[action]"),
    "an input the reusable workflow does not have": ("preview.yml", "      command: preview", "      comand: preview",
                                                     "[workflow-call]"),
    "an unquoted variable in a script": ("plan-diff.yml", 'mkdir -p "$out"', "mkdir -p $out", "[shellcheck]"),
    "a context that does not exist": ("deploy.yml", "inputs.stack || 'prod' }}\n      command",
                                      "input.stack || 'prod' }}\n      command", "[expression]"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_actionlint_rejects_a_broken_copy_of_the_workflows(tmp_path, breakage):
    """The test above can fail: each of these edits to a real workflow makes actionlint reject it."""
    file, old, new, rule = BREAKAGES[breakage]
    shutil.copytree(WORKFLOWS, tmp_path / ".github" / "workflows")
    (tmp_path / ".git").mkdir()  # actionlint finds the project (and local reusable workflows) by it
    path = tmp_path / ".github" / "workflows" / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = actionlint(tmp_path)
    assert result.returncode != 0 and rule in result.stdout, result.stdout + result.stderr


# --- what every workflow promises -----------------------------------------------------------------------

@pytest.mark.parametrize("file", FILES, ids=lambda f: f.name)
def test_no_workflow_runs_pull_request_code_with_a_write_token(file):
    workflow = load(file.name)
    assert "pull_request_target" not in (workflow["on"] or {})


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.name)
def test_every_workflow_sets_its_token_permissions_and_never_writes_the_repository(file):
    permissions = load(file.name)["permissions"]  # unset, the token gets the repository's default
    assert isinstance(permissions, dict) and permissions.get("contents", "read") == "read"


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.name)
def test_every_action_is_pinned_to_a_major_version_or_a_commit(file):
    remote = [step["uses"] for _, _, step in steps(load(file.name)) if "uses" in step]
    assert all(PINNED.search(uses) for uses in remote), remote


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.name)
def test_scripts_never_interpolate_secrets_or_text_a_pull_request_author_controls(file):
    """Values reach scripts through env, never `${{ }}` inside the script (script injection)."""
    for script in scripts(load(file.name)):
        for expression in re.findall(r"\$\{\{(.*?)\}\}", script):
            assert "secrets." not in expression
            assert not re.search(r"github\.(head_ref|event\.(pull_request|issue|comment|review|head_commit))", expression)


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.name)
def test_cloud_credentials_come_from_oidc_role_assumption_never_long_lived_keys(file):
    workflow = load(file.name)
    text = " ".join(every_text(workflow))
    assert "aws-access-key-id" not in text and "aws-secret-access-key" not in text
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for _, job, step in steps(workflow):
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials"):
            assert step["with"]["role-to-assume"]
            assert job["permissions"]["id-token"] == "write"


def test_every_secret_and_variable_the_workflows_use_is_documented():
    used = set()
    for file in FILES:
        used |= set(re.findall(r"\b(?:secrets|vars)\.([A-Z][A-Z0-9_]+)", file.read_text(encoding="utf-8")))
    docs = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    assert used and not [name for name in sorted(used) if f"`{name}`" not in docs]


# --- tests and the fork-safe plan diff ------------------------------------------------------------------

def test_tests_run_the_readme_command_with_validators_on_every_push_and_pull_request():
    workflow = load("test.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    assert any(script.strip() == ".ci/run" for script in scripts(workflow))


def test_the_plan_diff_runs_for_every_pull_request_without_any_secret():
    workflow = load("plan-diff.yml")
    assert set(workflow["on"]) == {"pull_request"}
    assert workflow["permissions"] == {"contents": "read"}
    assert not re.search(r"\bsecrets\.", (WORKFLOWS / "plan-diff.yml").read_text(encoding="utf-8"))
    assert all("permissions" not in job for job in workflow["jobs"].values())
    script = "\n".join(scripts(workflow))
    assert "offline.diff" in script and "for stack in staging prod" in script
    assert '"git:HEAD^1:$stack" "git:HEAD:$stack"' in script
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for _, _, step in steps(workflow))


def test_the_plan_diff_comment_is_posted_by_a_workflow_that_never_runs_pull_request_code():
    workflow = load("plan-diff-comment.yml")
    assert workflow["on"]["workflow_run"]["workflows"] == [load("plan-diff.yml")["name"]]
    used = [step.get("uses", "") for _, _, step in steps(workflow)]
    assert not [u for u in used if u.startswith(("actions/checkout", "./"))]
    assert workflow["permissions"] == {"actions": "read", "pull-requests": "write"}
    script = "\n".join(scripts(workflow))
    assert "HEAD_SHA" in script and "^[0-9]+$" in script  # the untrusted artifact's PR number is checked


# --- previews, PR stacks, deploys ----------------------------------------------------------------------

def test_previews_of_staging_and_prod_are_posted_on_pull_requests_from_this_repository():
    job = load("preview.yml")["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == ["staging", "prod"]
    assert job["uses"] == "./.github/workflows/pulumi-stack.yml"
    assert job["with"]["command"] == "preview" and job["with"]["comment-on-pr"] is True
    assert evaluate(job["if"], event("synchronize")) is True
    assert evaluate(job["if"], event("synchronize", fork=True)) is False


def test_the_pulumi_step_comments_refreshes_and_removes_as_asked():
    pulumi = [step for _, _, step in steps(load("pulumi-stack.yml"))
              if step.get("uses", "").startswith("pulumi/actions") and "with" in step]
    assert len(pulumi) == 1
    inputs = pulumi[0]["with"]
    assert inputs["command"] == "${{ inputs.command }}" and inputs["comment-on-pr"] == "${{ inputs.comment-on-pr }}"
    assert inputs["remove"] == "${{ inputs.remove-stack }}"
    assert inputs["work-dir"] == "berth"


def test_a_pr_stack_is_created_from_staging_with_copy_config_from():
    workflow = load("pr-stack.yml")
    up = workflow["jobs"]["up"]
    assert up["with"]["stack"] == "pr-${{ github.event.pull_request.number }}"
    assert up["with"]["config-from"] == "staging" and up["with"]["command"] == "up"
    script = "\n".join(scripts(load("pulumi-stack.yml")))
    assert 'pulumi stack init "$STACK_REF" --copy-config-from "$CONFIG_FROM_REF"' in script


def test_a_pr_stack_is_destroyed_and_removed_when_the_pr_closes():
    destroy = load("pr-stack.yml")["jobs"]["destroy"]
    assert destroy["with"]["command"] == "destroy" and destroy["with"]["remove-stack"] is True
    assert destroy["with"]["stack"] == "pr-${{ github.event.pull_request.number }}"


def test_every_pr_stack_job_names_the_stack_file_it_is_planned_from():
    """A PR stack has no Pulumi.pr-<n>.yaml: without config-from the offline plan step fails."""
    for job in load("pr-stack.yml")["jobs"].values():
        assert job["with"]["config-from"] == "staging"
    missing = planning.main(["pr-42"])
    assert missing == 2


def test_two_runs_on_one_pr_stack_never_overlap():
    jobs = load("pr-stack.yml")["jobs"]
    groups = {job["concurrency"]["group"] for job in jobs.values()}
    assert groups == {"berth-stack-pr-${{ github.event.pull_request.number }}"}
    assert all(job["concurrency"]["cancel-in-progress"] is False for job in jobs.values())


@pytest.mark.parametrize("action, labels, label, fork, runs", [
    ("labeled", [LABEL], LABEL, False, "up"),
    ("labeled", [LABEL, "docs"], "docs", False, None),  # another label: nothing new to deploy
    ("synchronize", [LABEL], None, False, "up"),
    ("synchronize", [], None, False, None),
    ("reopened", [LABEL], None, False, "up"),
    ("closed", [LABEL], None, False, "destroy"),
    ("closed", [], None, False, None),
    ("unlabeled", [], LABEL, False, "destroy"),
    ("unlabeled", [LABEL], "docs", False, None),
    ("labeled", [LABEL], LABEL, True, None),  # a fork's PR never gets a stack
    ("closed", [LABEL], None, True, None),
])
def test_the_pr_stack_jobs_run_for_exactly_the_right_events(action, labels, label, fork, runs):
    jobs = load("pr-stack.yml")["jobs"]
    context = event(action, labels=labels, label=label, fork=fork)
    ran = [name for name, job in jobs.items() if evaluate(job["if"], context) is True]
    assert ran == ([runs] if runs else [])


def test_prod_deploys_on_push_to_main_after_the_tests_behind_its_environment_one_at_a_time():
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "test" and workflow["jobs"]["test"]["uses"] == "./.github/workflows/test.yml"
    push = {"inputs": {}}  # a push has no workflow_dispatch inputs
    assert evaluate(deploy["with"]["stack"], push) == "prod"
    assert evaluate(deploy["with"]["environment"], push) == "prod"
    assert evaluate(deploy["concurrency"]["group"], push) == "berth-stack-prod"
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert load("pulumi-stack.yml")["jobs"]["pulumi"]["environment"] == "${{ inputs.environment }}"


def test_the_app_sources_are_checked_out_where_the_stack_file_points_at_its_versions():
    workflow_scripts = scripts(load("pulumi-stack.yml"))
    plan = next(s for s in workflow_scripts if "offline.plan" in s)
    assert '--format json --out "$RUNNER_TEMP/plan.json"' in plan
    clone = next(s for s in workflow_scripts if " clone " in s)
    assert '"../$repo"' in clone and 'checkout --quiet "$version"' in clone and ".tag" in clone


# --- a small evaluator of GitHub's expression syntax ------------------------------------------------

def event(action: str, labels=(), label=None, fork=False) -> dict:
    """The `github` context of a pull_request event, as far as the conditions read it."""
    return {"github": {
        "repository": "chm/berth",
        "event": {
            "action": action,
            "label": {"name": label} if label else None,
            "pull_request": {"number": 42, "labels": [{"name": n} for n in labels],
                             "head": {"repo": {"full_name": "someone/berth" if fork else "chm/berth"}}},
        },
    }}


TOKEN = re.compile(r"\s*(?:(\|\||&&|==|!=|[!().,\[\]])|'((?:[^']|'')*)'|([A-Za-z_][A-Za-z0-9_-]*|\*)|(\d+))")


def evaluate(text: str, context: dict):
    """Evaluate `${{ expr }}` (or a bare `if:` expression) with GitHub's semantics for this subset:
    property paths with `.*` filters, == / != (case-insensitive for strings), !, &&, ||, contains()."""
    text = text.strip()
    if text.startswith("${{") and text.endswith("}}") and text.count("${{") == 1:
        text = text[3:-2]
    elif "${{" in text:  # a string with expressions inside: each is replaced by its value
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(m.group(1), context)), text)
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        match = TOKEN.match(text, pos)
        assert match, f"cannot read {text[pos:]!r}"
        op, string, name, number = match.groups()
        tokens.append(("op", op) if op else ("str", string.replace("''", "'")) if string is not None
                      else ("num", int(number)) if number else ("name", name))
        pos = match.end()
    parser = _Parser(tokens, context)
    value = parser.or_()
    assert parser.i == len(tokens), f"unparsed: {tokens[parser.i:]}"
    return value


class _Parser:
    def __init__(self, tokens, context):
        self.tokens, self.i, self.context = tokens, 0, context

    def peek(self, value=None):
        if self.i < len(self.tokens) and (value is None or self.tokens[self.i] == ("op", value)):
            return self.tokens[self.i]
        return None

    def take(self, value=None):
        token = self.peek(value)
        assert token, f"expected {value!r} at {self.tokens[self.i:]}"
        self.i += 1
        return token

    def or_(self):
        value = self.and_()
        while self.peek("||"):
            self.take()
            right = self.and_()
            value = value or right
        return value

    def and_(self):
        value = self.compare()
        while self.peek("&&"):
            self.take()
            right = self.compare()
            value = value and right
        return value

    def compare(self):
        value = self.unary()
        if self.peek("==") or self.peek("!="):
            op = self.take()[1]
            right = self.unary()
            same = _fold(value) == _fold(right)
            value = same if op == "==" else not same
        return value

    def unary(self):
        if self.peek("!"):
            self.take()
            return not self.unary()
        return self.primary()

    def primary(self):
        kind, value = self.take()
        if (kind, value) == ("op", "("):
            inner = self.or_()
            self.take(")")
            return inner
        if kind in ("str", "num"):
            return value
        if value in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value]
        if self.peek("("):
            self.take()
            args = [self.or_()]
            while self.peek(","):
                self.take()
                args.append(self.or_())
            self.take(")")
            assert value == "contains", f"function {value} is not supported here"
            haystack, needle = args
            if isinstance(haystack, list):
                return _fold(needle) in [_fold(h) for h in haystack]
            return _fold(needle) in _fold(haystack or "")
        current = self.context.get(value)
        while self.peek("."):
            self.take()
            key = self.take()[1]
            if key == "*":
                current = list(current or [])
            elif isinstance(current, list):
                current = [item.get(key) for item in current if isinstance(item, dict)]
            else:
                current = (current or {}).get(key) if isinstance(current, dict) else None
        return current


def _fold(value):
    return value.lower() if isinstance(value, str) else value


def test_the_expression_evaluator_reads_what_the_conditions_need():
    """The evaluator itself: wrong answers here would make the event tests above meaningless."""
    ctx = event("labeled", labels=["A", LABEL], label=LABEL)
    assert evaluate("contains(github.event.pull_request.labels.*.name, 'ephemeral-staging')", ctx) is True
    assert evaluate("contains(github.event.pull_request.labels.*.name, 'other')", ctx) is False
    assert evaluate("github.event.label.name == 'EPHEMERAL-staging'", ctx) is True
    assert evaluate("!(github.event.action == 'labeled') || false", ctx) is False
    assert evaluate("${{ inputs.stack || 'prod' }}", {"inputs": {"stack": "staging"}}) == "staging"
    assert evaluate("${{ inputs.stack || 'prod' }}", {"inputs": {}}) == "prod"
    assert evaluate("pr-${{ github.event.pull_request.number }}", ctx) == "pr-42"
