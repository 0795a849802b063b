"""Hostile and careless input: every case is a config error naming its path and what to do,
never a traceback, never a resource; dangerous values are refused however they are spelled.
"""

from __future__ import annotations


import pytest

from config.yaml_files import YamlFileError, load_yaml
from tests.support.app_files import MINIMAL, load_app, load_with_app, with_changes
from tests.support.stacks import stack_config


def ec2_host(stack: str, **changes) -> dict:
    return {**stack_config(stack).object("berth:host"), **changes}


# --- app files that do not parse --------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("name: shop\nservices:\n\tapi: {}\n", "apps/shop.yaml: line 3, column 1: found character '\\t' that cannot start "
                                           "any token; indent with spaces, not tabs"),
    ('name: "shop\nhostname: shop\n', "apps/shop.yaml: line 3, column 1: found unexpected end of stream"),
    ("name: shop\x00\n", "apps/shop.yaml: line 1: contains a NUL byte; an app file is text"),
    ("name: !!python/object:os.system shop\n", "apps/shop.yaml: line 1, column 7: unknown tag "
                                               "'tag:yaml.org,2002:python/object:os.system'; berth reads plain YAML: remove the tag"),
    ("? [a, b]\n: 1\n", "apps/shop.yaml: line 1: a key must be a plain word, not a list; write the key as text"),
    ("name: " + "[" * 60 + "]" * 60 + "\n", "apps/shop.yaml: line 1: nested more than 50 levels deep; an app file "
                                            "never needs that"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{k}: &{k} [{', '.join([f'*{p}'] * 10)}]\n" for p, k in zip("abcde", "bcdef", strict=True)),
     "apps/shop.yaml: line 5: aliases expand to more than 100000 values; write the values out"),
    ("name: shop\nhostname: \x1f\n", "apps/shop.yaml: line 2: contains the control character '\\x1f'; remove it"),
    ("- name: shop\n", "apps/shop.yaml: must be a mapping of the app's settings (name, hostname, services, routes, ...)"),
])
def test_an_app_file_that_does_not_parse_is_reported_by_line(tmp_path, text, expected):
    assert load_with_app(tmp_path, text) == [expected]


def test_a_file_that_is_not_utf8_names_the_line(tmp_path):
    (tmp_path / "shop.yaml").write_bytes(b"name: shop\nhostname: caf\xe9\n")
    with pytest.raises(YamlFileError, match=r"^line 2: is not UTF-8 text; save the file as UTF-8$"):
        load_yaml(tmp_path / "shop.yaml")


def test_merge_keys_work_and_explicit_keys_win(tmp_path):
    merged = ("name: shop\nhostname: shop\nservices:\n  api: &server\n    image: example/api:1.0\n    port: 8000\n"
              "    healthcheck: {path: /health}\n  web:\n    <<: *server\n    port: 3000\n"
              "routes:\n  /api/: {service: api, stripPrefix: true}\n  /: {service: web}\n")
    web = load_app(tmp_path, merged).apps["shop"].services["web"]
    assert (web.image, web.port, web.healthcheck.path) == ("example/api:1.0", 3000, "/health")


def test_one_broken_app_file_does_not_make_valid_secrets_look_unknown(config_problems, tmp_path):
    """No cascade: chatbot's file is broken, so its secrets are unknown; they must not be called strays."""
    problems = config_problems("dev", plain={"berth:apps": {**stack_config("dev").object("berth:apps"),
                                                            "chatbot": {"services": {"backend": {"cpus": "lots"}}}}})
    assert all("is neither a berth setting nor a secret" not in p for p in problems), problems
    assert problems and all(p.startswith("berth:apps.chatbot") for p in problems), problems


# --- null where a mapping is expected; numbers -------------------------------------------------------

def test_build_null_in_an_overlay_is_a_problem_not_a_crash(config_problems):
    apps = stack_config("dev").object("berth:apps")
    apps["chatbot"]["services"]["backend"]["build"] = None
    problems = config_problems("dev", plain={"berth:apps": apps})
    assert problems == ["berth:apps.chatbot.services.backend: has no image; set `image` (a pinned reference) or "
                        "`build.context` (a source dir)"]


