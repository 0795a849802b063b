"""Managed Postgres and Redis for an ECS stack, fenced per app as on one host.

- Postgres: one Amazon RDS instance, private, encrypted, reached only from the security group of
  the services that use it. Each app gets its own role and database, provisioned by its own one-off
  task that runs the same SQL as on one host (render/datastores.py) with the master password from
  Secrets Manager, so one app's failing init SQL holds up no other app. Prod: deletion protection, a
  final snapshot, automated backups retained.
- Redis: one ElastiCache replication group per app that uses Redis (TLS, encrypted at rest, an auth
  token), so no app sees another's keys; a cache evicts, a store keeps its data and snapshots.
Staging protects nothing and takes no final snapshot: `pulumi destroy` leaves nothing behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from components.ecs.network import EcsNetwork
from components.options import kept_in_prod
from components.ecs.secret_store import SecretStore
from components.shared_services import app_database, generated_password
from config.app import App
from config.deployment import Deployment
from config.ecs_checks import postgres_major
from config.stack import EcsHostSettings
from render import datastores
from render.ecs_tasks import OneOffTask, run_task_script

POSTGRES_PORT = 5432
REDIS_PORT = 6379
MASTER_USER = "berth_admin"
REDIS_ENGINE_VERSION = "7.1"
REDIS_FAMILY = "redis7"


@dataclass
class AppData:
    """What one app's services get from the managed data tier."""

    client_security_group: aws.ec2.SecurityGroup  # services that use a database wear this one
    urls: dict[str, pulumi.Output[str]] = field(default_factory=dict)  # "postgres"/"redis" -> secret URL
    ready: list[pulumi.Resource] = field(default_factory=list)


