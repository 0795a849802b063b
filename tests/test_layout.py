"""The code's shape may change; what Pulumi knows the resources by (their URNs) may not.

A URN is a resource's identity in state: a refactor that changes one makes `pulumi up` delete the old
resource and create a new one, which for prod's data volume or Elastic IP means losing what it holds.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from config.app import Service
from config.stack import OVERRIDABLE, ServiceOverlay
from tests.support.stacks import STACK_FILES, stack_config

# The EC2 host's resources in prod, by URN (type and name under the host component): splitting
# Ec2Host.__init__ by concern kept every one of them.
PROD_HOST_URNS = {
    "aws:cloudwatch/metricAlarm:MetricAlarm::host-recover",
    "aws:dlm/lifecyclePolicy:LifecyclePolicy::host-snapshots",
    "aws:ebs/volume:Volume::host-data",
    "aws:ec2/eip:Eip::host-eip",
    "aws:ec2/eipAssociation:EipAssociation::host-eip-association",
    "aws:ec2/instance:Instance::host-instance",
    "aws:ec2/keyPair:KeyPair::host-key",
    "aws:ec2/securityGroup:SecurityGroup::host-sg",
    "aws:ec2/volumeAttachment:VolumeAttachment::host-data-attachment",
    "aws:iam/instanceProfile:InstanceProfile::host-profile",
    "aws:iam/role:Role::host-dlm-role",
    "aws:iam/role:Role::host-role",
    "aws:iam/rolePolicy:RolePolicy::host-pull",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment::host-dlm-policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment::host-ssm",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule::host-out-ipv4",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule::host-out-ipv6",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::host-in-http-ipv4",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::host-in-http-ipv6",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::host-in-https-ipv4",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::host-in-https-ipv6",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::host-in-ssh-office",
    "command:remote:Command::host-ready",
    "pulumi:providers:docker::host-docker",
}
HOST = "berth:host:Ec2Host$"  # a URN's type chain starts here for the host's children


def host_children(run) -> dict[str, object]:
    """The host component's resources by URN, less the `urn:pulumi:<stack>::<project>::` head."""
    return {urn: r for r in run.resources if (urn := r.urn.split("::", 2)[2]).startswith(HOST)}


def test_the_prod_hosts_resources_keep_their_urns(deploy):
    run = deploy("prod")
    assert {urn.removeprefix(HOST) for urn in host_children(run)} == PROD_HOST_URNS


def test_prod_keeps_the_hosts_data_volume_and_address(deploy):
    run = deploy("prod")
    kept = {r.name for r in host_children(run).values() if r.protect and r.retain_on_delete}
    assert kept == {"host-data", "host-eip"}


# --- components that used to be plain objects: Builder and Secrets --------------------------------------

BEFORE_COMPONENTS = "928fa2c"  # the last commit where Builder and Secrets were plain objects
PROVIDER = "pulumi:providers:docker"


def test_the_builders_provider_is_the_same_whichever_app_builds_first(deploy):
    apps = stack_config("staging").object("berth:apps")
    runs = [deploy("staging", plain={"berth:apps": dict(order)}) for order in (apps.items(), reversed(apps.items()))]
    assert [list(r.outputs["urls"]) for r in runs] == [list(apps), list(reversed(apps))]  # really two orders
    providers = [r.get(PROVIDER, "builder") for r in runs]
    assert providers[0].urn == providers[1].urn and providers[0].parent == providers[1].parent
    assert providers[0].parent == runs[0].get("berth:image:Builder", "builder").urn


def test_secret_stand_ins_belong_to_the_secrets_component(deploy):
    run = deploy("staging")
    stand_ins = [r for r in run.of_type("random:index/randomPassword:RandomPassword") if r.name.startswith("secret-")]
    assert stand_ins and {r.parent for r in stand_ins} == {run.get("berth:secrets:Secrets", "secrets").urn}


@pytest.mark.xdist_group("stack-files-as-planned")  # one worker makes the runs it shares with the tests below
def test_no_resource_of_an_older_commit_gets_a_new_identity(shared_runs, config_file="Pulumi.staging.yaml"):
    """Against a real older commit: every resource still declared (same type and name) has the URN it had,
    or names that URN as an alias, so Pulumi moves it instead of deleting it and creating another.
    (Staging builds images and stands in for secrets; ECS asks the same Builder and Secrets.)"""
    before = shared_runs.at_ref(BEFORE_COMPONENTS, (config_file,))[config_file]
    after = shared_runs.recorded(config_file)
    known_as = {urn: r for r in after.resources for urn in [r.urn, *r.aliases]}
    still_declared = {(r.type, r.name) for r in after.resources}
    moved = []
    for old in before.resources:
        if (old.type, old.name) not in still_declared:
            continue  # removed since: not this test's business
        assert old.urn in known_as, f"{old.urn} would be replaced: no resource is, or was, known by that URN"
        assert (known_as[old.urn].type, known_as[old.urn].name) == (old.type, old.name)
        moved += [old.urn] if known_as[old.urn].urn != old.urn else []
    # the comparison saw the moves it guards: the builder's provider and the secrets' stand-ins
    assert any(urn.endswith("providers:docker::builder") for urn in moved)
    assert any("RandomPassword::secret-" in urn for urn in moved)


# --- the restructure into rules/, conventions and one seam per backend ------------------------------------

BEFORE_RESTRUCTURE = "f46c732"  # main before the modules were restructured (one rule in one place)


def test_every_stack_file_is_compared():
    assert {"Pulumi.prod.yaml", "Pulumi.dev.yaml", "examples/chm-ecs/Pulumi.prod.yaml"} <= set(STACK_FILES)


@pytest.mark.xdist_group("stack-files-as-planned")  # one worker runs the older program for every stack file, once
@pytest.mark.parametrize("config_file", STACK_FILES)
def test_no_resource_is_replaced_by_the_restructure(shared_runs, config_file):
    """Every stack, of each host kind (EC2, the local engine, ECS): every resource the program registered
    before the restructure (the rules, the conventions, the two backends behind one seam) is registered now
    under the same URN, or under a new one that names the old as an alias. (The older commit's program
    runs every stack file in one process, as this session runs the current program's.)"""
    before = shared_runs.at_ref(BEFORE_RESTRUCTURE, tuple(STACK_FILES))[config_file]
    after = shared_runs.recorded(config_file)
    known_as = {urn: r for r in after.resources for urn in [r.urn, *r.aliases]}
    assert before.resources, "the older commit's program registered nothing"
    lost = [old.urn for old in before.resources if old.urn not in known_as]
    assert lost == [], "these would be deleted and created again"


# --- a stack's overlay of a service and the app file's service -------------------------------------------

def _property_schemas(model) -> dict[str, dict]:
    schema = model.model_json_schema(by_alias=True)
    return {key: {k: v for k, v in prop.items() if k != "default"} for key, prop in schema["properties"].items()}


def test_every_field_a_stack_overrides_is_the_app_files_field_with_the_same_type_and_checks():
    overlay, service = _property_schemas(ServiceOverlay), _property_schemas(Service)
    assert set(overlay) == {to_camel(name) for name in OVERRIDABLE}
    for key, schema in overlay.items():
        assert schema == service[key], key


def test_an_overlay_value_the_app_file_would_refuse_is_refused_in_the_stack_file():
    for field, bad in (("memoryMb", 0), ("cpus", -1), ("env", None), ("replicas", "many")):
        with pytest.raises(ValidationError) as err:
            ServiceOverlay.model_validate({field: bad})
        assert err.value.errors()[0]["loc"] == (field,)