def test_build_null_in_an_app_file_means_no_build(tmp_path):
    problems = load_with_app(tmp_path, with_changes(api={"image": None, "build": None}))
    assert problems == ["berth:apps.shop.services.api: has no image; set `image` (a pinned reference) or "
                        "`build.context` (a source dir)"]


@pytest.mark.parametrize("changes, where, message", [
    ({"memoryMb": 10 ** 400}, "services.api.memoryMb", "Input should be less than or equal to 1000000"),
    ({"cpus": float("inf")}, "services.api.cpus", "should be a finite number"),
    ({"cpus": float("nan")}, "services.api.cpus", "should be a finite number"),
    ({"replicas": 10 ** 6}, "services.api.replicas", "Input should be less than or equal to 64"),
    ({"env": {"A": ["x"]}}, "services.api.env.A", "Input should be a valid string"),
    ({"build": 5, "image": None}, "services.api.build", "should be a mapping of settings (`key: value` lines), not 5"),
])
def test_numbers_and_types_out_of_range(tmp_path, changes, where, message):
    assert load_with_app(tmp_path, with_changes(api=changes)) == [f"apps/shop.yaml: {where}: {message}"]


def test_no_pydantic_jargon_for_a_host_without_a_kind(config_problems):
    problems = config_problems("staging", plain={"berth:host": {"instanceType": "t3.large"}})
    assert problems == ["berth:host: needs `kind`: local, ec2, ecs"]
    problems = config_problems("staging", plain={"berth:host": {"kind": "vm"}})
    assert problems == ["berth:host: has kind 'vm'; use one of local, ec2, ecs"]


# --- host names -------------------------------------------------------------------------------------

@pytest.mark.parametrize("hostname", ["shop.", "shop {", "shop\nexample.com", "{$HOME}", "shop example", "shop:8080",
                                      "a,b", "-shop", "shop_1", "x" * 64, ""])
def test_a_host_name_must_be_a_dns_name(tmp_path, hostname):
    problems = load_with_app(tmp_path, {**MINIMAL, "hostname": hostname})
    assert len(problems) == 1 and problems[0].startswith(f"apps/shop.yaml: hostname: {hostname!r} is not a DNS host name")


def test_an_internationalised_host_name_is_given_in_its_ascii_form(tmp_path):
    assert load_with_app(tmp_path, {**MINIMAL, "hostname": "bücher"}) == [
        "apps/shop.yaml: hostname: 'bücher' is not an ASCII host name; write it as 'xn--bcher-kva' (its IDNA form)"]
    assert load_app(tmp_path, {**MINIMAL, "hostname": "xn--bcher-kva"}).hostname(
        load_app(tmp_path, {**MINIMAL, "hostname": "xn--bcher-kva"}).apps["shop"]) == "xn--bcher-kva.localhost"


def test_host_names_are_unique_ignoring_case(config_problems):
    apps = stack_config("dev").object("berth:apps")
    names = list(apps)
    apps[names[0]] = {**apps[names[0]], "hostname": "Same.Example.com"}
    apps[names[1]] = {**apps[names[1]], "hostname": "same.example.com"}
    problems = config_problems("dev", plain={"berth:apps": apps})
    assert problems == [f"berth:apps.{names[1]}.hostname: same.example.com is already the host name of app "
                        f"{names[0]!r}; give each app its own"]


def test_the_stack_name_in_the_domain_must_make_a_dns_label(config_problems):
    problems = config_problems("staging", plain={"berth:domain": "${stack}.chmedia.com"}, stack_name="PR_42")
    assert problems == ["berth:domain: becomes 'PR_42.chmedia.com' for stack 'PR_42', which is not a DNS name; "
                        "`${stack}` must yield a DNS label (letters, digits, '-')"]


# --- capabilities, host paths, initSql ---------------------------------------------------------------

