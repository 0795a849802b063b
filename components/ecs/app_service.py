"""One app on ECS: a Fargate service per service, wired the way one host wires containers.

- **Discovery**: the app has its own Service Connect namespace; each service is reached there by its
  service name and port, the same alias as on one host (`http://ai-engine:8000`).
- **Fences**: the app's tasks share one security group that admits only the app itself and the load
  balancer (on routed ports); services that use a database also wear the app's data-client group,
  the only one the database admits. Frontends wear no such group, so they cannot reach a database.
- **Secrets** come from Secrets Manager by ARN (components/ecs/secret_store.py); `environment`
  holds only plain values. Each app's execution role may read only its own secrets and images.
- **Deploys**: `replicas` is the desired count, `maxReplicas` an autoscaling ceiling on CPU; a
  stateful service (volume, singleton) never runs twice (`maximumPercent` 100). The deployment
  circuit breaker rolls a failed deploy back, and `pulumi up` waits for a steady state.
- **Volumes** are EFS access points owned by the service's user; tmpfs paths become task scratch
  volumes any user may write (components/ecs/scratch.py), so the root file system stays read-only.
- **Post-deploy hooks** run as one-off tasks of the new task definition; a failure fails the deploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from components.aws_common import assumed_by
from components.common import health_check, probe_command, required
from components.ecs import edge, scratch
from components.ecs.databases import ManagedAppData, awslogs, task_execution_role
from components.ecs.load_balancer import LoadBalancer
from components.ecs.network import EcsNetwork
from components.ecs.secret_store import SecretStore
from components.ecs.service_connect import EDGE, HopTimeout, hop_timeouts
from components.images import Builder, ecr_reference
from components.options import kept_in_prod
from components.secrets import Secrets
from config import conventions
from config.app import SHARED_SERVICES, App, Service
from config.calls import call_order, callees
from config.deployment import StackApp
from config.edge_routes import edge_callees, needs_edge, through_edge
from config.fargate import task_size
from render.ecs_tasks import OneOffTask, run_task_script
from rules.routes import route_precedence

SCALE_ON_CPU_PERCENT = 60
STOP_TIMEOUT_S = 30
DEREGISTRATION_DELAY_S = 30
# The load balancer's health check of a target: every 10 s, healthy after 2 passes, a check waits 5 s.
# ECS ignores the load balancer's verdict on a new task for its grace period, which is therefore the
# container's own start period plus the time the load balancer needs to call it healthy (AWS, Amazon
# ECS Developer Guide, "Health check grace period"): a slow start is never killed for it.
HEALTH_INTERVAL_S, HEALTHY_THRESHOLD, HEALTH_TIMEOUT_S = 10, 2, 5


def grace_period(start_period_s: int) -> int:
    return start_period_s + HEALTH_INTERVAL_S * HEALTHY_THRESHOLD


@dataclass(frozen=True)
class Platform:
    """What every app on the cluster shares: nothing of any app's own."""

    log_retention_days: int  # berth:host.logRetentionDays
    proxy_image: str  # berth:proxy.image: the edge proxy, and the opener of a service's scratch volumes
    network: EcsNetwork
    cluster: aws.ecs.Cluster
    gpu_capacity_provider: pulumi.Output[str] | None
    capacity: aws.ecs.ClusterCapacityProviders  # what must exist before a service names a capacity provider
    load_balancer: LoadBalancer
    file_system: aws.efs.FileSystem | None
    file_system_group: aws.ec2.SecurityGroup | None
    mount_targets: list[aws.efs.MountTarget]
    store: SecretStore
    secrets: Secrets
    builder: Builder

    def used_file_system(self) -> aws.efs.FileSystem:
        """The stack's EFS file system, which exists whenever a service mounts a volume or host dir
        (files.needs_files): asked only for those."""
        return required(self.file_system, "the stack's file system (files.needs_files)")