class ManagedData(pulumi.ComponentResource):
    def __init__(self, name: str, deployment: Deployment, network: EcsNetwork, cluster: aws.ecs.Cluster,
                 store: SecretStore, log_group: aws.cloudwatch.LogGroup,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:ecs:ManagedData", name, None, opts)
        self._deployment, self._network, self._store = deployment, network, store
        self._tags = {"berth:stack": deployment.stack}
        child = pulumi.ResourceOptions(parent=self)
        users = {s: [a for a in deployment.apps.values() if a.uses_shared(s)] for s in ("postgres", "redis")}
        self.apps: dict[str, AppData] = {}
        for app in deployment.apps.values():
            if any(app.uses_shared(s) for s in ("postgres", "redis")):
                self.apps[app.name] = AppData(aws.ec2.SecurityGroup(
                    f"{app.name}-data-clients", vpc_id=network.vpc_id, tags=self._tags, opts=child,
                    description=f"berth {app.name}: its services that use a database (no inbound)"))
        outputs = {}
        if users["postgres"]:
            outputs["postgres"] = self._postgres(name, users["postgres"], cluster, log_group).address
        for app in users["redis"]:
            self._redis(app)
        self.register_outputs(outputs)

    def _keep(self, **extra) -> pulumi.ResourceOptions:
        return kept_in_prod(self._deployment, self, **extra)

    def _ingress(self, name: str, group: aws.ec2.SecurityGroup, port: int, apps: list[App]) -> None:
        for app in apps:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-from-{app.name}", security_group_id=group.id, ip_protocol="tcp", from_port=port,
                to_port=port, referenced_security_group_id=self.apps[app.name].client_security_group.id,
                description=f"from {app.name}'s services that use it", opts=pulumi.ResourceOptions(parent=self))

    def _postgres(self, name: str, apps: list[App], cluster: aws.ecs.Cluster,
                  log_group: aws.cloudwatch.LogGroup) -> aws.rds.Instance:
        deployment, network = self._deployment, self._network
        host: EcsHostSettings = deployment.settings.host
        rds = host.database
        prod = deployment.is_prod
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(f"{name}-postgres", vpc_id=network.vpc_id, tags=self._tags, opts=child,
                                      description="berth RDS Postgres: only from services that use it")
        provisioner = aws.ec2.SecurityGroup(f"{name}-postgres-provisioner", vpc_id=network.vpc_id, tags=self._tags,
                                            description="berth: the one-off task that creates roles and databases",
                                            opts=child)
        aws.vpc.SecurityGroupEgressRule(f"{name}-provisioner-out", security_group_id=provisioner.id,
                                        ip_protocol="-1", cidr_ipv4="0.0.0.0/0",
                                        description="Postgres, and the registry its image comes from", opts=child)
        self._ingress(f"{name}-postgres", group, POSTGRES_PORT, apps)
        aws.vpc.SecurityGroupIngressRule(f"{name}-postgres-from-provisioner", security_group_id=group.id,
                                         ip_protocol="tcp", from_port=POSTGRES_PORT, to_port=POSTGRES_PORT,
                                         referenced_security_group_id=provisioner.id,
                                         description="from the provisioning task", opts=child)
        subnets = aws.rds.SubnetGroup(f"{name}-postgres", subnet_ids=network.private_subnet_ids, tags=self._tags,
                                      opts=child)
        master = generated_password(f"{name}-postgres-master", self)
        instance = aws.rds.Instance(
            f"{name}-postgres", engine="postgres", engine_version=postgres_major(deployment.settings.shared.postgres.image),
            instance_class=rds.instance_class, allocated_storage=rds.allocated_storage_gib,
            max_allocated_storage=rds.max_allocated_storage_gib, storage_type="gp3", storage_encrypted=True,
            db_subnet_group_name=subnets.name, vpc_security_group_ids=[group.id], publicly_accessible=False,
            username=MASTER_USER, password=master, multi_az=rds.multi_az,
            backup_retention_period=rds.backup_retention_days, copy_tags_to_snapshot=True,
            deletion_protection=prod, skip_final_snapshot=not prod,
            final_snapshot_identifier=f"berth-{deployment.stack}-postgres-final" if prod else None,
            auto_minor_version_upgrade=True, apply_immediately=not prod, tags=self._tags, opts=self._keep())

        passwords = {app.name: generated_password(f"{app.name}-postgres-password", self) for app in apps}
        for app in apps:
            data = self.apps[app.name]
            data.urls["postgres"] = pulumi.Output.secret(pulumi.Output.all(passwords[app.name], instance.address).apply(
                lambda a, app=app: datastores.postgres_url(app.name, a[0]).replace("@postgres:", f"@{a[1]}:")))
        # The master is no superuser on RDS: it must belong to a role to create a database that role owns.
        scripts = {app.name: passwords[app.name].apply(
            lambda pw, app=app: datastores.provision_sql(app_database(deployment, app, pw), admin=MASTER_USER))
            for app in apps}
        provisions = self._provision(name, scripts, master, instance, provisioner, cluster, log_group)
        for app in apps:
            self.apps[app.name].ready.append(provisions[app.name])
        return instance

    def _provision(self, name, scripts: dict[str, pulumi.Output[str]], master, instance, provisioner, cluster,
                   log_group) -> dict[str, command.local.Command]:
        """Per app, a one-off task of the pinned Postgres image runs its provisioning SQL with psql over TLS.

        One task per app, as each app's own provisioning on one host: one app's failing init SQL stops
        that app's deploy and no other's.
        """
        deployment, store = self._deployment, self._store
        sql_arns = {app: store.put(app, "PROVISION_SQL", script, parent=self) for app, script in scripts.items()}
        master_arn = store.put("berth", "POSTGRES_MASTER_PASSWORD", master, parent=self)
        role = task_execution_role(f"{name}-provisioner", deployment, [*sql_arns.values(), master_arn], log_group,
                                   parent=self)
        provisions = {}
        for app, sql_arn in sql_arns.items():
            container = pulumi.Output.json_dumps([{
                "name": "provision", "image": deployment.settings.shared.postgres.image, "essential": True,
                "command": ["sh", "-c", 'printf "%s\\n" "$PROVISION_SQL" | psql -X -q'],
                "environment": pulumi.Output.all(instance.address).apply(lambda a: [
                    {"name": "PGHOST", "value": a[0]}, {"name": "PGUSER", "value": MASTER_USER},
                    {"name": "PGDATABASE", "value": "postgres"}, {"name": "PGSSLMODE", "value": "require"}]),
                "secrets": [{"name": "PROVISION_SQL", "valueFrom": sql_arn},
                            {"name": "PGPASSWORD", "valueFrom": master_arn}],
                "readonlyRootFilesystem": True, "user": "postgres",
                "linuxParameters": {"capabilities": {"drop": ["ALL"]}},
                "logConfiguration": awslogs(log_group, f"provision-{app}"),
            }])
            task = aws.ecs.TaskDefinition(f"{app}-postgres-provision", family=f"berth-{deployment.stack}-provision-{app}",
                                          network_mode="awsvpc", requires_compatibilities=["FARGATE"], cpu="256",
                                          memory="512", execution_role_arn=role.arn, container_definitions=container,
                                          opts=pulumi.ResourceOptions(parent=self))
            script_text = pulumi.Output.all(cluster.name, task.arn, self._network.private_subnet_ids, provisioner.id).apply(
                lambda a: run_task_script(OneOffTask(cluster=a[0], task_definition=a[1], container="provision",
                                                     subnets=tuple(a[2]), security_groups=(a[3],))))
            provisions[app] = command.local.Command(
                f"{app}-postgres-provision", create=script_text, interpreter=["/bin/bash", "-c"],
                triggers=[sql_arn, task.arn], logging=command.local.Logging.STDERR,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[instance]))
        return provisions

    def _redis(self, app: App) -> None:
        deployment, network = self._deployment, self._network
        settings: EcsHostSettings = deployment.settings.host
        prod = deployment.is_prod
        child = pulumi.ResourceOptions(parent=self)
        mode = app.redis.mode
        group = aws.ec2.SecurityGroup(f"{app.name}-redis", vpc_id=network.vpc_id, tags=self._tags, opts=child,
                                      description=f"berth {app.name} Redis: only from its services that use it")
        self._ingress(f"{app.name}-redis", group, REDIS_PORT, [app])
        subnets = aws.elasticache.SubnetGroup(f"{app.name}-redis", subnet_ids=network.private_subnet_ids, opts=child)
        parameters = aws.elasticache.ParameterGroup(f"{app.name}-redis", family=REDIS_FAMILY, parameters=[
            {"name": "maxmemory-policy", "value": "allkeys-lru" if mode == "cache" else "noeviction"}], opts=child)
        token = generated_password(f"{app.name}-redis-token", self)
        keeps_data = mode == "store"
        replicas = 2 if prod else 1
        cluster = aws.elasticache.ReplicationGroup(
            f"{app.name}-redis", description=f"berth {deployment.stack} {app.name} ({mode})",
            engine="redis", engine_version=REDIS_ENGINE_VERSION, node_type=settings.cache.node_type,
            num_cache_clusters=replicas, automatic_failover_enabled=replicas > 1, multi_az_enabled=replicas > 1,
            port=REDIS_PORT, subnet_group_name=subnets.name, security_group_ids=[group.id],
            parameter_group_name=parameters.name, transit_encryption_enabled=True, at_rest_encryption_enabled=True,
            auth_token=token, snapshot_retention_limit=settings.cache.snapshot_retention_days if keeps_data else 0,
            final_snapshot_identifier=f"berth-{deployment.stack}-{app.name}-redis-final" if prod and keeps_data else None,
            apply_immediately=not prod, tags=self._tags, opts=self._keep() if keeps_data else child)
        self.apps[app.name].urls["redis"] = pulumi.Output.secret(pulumi.Output.all(
            token, cluster.primary_endpoint_address).apply(lambda a: f"rediss://:{a[0]}@{a[1]}:{REDIS_PORT}/0"))
        self.apps[app.name].ready.append(cluster)


