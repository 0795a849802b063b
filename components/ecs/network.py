"""The VPC an ECS stack runs in: the account's own (`host.network`), or one berth creates.

A created VPC has a public and a private subnet per zone: the load balancer sits in the public ones;
tasks, databases, caches and file system mount targets only in the private ones, which reach out
(registries, APIs, MongoDB Atlas) through one NAT gateway and are never reachable from outside.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from config.stack import EcsHostSettings

VPC_CIDR = ipaddress.IPv4Network("10.40.0.0/16")


def subnet_cidrs(zones: int) -> tuple[list[str], list[str]]:
    """Public /24s then private /20s: the private side holds the tasks, so it gets the room."""
    public = [str(n) for n in list(VPC_CIDR.subnets(new_prefix=24))[:zones]]
    private = [str(n) for n in list(VPC_CIDR.subnets(new_prefix=20))[1:zones + 1]]
    return public, private


def nth(values: pulumi.Output[Sequence[str]], i: int) -> pulumi.Output[str]:
    """One of a list known only at deploy time, whose length is known now (zones, subnets)."""
    return values.apply(lambda known: known[i])


class EcsNetwork(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    cidr_block: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, settings: EcsHostSettings, stack: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:ecs:Network", name, None, opts)
        if settings.network is not None:
            existing = settings.network
            vpc = aws.ec2.get_vpc_output(id=existing.vpc_id)
            self.vpc_id = vpc.id
            self.cidr_block = vpc.cidr_block
            self.public_subnet_ids = pulumi.Output.from_input(list(existing.public_subnet_ids))
            self.private_subnet_ids = pulumi.Output.from_input(list(existing.private_subnet_ids))
        else:
            self._create(name, stack, settings.availability_zones)
        self.register_outputs({"vpcId": self.vpc_id, "privateSubnetIds": self.private_subnet_ids})

    def _create(self, name: str, stack: str, zones: int) -> None:
        child = pulumi.ResourceOptions(parent=self)
        available = aws.get_availability_zones_output(state="available")
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=str(VPC_CIDR), enable_dns_hostnames=True, enable_dns_support=True,
                          tags={"Name": f"berth-{stack}"}, opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        public_table = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, opts=child,
                                          routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}])
        public_cidrs, private_cidrs = subnet_cidrs(zones)
        public, private = [], []
        for i in range(zones):
            zone = nth(available.names, i)
            public.append(aws.ec2.Subnet(f"{name}-public-{i + 1}", vpc_id=vpc.id, cidr_block=public_cidrs[i],
                                         availability_zone=zone, map_public_ip_on_launch=False,
                                         tags={"Name": f"berth-{stack}-public-{i + 1}"}, opts=child))
            aws.ec2.RouteTableAssociation(f"{name}-public-{i + 1}", subnet_id=public[i].id,
                                          route_table_id=public_table.id, opts=child)
            private.append(aws.ec2.Subnet(f"{name}-private-{i + 1}", vpc_id=vpc.id, cidr_block=private_cidrs[i],
                                          availability_zone=zone,
                                          tags={"Name": f"berth-{stack}-private-{i + 1}"}, opts=child))
        eip = aws.ec2.Eip(f"{name}-nat", domain="vpc", opts=child)
        nat = aws.ec2.NatGateway(f"{name}-nat", subnet_id=public[0].id, allocation_id=eip.id,
                                 opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]))
        private_table = aws.ec2.RouteTable(f"{name}-private", vpc_id=vpc.id, opts=child,
                                           routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}])
        for i, subnet in enumerate(private):
            aws.ec2.RouteTableAssociation(f"{name}-private-{i + 1}", subnet_id=subnet.id,
                                          route_table_id=private_table.id, opts=child)
        self.vpc_id = vpc.id
        self.cidr_block = vpc.cidr_block
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