def posix_owner(svc: Service) -> tuple[int, int]:
    """The uid:gid a service's volumes belong to: its volume owner, else its numeric user, else root."""
    return svc.volume_owner_ids or (0, 0)


def route_order(app: App) -> list[str]:
    """Most specific path first, `/` last: the ALB takes the first rule that matches."""
    return sorted(app.routes, key=route_precedence)


class EcsApp(pulumi.ComponentResource):
    """App `name` on the cluster: given its own StackApp and what every app shares, it reads no other app's
    settings."""

    def __init__(self, name: str, target: StackApp, platform: Platform, data: ManagedAppData | None, rule_base: int,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:ecs:App", name, None, opts)
        app = target.app
        self._target, self._platform, self._app, self._data = target, platform, app, data
        child = pulumi.ResourceOptions(parent=self)
        self._tags = {"berth:app": name}  # beside the stack's own (components/aws_common.py)

        self.namespace = aws.servicediscovery.HttpNamespace(
            f"{name}-ns", name=f"{name}.{target.stack}.berth", description=f"berth {name}: the aliases of its services",
            tags=self._tags, opts=child)
        self.log_group = aws.cloudwatch.LogGroup(f"{name}-logs", name=f"/berth/{target.stack}/{name}",
                                                 retention_in_days=platform.log_retention_days, tags=self._tags,
                                                 opts=child)
        self.tasks_group = self._security_group()
        self._volumes = self._access_points()
        self._secret_arns = self._secrets()
        self.execution_role = task_execution_role(
            f"{name}-execution", list({id(a): a for a in self._secret_arns.values()}.values()) or None,
            self.log_group, parent=self, repositories=[conventions.ecr_repository(target.stack, name, s)
                                                       for s, svc in app.services.items() if svc.build])
        self.task_role = self._task_role()

        self.services: dict[str, aws.ecs.Service] = {}
        self.task_definitions: dict[str, aws.ecs.TaskDefinition] = {}
        self._target_groups: dict[str, aws.lb.TargetGroup] = {}
        self._timeouts = hop_timeouts(app, platform.load_balancer.idle_timeout_s)
        self._callees = {**callees(app), EDGE: set(edge_callees(app))}
        # Target groups and their listener rules first: ECS refuses a service whose target group no load
        # balancer forwards to yet ("does not have an associated load balancer"), so each waits for its rules.
        for key, (port, health_path, sticky) in self._targets().items():
            self._target_group(key, port, health_path, sticky)
        self._forwarding = self._rules(rule_base)
        for svc_name in call_order(app):  # each after the services it calls
            svc = app.services[svc_name]
            if svc.kind != "server":
                continue
            self._service(svc_name, svc)
        if needs_edge(app):
            self._edge()
        self.url = target.url
        self.register_outputs({"url": self.url, "services": {n: s.name for n, s in self.services.items()}})

    def _data_tier(self) -> ManagedAppData:
        """The app's database clients' group, readiness and URLs, which ManagedData makes for every app that
        uses a shared database: asked only for a service that does (Service.uses_data)."""
        return required(self._data, f"{self._app.name}'s managed data (ManagedData, Service.uses_data)")

    @property
    def target_groups(self) -> dict[str, aws.lb.TargetGroup]:
        """The load balancer's target group per routed service (and `edge`), for the stack's alarms."""
        return dict(self._target_groups)

    # --- fences and shared pieces -------------------------------------------------------------------

    def _security_group(self) -> aws.ec2.SecurityGroup:
        app, platform = self._app, self._platform
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(f"{app.name}-tasks", vpc_id=platform.network.vpc_id, tags=self._tags, opts=child,
                                      description=f"berth {app.name}: its own tasks and the load balancer")
        aws.vpc.SecurityGroupIngressRule(f"{app.name}-from-itself", security_group_id=group.id, ip_protocol="tcp",
                                         from_port=0, to_port=65535, referenced_security_group_id=group.id,
                                         description="the services of the app reach each other", opts=child)
        ports = {self._app.services[r.service].port for r in app.routes.values()
                 if self._app.services[r.service].kind == "server"}
        if needs_edge(app):
            ports.add(edge.PORT)
        for port in sorted(p for p in ports if p):
            aws.vpc.SecurityGroupIngressRule(
                f"{app.name}-from-alb-{port}", security_group_id=group.id, ip_protocol="tcp", from_port=port,
                to_port=port, referenced_security_group_id=platform.load_balancer.security_group.id,
                description="routed requests from the load balancer", opts=child)
        aws.vpc.SecurityGroupEgressRule(f"{app.name}-out", security_group_id=group.id, ip_protocol="-1",
                                        cidr_ipv4="0.0.0.0/0", description="APIs, registries, external services",
                                        opts=child)
        if platform.file_system_group is not None and any(s.mounted_volumes or s.host_dirs for s in app.services.values()):
            aws.vpc.SecurityGroupIngressRule(
                f"{app.name}-to-efs", security_group_id=platform.file_system_group.id, ip_protocol="tcp",
                from_port=2049, to_port=2049, referenced_security_group_id=group.id,
                description=f"NFS from the {app.name} tasks", opts=child)
        return group

    def _access_points(self) -> dict[tuple[str, str], aws.efs.AccessPoint]:
        """One EFS access point per volume (and host dir): its own directory, owned by the user of the
        first service mounting it. Services naming the same volume share its access point, as they
        share the one Docker volume on a host; the access point makes each act as that owner."""
        app, platform = self._app, self._platform
        by_volume: dict[str, aws.efs.AccessPoint] = {}
        points = {}
        for svc_name, svc in app.services.items():
            uid, gid = posix_owner(svc)
            for volume in [*svc.mounted_volumes, *svc.host_dirs]:
                if volume not in by_volume:
                    by_volume[volume] = aws.efs.AccessPoint(
                        f"{app.name}-{volume}", file_system_id=platform.used_file_system().id,
                        posix_user={"uid": uid, "gid": gid},
                        root_directory={"path": f"/berth/{app.name}/{volume}", "creation_info": {
                            "owner_uid": uid, "owner_gid": gid, "permissions": "0750"}},
                        tags={**self._tags, "Name": conventions.volume(app.name, volume)},
                        opts=pulumi.ResourceOptions(parent=self, **kept_in_prod(self._target.policy)))
                points[(svc_name, volume)] = by_volume[volume]
        return points

    def _secrets(self) -> dict[tuple[str, str], pulumi.Output[str]]:
        """(service, ENV) -> ARN of the Secrets Manager entry holding the value."""
        app, platform = self._app, self._platform
        arns: dict[tuple[str, str], pulumi.Output[str]] = {}
        by_value: dict[str, pulumi.Output[str]] = {}

        def put(key: str, value: pulumi.Output[str], env: str) -> pulumi.Output[str]:
            if key not in by_value:
                by_value[key] = platform.store.put(app.name, env, value, parent=self)
            return by_value[key]

        for svc_name, svc in app.services.items():
            for env, secret_name in svc.secret_env.items():
                arns[(svc_name, env)] = put(f"config:{secret_name}", platform.secrets.get(secret_name), env)
            for used, use in svc.uses.items():
                if used in SHARED_SERVICES:
                    arns[(svc_name, use.env)] = put(f"shared:{used}:{use.scheme}", self._data_tier().url(used, use.scheme),
                                                    use.env)
                else:
                    arns[(svc_name, use.env)] = put(f"external:{used}", platform.secrets.get(app.external[used].secret),
                                                    use.env)
        return arns

    def _task_role(self) -> aws.iam.Role:
        """What the app's code may do in AWS: mount its own EFS directories, nothing more."""
        app, platform = self._app, self._platform
        role = aws.iam.Role(f"{app.name}-task", assume_role_policy=assumed_by("ecs-tasks.amazonaws.com"),
            description=f"berth {app.name}: what its running code may do", tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self))
        if self._volumes:
            aws.iam.RolePolicy(f"{app.name}-task-efs", role=role.name, policy=pulumi.Output.json_dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Sid": "OwnVolumes", "Effect": "Allow",
                    "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                    "Resource": platform.used_file_system().arn,
                    "Condition": {"StringEquals": {"elasticfilesystem:AccessPointArn": [
                        p.arn for p in self._volumes.values()]}}}]}), opts=pulumi.ResourceOptions(parent=self))
        return role

    # --- one service -------------------------------------------------------------------------------

    def _image(self, svc_name: str, svc: Service) -> pulumi.Input[str]:
        """A pinned public reference as it is (ECS pulls it); a build from this stack's ECR by digest."""
        if svc.image is not None:
            return svc.image
        return ecr_reference(f"{self._app.name}-{svc_name}", self._target, self._platform.builder, svc_name, svc,
                             parent=self)

    def _container(self, svc_name: str, svc: Service, image: pulumi.Input[str]) -> dict[str, Any]:
        env = [{"name": k, "value": self._target.substitute(v)} for k, v in sorted(svc.env.items())]
        secrets = [{"name": env_name, "valueFrom": arn} for (s, env_name), arn in sorted(self._secret_arns.items())
                   if s == svc_name]
        check = health_check(svc)
        container: dict[str, Any] = {
            "name": svc_name, "image": image, "essential": True,
            "environment": env, "secrets": secrets,
            "readonlyRootFilesystem": svc.read_only, "privileged": False,
            "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"], "add": sorted(svc.cap_add)}},
            "mountPoints": [
                *[{"sourceVolume": f"volume-{v}", "containerPath": path, "readOnly": False}
                  for v, path in svc.mounted_volumes.items()],
                *[{"sourceVolume": f"volume-{d}", "containerPath": hd.target, "readOnly": hd.read_only}
                  for d, hd in svc.host_dirs.items()],
                *scratch.mount_points(svc)],
            "healthCheck": {"command": probe_command(check, svc.port), "interval": check.interval_s,
                            "timeout": check.timeout_s, "retries": check.retries, "startPeriod": check.start_period_s},
            "stopTimeout": STOP_TIMEOUT_S,
            "logConfiguration": awslogs(self.log_group, svc_name),
        }
        if svc.port:
            container["portMappings"] = [{"name": svc_name, "containerPort": svc.port, "protocol": "tcp",
                                          "appProtocol": "http"}]
        if svc.command:
            container["command"] = list(svc.command)
        if svc.user:
            container["user"] = svc.user
        if svc.gpu:
            container["resourceRequirements"] = [{"type": "GPU", "value": "1"}]
        if svc.tmpfs:
            container["dependsOn"] = scratch.wait_for_opener(svc)
        return container

    def _task_definition(self, svc_name: str, svc: Service, containers: list[dict[str, Any]],
                         volumes: list[aws.ecs.TaskDefinitionVolumeArgsDict], family: str) -> aws.ecs.TaskDefinition:
        size = (required(task_size(svc.cpus, svc.memory_mb), "a Fargate size holding the service (ecs_checks)")
                if not svc.gpu else (round((svc.cpus or 1) * 1024), svc.memory_mb))
        arch = "ARM64" if svc.build is not None and svc.build.platform == "linux/arm64" else "X86_64"
        definition = aws.ecs.TaskDefinition(
            f"{self._app.name}-{svc_name}", family=f"berth-{self._target.stack}-{family}", network_mode="awsvpc",
            requires_compatibilities=["EC2"] if svc.gpu else ["FARGATE"], cpu=str(size[0]), memory=str(size[1]),
            execution_role_arn=self.execution_role.arn, task_role_arn=self.task_role.arn,
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": arch},
            container_definitions=pulumi.Output.json_dumps(containers), volumes=volumes, tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self))
        self.task_definitions[svc_name] = definition
        return definition

    def _volume_args(self, svc: Service, svc_name: str) -> list[aws.ecs.TaskDefinitionVolumeArgsDict]:
        volumes = scratch.volumes(svc)
        for volume in [*svc.mounted_volumes, *svc.host_dirs]:
            point = self._volumes[(svc_name, volume)]
            volumes.append({"name": f"volume-{volume}", "efs_volume_configuration": {
                "file_system_id": self._platform.used_file_system().id, "transit_encryption": "ENABLED",
                "authorization_config": {"access_point_id": point.id, "iam": "ENABLED"}}})
        return volumes

    def _service(self, svc_name: str, svc: Service) -> None:
        platform, app = self._platform, self._app
        image = self._image(svc_name, svc)
        containers = [self._container(svc_name, svc, image)]
        if svc.tmpfs:  # the pinned proxy image has the shell and chmod an app's image may lack
            containers.insert(0, scratch.opener(svc, platform.proxy_image,
                                                awslogs(self.log_group, svc_name)))
        definition = self._task_definition(svc_name, svc, containers, self._volume_args(svc, svc_name),
                                           f"{app.name}-{svc_name}")
        load_balancers: list[aws.ecs.ServiceLoadBalancerArgsDict] = []
        if (group := self._target_groups.get(svc_name)) is not None:
            port = required(svc.port, f"the port of routed service {svc_name} (App validation)")
            load_balancers = [{"target_group_arn": group.arn, "container_name": svc_name, "container_port": port}]
        self._ecs_service(svc_name, svc, definition, load_balancers, uses_data=svc.uses_data)
        self._hooks(svc_name, svc, definition)

    def _ecs_service(self, svc_name: str, svc: Service, definition: aws.ecs.TaskDefinition,
                     load_balancers: list[aws.ecs.ServiceLoadBalancerArgsDict], uses_data: bool) -> aws.ecs.Service:
        platform, app = self._platform, self._app
        groups = [self.tasks_group.id] + ([self._data_tier().client_security_group.id] if uses_data else [])
        called = [self.services[c] for c in sorted(self._callees.get(svc_name, ())) if c in self.services]
        depends = [*called, *self._forwarding.get(svc_name, []), *(self._data_tier().ready if uses_data else []),
                   *platform.mount_targets,
                   *([platform.capacity] if svc.gpu else [])]
        stateful = svc.stateful
        scaled = svc.max_replicas is not None
        gpu_capacity: list[aws.ecs.ServiceCapacityProviderStrategyArgsDict] | None = (
            [{"capacity_provider": required(platform.gpu_capacity_provider, "berth:host.gpuInstanceType (ecs_checks)"),
              "weight": 1}] if svc.gpu else None)
        follows = endpoints_trigger(called)
        # An unset input is no input (pulumi/runtime/rpc.py, serialize_properties): a GPU service names its
        # capacity provider and no launch type, any other the reverse.
        service = aws.ecs.Service(
            f"{app.name}-{svc_name}", cluster=platform.cluster.arn, task_definition=definition.arn,
            desired_count=svc.replicas, capacity_provider_strategies=gpu_capacity,
            launch_type=None if svc.gpu else "FARGATE",
            network_configuration={"subnets": platform.network.private_subnet_ids, "security_groups": groups,
                                   "assign_public_ip": False},
            load_balancers=load_balancers or None,
            health_check_grace_period_seconds=grace_period(health_check(svc).start_period_s) if load_balancers else None,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            # A service holding data, or a singleton, never runs twice: the old task stops first.
            deployment_maximum_percent=100 if stateful else 200,
            deployment_minimum_healthy_percent=0 if stateful else 100,
            service_connect_configuration=self._connect(svc_name, svc.port), enable_execute_command=False,
            propagate_tags="SERVICE", wait_for_steady_state=True, tags=self._tags,
            force_new_deployment=follows.force_new_deployment, triggers=follows.triggers,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends,
                                        ignore_changes=["desiredCount"] if scaled else None))
        self.services[svc_name] = service
        if scaled:
            target = aws.appautoscaling.Target(
                f"{app.name}-{svc_name}", service_namespace="ecs", scalable_dimension="ecs:service:DesiredCount",
                resource_id=pulumi.Output.concat("service/", platform.cluster.name, "/", service.name),
                min_capacity=svc.replicas, max_capacity=svc.max_replicas, opts=pulumi.ResourceOptions(parent=self))
            aws.appautoscaling.Policy(
                f"{app.name}-{svc_name}-cpu", policy_type="TargetTrackingScaling", service_namespace="ecs",
                resource_id=target.resource_id, scalable_dimension=target.scalable_dimension,
                target_tracking_scaling_policy_configuration={
                    "target_value": SCALE_ON_CPU_PERCENT, "scale_in_cooldown": 300, "scale_out_cooldown": 60,
                    "predefined_metric_specification": {"predefined_metric_type": "ECSServiceAverageCPUUtilization"}},
                opts=pulumi.ResourceOptions(parent=self))
        return service

    def _connect(self, svc_name: str, port: int | None) -> aws.ecs.ServiceServiceConnectConfigurationArgs:
        """The app's namespace; a service with a port is reached there by its alias, with the hop's timeouts."""
        # Typed args: the SDK does not translate snake_case keys of plain dicts nested this deep.
        endpoint = None
        if port:
            hop: HopTimeout = self._timeouts[svc_name]
            endpoint = [aws.ecs.ServiceServiceConnectConfigurationServiceArgs(
                port_name=svc_name, discovery_name=svc_name,
                client_alias=[aws.ecs.ServiceServiceConnectConfigurationServiceClientAliasArgs(port=port, dns_name=svc_name)],
                timeout=aws.ecs.ServiceServiceConnectConfigurationServiceTimeoutArgs(
                    per_request_timeout_seconds=hop.per_request_s, idle_timeout_seconds=hop.idle_s))]
        return aws.ecs.ServiceServiceConnectConfigurationArgs(enabled=True, namespace=self.namespace.arn,
                                                              services=endpoint)

    def _target_group(self, key: str, port: int, health_path: str, sticky: bool = False) -> aws.lb.TargetGroup:
        platform, app = self._platform, self._app
        group = aws.lb.TargetGroup(
            conventions.target_group(app.name, key), port=port, protocol="HTTP", target_type="ip", vpc_id=platform.network.vpc_id,
            deregistration_delay=DEREGISTRATION_DELAY_S,
            health_check={"path": health_path, "matcher": "200-399", "interval": HEALTH_INTERVAL_S,
                          "timeout": HEALTH_TIMEOUT_S, "healthy_threshold": HEALTHY_THRESHOLD},
            stickiness={"type": "lb_cookie", "enabled": True, "cookie_duration": 86400} if sticky else None,
            tags=self._tags, opts=pulumi.ResourceOptions(parent=self))
        self._target_groups[key] = group
        return group

    def _hooks(self, svc_name: str, svc: Service, definition: aws.ecs.TaskDefinition) -> None:
        """Each hook is a one-off task of the new task definition; it runs again when the definition changes."""
        platform, app = self._platform, self._app
        groups = [self.tasks_group.id] + (
            [self._data_tier().client_security_group.id] if svc.uses_data else [])
        # A GPU service's task definition runs only on the GPU capacity, never with Fargate's launch type.
        provider = platform.gpu_capacity_provider if svc.gpu else None
        for i, hook in enumerate(svc.after_deploy, start=1):
            script = pulumi.Output.all(platform.cluster.name, definition.arn, platform.network.private_subnet_ids,
                                       provider, *groups).apply(partial(hook_script, svc_name, tuple(hook.command)))
            command.local.Command(f"{app.name}-{svc_name}-after-deploy-{i}", create=script,
                                  interpreter=["/bin/bash", "-c"], triggers=[definition.arn],
                                  logging=command.local.Logging.STDERR,
                                  opts=pulumi.ResourceOptions(parent=self, depends_on=[self.services[svc_name]]))

    # --- the edge proxy and the load balancer's rules ----------------------------------------------------

    def _edge(self) -> None:
        """Caddy for what the ALB cannot do (components/ecs/edge.py), with the static sites' files."""
        app = self._app
        sites = {n: self._image(n, svc) for n, svc in app.services.items() if svc.kind == "static"}
        containers, volumes = edge.task(self._target, self._platform.proxy_image, sites,
                                        awslogs(self.log_group, "edge"))
        definition = self._task_definition(EDGE, edge.SERVICE, containers, volumes, f"{app.name}-edge")
        group = self._target_groups[EDGE]
        self._ecs_service(EDGE, edge.SERVICE, definition, [{"target_group_arn": group.arn, "container_name": EDGE,
                                                            "container_port": edge.PORT}], uses_data=False)

    def _targets(self) -> dict[str, tuple[int, str, bool]]:
        """What the load balancer forwards to: target -> (port, health check path, sticky)."""
        app = self._app
        targets: dict[str, tuple[int, str, bool]] = {}
        for route in app.routes.values():
            if through_edge(app, route):
                targets[EDGE] = (edge.PORT, "/health", False)
            else:
                svc = app.services[route.service]
                sticky = any(r.sticky for r in app.routes.values() if r.service == route.service)
                port = required(svc.port, f"the port of routed service {route.service} (App validation)")
                targets[route.service] = (port, health_check(svc).path or "/", sticky)
        return targets

    def _rules(self, base: int) -> dict[str, list[aws.lb.ListenerRule]]:
        """The app's listener rules, by the target they forward to."""
        platform, app = self._platform, self._app
        host = self._target.hostname
        forwarding: dict[str, list[aws.lb.ListenerRule]] = {}
        for rank, path in enumerate(route_order(app)):
            route = app.routes[path]
            target = EDGE if through_edge(app, route) else route.service
            forwarding.setdefault(target, []).append(platform.load_balancer.forward(
                conventions.listener_rule(app.name, path), host, path, base + rank, self._target_groups[target], parent=self))
        return forwarding


