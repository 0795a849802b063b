"""Optional DNS: an A record per app host name in the stack's Route 53 zone, at the host's public IP.

Only EC2 stacks have a public address to point at (config/checks.py refuses `berth:dns` on dev and host
names outside the zone). In prod the address is the Elastic IP, so the records outlive a replaced
instance; staging points at the instance's own address and the next `pulumi up` follows it.

Records are created, never taken over: if a hand-made record of the same name exists, Route 53
refuses and the deploy stops, rather than silently repointing a name someone else manages.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from config.stack import DnsSettings

TTL_S = 300  # short enough that a changed address is picked up within minutes


class DnsRecords(pulumi.ComponentResource):
    """A record for every app (`hostnames`: each app's host name, by app), so it is given all their names."""

    def __init__(self, name: str, dns: DnsSettings, hostnames: Mapping[str, str], public_ip: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:dns:DnsRecords", name, None, opts)
        zone = aws.route53.get_zone_output(name=dns.zone_name, private_zone=False)
        child = pulumi.ResourceOptions(parent=self)
        self.records = {
            app_name: aws.route53.Record(
                f"{name}-{app_name}", zone_id=zone.zone_id, name=hostname, type="A", ttl=TTL_S,
                records=[public_ip], opts=child,
            )
            for app_name, hostname in hostnames.items()
        }
        self.register_outputs({"zoneId": zone.zone_id, "records": {n: r.fqdn for n, r in self.records.items()}})