@pytest.mark.parametrize("cap", ["SYS_MODULE", "CAP_SYS_PTRACE", "sys_rawio", "DAC_READ_SEARCH", "BPF", "NET_ADMIN",
                                 "ALL", "cap_all"])
def test_escape_grade_capabilities_are_refused(tmp_path, cap):
    problems = load_with_app(tmp_path, with_changes(api={"capAdd": [cap]}))
    assert problems == [f"apps/shop.yaml: services.api.capAdd[0]: {cap!r} lets a container reach past its own walls "
                        "(as good as privileged); berth never grants it. Run the work that needs it outside the app, "
                        "or drop it"]


def test_capabilities_are_normalised_and_only_reviewed_ones_granted(tmp_path):
    deployment = load_app(tmp_path, with_changes(api={"capAdd": ["cap_net_bind_service", "CAP_CHOWN"]}))
    assert deployment.apps["shop"].services["api"].cap_add == ["NET_BIND_SERVICE", "CHOWN"]
    problems = load_with_app(tmp_path, with_changes(api={"capAdd": ["WHATEVER"]}))
    assert problems[0].startswith("apps/shop.yaml: services.api.capAdd[0]: 'WHATEVER' is not a capability berth "
                                  "grants; choose from CHOWN, DAC_OVERRIDE")


@pytest.mark.parametrize("source, normal", [
    ("/var/run/docker.sock", "/var/run/docker.sock"), ("/srv/berth/../../var/run/docker.sock", "/var/run/docker.sock"),
    ("/", "/"), ("/etc", "/etc"), ("//etc/./ssh", "/etc/ssh"), ("/run/containerd/containerd.sock", "/run/containerd/containerd.sock"),
    ("/proc/1/root", "/proc/1/root"), ("/var/lib/docker/volumes", "/var/lib/docker/volumes"),
])
def test_system_host_paths_are_refused_everywhere_after_normalising(tmp_path, source, normal):
    problems = load_with_app(tmp_path, with_changes(api={"hostDirs": {"x": {"target": "/x", "source": source}}}))
    assert problems == [f"apps/shop.yaml: services.api.hostDirs.x.source: {source!r} is {normal}, a system path of "
                        "the host (or its Docker socket); a container that mounts it controls the host. Mount a "
                        "directory of the app's own instead"]


def test_an_ec2_host_path_is_judged_normalised_and_never_resolved_here(config_problems):
    apps = stack_config("staging").object("berth:apps")
    name = next(iter(apps))
    service = next(iter(apps[name].get("services") or {"backend": {}}))
    apps[name].setdefault("services", {}).setdefault(service, {})["hostDirs"] = {
        "x": {"target": "/x", "source": "/srv/berth/../../opt/x"}}
    problems = config_problems("staging", plain={"berth:apps": apps})
    assert problems == [f"berth:apps.{name}.services.{service}.hostDirs.x.source: /opt/x is not a directory of the "
                        f"app's own: on this host an app mounts only /srv/berth/host-dirs/{name}/<name> (on the data "
                        f"volume, which outlives the instance); leave source unset for /srv/berth/host-dirs/{name}/"
                        "<this host dir's key>"]


@pytest.mark.parametrize("init_sql", ["../../etc/passwd", "/etc/passwd", "sql/../../x.sql"])
def test_init_sql_must_be_inside_apps(tmp_path, init_sql):
    problems = load_with_app(tmp_path, {**MINIMAL, "database": {"initSql": init_sql}})
    assert problems == [f"apps/shop.yaml: database.initSql: {init_sql!r} is outside apps/; put the SQL file in apps/ "
                        "and name it relative to apps/ (e.g. sql/rag-init.sql)"]


def test_a_missing_init_sql_file_is_a_problem_not_a_crash(tmp_path):
    problems = load_with_app(tmp_path, {**MINIMAL, "database": {"initSql": "sql/missing.sql"}})
    assert "apps/shop.yaml: database.initSql: there is no file apps/sql/missing.sql; create it or remove initSql" in problems