def awslogs(log_group: aws.cloudwatch.LogGroup, prefix: str) -> dict:
    return {"logDriver": "awslogs", "options": {
        "awslogs-group": log_group.name, "awslogs-region": aws.get_region_output().region,
        "awslogs-stream-prefix": prefix}}


def task_execution_role(name: str, deployment: Deployment, secret_arns: list[pulumi.Input[str]] | str,
                        log_group: aws.cloudwatch.LogGroup, parent: pulumi.Resource,
                        repository_prefix: str | None = None) -> aws.iam.Role:
    """What ECS itself needs to start a task: its secrets (only these), its logs, its images (this
    stack's ECR repositories under `repository_prefix`); nothing else."""
    region = aws.get_region_output().region
    account = aws.get_caller_identity_output().account_id
    role = aws.iam.Role(name, assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        description="berth: starts this app's tasks (pull, logs, secrets)", opts=pulumi.ResourceOptions(parent=parent))
    statements = [
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": pulumi.Output.concat(log_group.arn, ":*")},
    ]
    if secret_arns:
        statements.append({"Sid": "OwnSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                           "Resource": secret_arns})
    if repository_prefix:
        statements += [
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Sid": "OwnImages", "Effect": "Allow",
             "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
             "Resource": pulumi.Output.concat("arn:aws:ecr:", region, ":", account, ":repository/", repository_prefix, "*")},
        ]
    aws.iam.RolePolicy(name, role=role.name, policy=pulumi.Output.json_dumps(
        {"Version": "2012-10-17", "Statement": statements}), opts=pulumi.ResourceOptions(parent=parent))
    return role