@dataclass(frozen=True)
class EndpointsTrigger:
    """The service's `force_new_deployment` and `triggers`: both unset when it calls nothing."""

    force_new_deployment: bool | None = None
    triggers: dict[str, pulumi.Output[str]] | None = None


def endpoints_trigger(called: list[aws.ecs.Service]) -> EndpointsTrigger:
    """A caller's tasks are replaced when a service it calls is created or replaced: Service Connect gives a
    new endpoint only to tasks started after it exists (AWS, "Service Connect components"), so a caller
    left running would never reach a callee a later deploy adds. Nothing called: nothing to follow."""
    if not called:
        return EndpointsTrigger()
    ids = pulumi.Output.all(*[c.id for c in called]).apply(lambda found: ",".join(found))
    return EndpointsTrigger(force_new_deployment=True, triggers={"endpoints": ids})


def hook_script(container: str, command: tuple[str, ...], found: list[Any]) -> str:
    """The shell that runs one post-deploy hook as a one-off task; `found`: the cluster, the task
    definition, the subnets, the capacity provider (None: Fargate), then the security groups."""
    return run_task_script(OneOffTask(cluster=found[0], task_definition=found[1], container=container,
                                      subnets=tuple(found[2]), capacity_provider=found[3],
                                      security_groups=tuple(found[4:]), command=command))