def test_an_init_sql_link_out_of_apps_is_refused(tmp_path):
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "evil.sql").symlink_to("/etc/hostname")
    problems = load_with_app(tmp_path, {**MINIMAL, "database": {"initSql": "evil.sql"}})
    assert any(p.startswith("apps/shop.yaml: database.initSql: evil.sql leads outside apps/") for p in problems)


# --- SSH, plain secrets, the deploy key ----------------------------------------------------------------

@pytest.mark.parametrize("cidrs, reach", [
    ({"a": "0.0.0.0/1", "b": "128.0.0.0/1"}, "the whole internet"),
    ({"a": "::/1", "b": "8000::/1"}, "the whole internet"),
    ({"a": "10.0.0.0/8"}, "16777216 IPv4 addresses"),
    ({"a": "2001:db8::/32"}, "79228162514264337593543950336 IPv6 addresses"),
])
def test_prod_judges_the_address_space_ssh_admits(config_problems, cidrs, reach):
    problems = config_problems("prod", plain={"berth:host": ec2_host("prod", adminCidrs=cidrs)})
    assert len(problems) == 1 and f"open SSH to {reach}; prod allows SSH only from named admin networks" in problems[0]


@pytest.mark.parametrize("cidr", ["203.0.113.7", 3405803783, "203.0.113.7/24", "office"])
def test_admin_networks_are_written_in_cidr_notation(config_problems, cidr):
    problems = config_problems("staging", plain={"berth:host": ec2_host("staging", adminCidrs={"office": cidr})})
    assert len(problems) == 1 and problems[0].startswith(f"berth:host.adminCidrs.office: {cidr!r} is not a network in "
                                                         "CIDR notation")


@pytest.mark.parametrize("key, value", [("OPENAI_API_KEY", "abc"), ("SESSION_SECRET", "x"), ("DB_PASSWORD", "x"),
                                        ("GITHUB_TOKEN", "x"), ("SOMETHING", "sk-proj-abcdefghijklmnopqrstuvwxyz123")])
def test_prod_refuses_a_credential_in_plain_env(config_problems, key, value):
    apps = stack_config("prod").object("berth:apps")
    name = next(iter(apps))
    service = next(iter(apps[name].get("services") or {}))
    apps[name]["services"][service]["env"] = {**apps[name]["services"][service].get("env", {}), key: value}
    problems = config_problems("prod", plain={"berth:apps": apps})
    secret = name.split("-")[0] + "".join(w.capitalize() for w in [*name.split("-")[1:], *key.lower().split("_")])
    assert problems == [f"berth:apps.{name}.services.{service}.env.{key}: looks like a credential, and plain env is "
                        f"stored unmarked in state; set it as a secret: pulumi config set --secret {secret} <value>, "
                        f"and move it to `secretEnv: {{{key}: {secret}}}` of {name}.{service}"]


def test_rotating_the_deploy_key_never_replaces_the_prod_instance(deploy):
    prod = deploy("prod")
    rotated = deploy("prod", plain={"berth:host": ec2_host("prod", sshPublicKey="ssh-ed25519 AAAArotated new@key")})
    for run in (prod, rotated):
        assert "keyName" in run.get("aws:ec2/instance:Instance", "host-instance").ignore_changes
    assert prod.get("aws:ec2/keyPair:KeyPair", "host-key").inputs["publicKey"] != \
        rotated.get("aws:ec2/keyPair:KeyPair", "host-key").inputs["publicKey"]


@pytest.mark.parametrize("context, message", [("../" + "x" * 300, "is too long for a file system path (255 bytes a "
                                                                  "name, 4096 in all); shorten it"),
                                              ("../src\x00", "a path cannot contain a NUL byte")])
def test_a_path_the_file_system_cannot_hold_is_a_problem_not_a_crash(config_problems, context, message):
    apps = stack_config("dev").object("berth:apps")
    apps["chatbot"]["services"]["backend"]["build"]["context"] = context
    problems = config_problems("dev", plain={"berth:apps": apps}, leave_missing=(context,))
    assert problems == [f"berth:apps.chatbot.services.backend.build.context: {message}"]
