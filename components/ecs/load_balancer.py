"""The one way in on ECS: an Application Load Balancer with the apps' host and path rules.

HTTPS with one ACM certificate for every app host name (validated through Route 53 records), HTTP
redirected to HTTPS, an alias record per host name. A request no rule claims gets a 404. What the ALB
cannot do itself (strip a prefix, fall back to index.html, serve files) goes to the app's edge proxy
(components/ecs/app_service.py); docs/ecs.md tells the whole mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pulumi
import pulumi_aws as aws

from components.ecs.network import EcsNetwork
from config.app import App
from config.ecs_checks import ALB_MAX_IDLE_TIMEOUT_S
from config.stack import DnsSettings
from rules.environments import EnvironmentPolicy

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.2 and 1.3 only
DEFAULT_IDLE_TIMEOUT_S = 60


def idle_timeout(apps: Iterable[App]) -> int:
    """Long enough for the slowest route: a route's `timeoutS`, or the ALB's ceiling for open WebSockets and
    event streams (one host leaves those uncut; the ALB cuts a connection silent for this long)."""
    wanted = [DEFAULT_IDLE_TIMEOUT_S]
    for app in apps:
        for route in app.routes.values():
            if route.timeout_s:
                wanted.append(route.timeout_s)
            elif route.websocket or route.stream:
                wanted.append(ALB_MAX_IDLE_TIMEOUT_S)
    return min(max(wanted), ALB_MAX_IDLE_TIMEOUT_S)


def path_patterns(path: str) -> list[str]:
    """A route matches itself and everything below it, never a sibling (`/api` not `/apix`), as on one host."""
    prefix = path.rstrip("/")
    return [prefix, f"{prefix}/*"]


def validation_option(certificate: aws.acm.Certificate, host: str
                      ) -> pulumi.Output[aws.acm.outputs.CertificateDomainValidationOption]:
    """The DNS record ACM asks for before it vouches for `host`."""
    return certificate.domain_validation_options.apply(lambda options: next(o for o in options if o.domain_name == host))


class LoadBalancer(pulumi.ComponentResource):
    """The stack's one load balancer. It serves every app, so it is given every app's host name
    (`hostnames`, by app), the zone they are in (`dns`) and the idle timeout of the slowest route of any."""

    def __init__(self, name: str, network: EcsNetwork, stack: str, policy: EnvironmentPolicy,
                 hostnames: Mapping[str, str], dns: DnsSettings, idle_timeout_s: int,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:ecs:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.idle_timeout_s = idle_timeout_s  # each app's hops are timed within it (service_connect.py)

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=network.vpc_id, opts=child,
            description=f"berth {stack} load balancer: HTTP and HTTPS from anywhere")
        for port, label in ((80, "http"), (443, "https")):
            aws.vpc.SecurityGroupIngressRule(f"{name}-in-{label}", security_group_id=self.security_group.id,
                                             ip_protocol="tcp", from_port=port, to_port=port, cidr_ipv4="0.0.0.0/0",
                                             description=f"{label.upper()} from anywhere", opts=child)
        aws.vpc.SecurityGroupEgressRule(f"{name}-out-vpc", security_group_id=self.security_group.id,
                                        ip_protocol="tcp", from_port=0, to_port=65535, cidr_ipv4=network.cidr_block,
                                        description="to the tasks of the apps, inside the VPC only", opts=child)
        self.alb = aws.lb.LoadBalancer(
            f"{name}", load_balancer_type="application", internal=False, subnets=network.public_subnet_ids,
            security_groups=[self.security_group.id], idle_timeout=idle_timeout_s,
            drop_invalid_header_fields=True, enable_deletion_protection=policy.keeps_data, opts=child)

        hosts = list(hostnames.values())
        zone = aws.route53.get_zone_output(name=dns.zone_name, private_zone=False)
        certificate = aws.acm.Certificate(f"{name}-cert", domain_name=hosts[0], subject_alternative_names=hosts[1:],
                                          validation_method="DNS",
                                          opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False))
        records = []
        for i, host in enumerate(hosts):
            option = validation_option(certificate, host)
            records.append(aws.route53.Record(
                f"{name}-validation-{i + 1}", zone_id=zone.zone_id, name=option.resource_record_name,
                type=option.resource_record_type, records=[option.resource_record_value], ttl=60,
                allow_overwrite=True, opts=child))
        validation = aws.acm.CertificateValidation(f"{name}-cert", certificate_arn=certificate.arn,
                                                   validation_record_fqdns=[r.fqdn for r in records], opts=child)

        aws.lb.Listener(f"{name}-http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP", default_actions=[{
            "type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}],
            opts=child)
        self.https = aws.lb.Listener(
            f"{name}-https", load_balancer_arn=self.alb.arn, port=443, protocol="HTTPS", ssl_policy=TLS_POLICY,
            certificate_arn=validation.certificate_arn, default_actions=[{
                "type": "fixed-response",
                "fixed_response": {"content_type": "text/plain", "status_code": "404", "message_body": "not found"}}],
            opts=child)
        for app_name, host in hostnames.items():
            aws.route53.Record(f"{name}-{app_name}", zone_id=zone.zone_id, name=host, type="A", aliases=[{
                "name": self.alb.dns_name, "zone_id": self.alb.zone_id, "evaluate_target_health": True}], opts=child)
        self.register_outputs({"dnsName": self.alb.dns_name})

    def forward(self, name: str, host: str, path: str, priority: int, target_group: aws.lb.TargetGroup,
                parent: pulumi.Resource) -> aws.lb.ListenerRule:
        """Requests for `host` under `path` go to `target_group`; lower priorities are matched first."""
        conditions: list[aws.lb.ListenerRuleConditionArgsDict] = [{"host_header": {"values": [host]}}]
        if path != "/":
            conditions.append({"path_pattern": {"values": path_patterns(path)}})
        return aws.lb.ListenerRule(name, listener_arn=self.https.arn, priority=priority, conditions=conditions,
                                   actions=[{"type": "forward", "target_group_arn": target_group.arn}],
                                   opts=pulumi.ResourceOptions(parent=parent))
