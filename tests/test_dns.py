"""Optional DNS: with `berth:dns.zoneName`, every app's host name gets an A record at the host's address."""

from __future__ import annotations

RECORD = "aws:route53/record:Record"
GET_ZONE = "aws:route53/getZone:getZone"
MOCK_ZONE_ID = "Z0123456789ABCDEFGHIJ"  # what offline/mockrun.py answers for any zone
ELASTIC_IP = "198.51.100.20"  # mockrun's Elastic IP
INSTANCE_IP = "198.51.100.10"  # mockrun's instance public IP


def records(run) -> dict[str, dict]:
    return {r.values["name"]: r.values for r in run.of_type(RECORD)}


def test_prod_points_each_app_host_name_at_the_elastic_ip(deploy):
    run = deploy("prod", plain={"berth:dns": {"zoneName": "chmedia.com"}})
    assert records(run) == {
        host: {"zoneId": MOCK_ZONE_ID, "name": host, "type": "A", "ttl": 300, "records": [ELASTIC_IP]}
        for host in ("mediahub.chmedia.com", "chatbot.chmedia.com")
    }
    assert [args for token, args in run.calls if token == GET_ZONE] == [{"name": "chmedia.com", "privateZone": False}]
    component = run.get("berth:dns:DnsRecords", "dns")
    assert all(r.parent == component.urn for r in run.of_type(RECORD))


def test_a_staging_copy_points_its_own_host_names_at_its_instance(deploy):
    """No Elastic IP outside prod: the records follow the instance's address on the next `pulumi up`."""
    run = deploy("staging", plain={"berth:dns": {"zoneName": "chmedia.com."}}, stack_name="pr-42")
    assert {host: r["records"] for host, r in records(run).items()} == {
        "mediahub.pr-42.chmedia.com": [INSTANCE_IP], "chatbot.pr-42.chmedia.com": [INSTANCE_IP]}
    assert [args["name"] for token, args in run.calls if token == GET_ZONE] == ["chmedia.com"]


def test_without_a_zone_berth_touches_no_dns(deploy):
    run = deploy("prod")
    assert run.of_type(RECORD) == [] and run.of_type("berth:dns:DnsRecords") == []
    assert GET_ZONE not in [token for token, _ in run.calls]


def test_dns_on_the_local_engine_is_a_config_error(config_problems):
    assert config_problems("dev", plain={"berth:dns": {"zoneName": "chmedia.com"}}) == [
        "berth:dns: DNS records point at the EC2 host's public IP, but this stack runs on the local Docker engine; "
        "remove berth:dns (dev serves *.localhost names)"]


def test_a_host_name_outside_the_zone_is_a_config_error(config_problems):
    problems = config_problems("prod", plain={"berth:dns": {"zoneName": "chmedia.org"}})
    assert problems == [
        f"berth:dns.zoneName: app {app!r} is served at {app}.chmedia.com, which is not inside zone chmedia.org; "
        "name the zone that holds the stack's domain, or give the app a host name inside this zone"
        for app in ("mediahub", "chatbot")]


def test_a_zone_name_that_is_no_domain_is_a_config_error(config_problems):
    assert config_problems("prod", plain={"berth:dns": {"zoneName": "Z0123456789ABCDEFGHIJ"}}) == [
        "berth:dns.zoneName: 'Z0123456789ABCDEFGHIJ' is not a domain name; give the hosted zone's name in lowercase, "
        "e.g. chmedia.com"]
