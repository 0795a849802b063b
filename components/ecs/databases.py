"""Managed Postgres and Redis for an ECS stack, fenced per app as on one host.

- Postgres: one Amazon RDS instance, private, encrypted, reached only from the security group of
  the services that use it. Each app gets its own role and database from its own one-off task that
  runs the same admin SQL as on one host (render/datastores.py) as the master (no superuser on RDS),
  then, in a task of its own that has only the app's password, its init SQL as the app's role. One
  app's failing init SQL holds up no other app. Prod: deletion protection, a final snapshot,
  automated backups retained.
- Redis: one ElastiCache replication group per app that uses Redis (TLS, encrypted at rest, an auth
  token), so no app sees another's keys; a cache evicts, a store keeps its data and snapshots.
Staging protects nothing and takes no final snapshot: `pulumi destroy` leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from components.aws_common import assumed_by
from components.ecs.network import EcsNetwork
from components.ecs.secret_store import SecretStore
from components.common import app_database, generated_password, required
from components.options import kept_in_prod
from config.app import App
from config.conventions import POSTGRES_PORT, REDIS_PORT
from config.deployment import StackApp
from config.ecs_checks import postgres_major
from config.stack import EcsHostSettings, SharedSettings
from render import datastores
from render.ecs_tasks import OneOffTask, run_task_script
from rules.environments import EnvironmentPolicy
from rules.postgres import RDS_MASTER_USER as MASTER_USER

# Secrets of the provisioning tasks, under each app's prefix: a `.` no env name has, so no secret an app's
# services get (named after their env) can share one's name.
PROVISION_SQL_KEY, INIT_SQL_KEY, PASSWORD_KEY = "postgres.provision-sql", "postgres.init-sql", "postgres.password"
REDIS_ENGINE_VERSION = "7.1"
REDIS_FAMILY = "redis7"


def rds_url(app: str, password: str, host: str, scheme: str | None = None) -> str:
    """The app's URL of its RDS database, over TLS: RDS for PostgreSQL 15 and later refuses connections
    without it (its default parameter group sets `rds.force_ssl` to 1: AWS, Amazon RDS User Guide, "Using
    SSL with a PostgreSQL DB instance"). libpq, psycopg, Prisma and node-postgres read `sslmode=require`;
    asyncpg through SQLAlchemy (`postgresql+asyncpg`) reads `ssl=require` instead. docs/ecs.md says what
    each client verifies and how to check the server's certificate too."""
    url = datastores.postgres_url(app, password, scheme).replace("@postgres:", f"@{host}:")
    return url + ("?ssl=require" if scheme and "asyncpg" in scheme else "?sslmode=require")


def elasticache_url(token: str, host: str) -> str:
    """The app's URL of its ElastiCache group: TLS (`rediss://`), whatever scheme one host would use, and
    its auth token."""
    return f"rediss://:{token}@{host}:{REDIS_PORT}/0"


@dataclass
class ManagedAppData:
    """What one app's services get from the managed data tier."""

    client_security_group: aws.ec2.SecurityGroup  # services that use a database wear this one
    ready: list[pulumi.Resource] = field(default_factory=list)
    # "postgres"/"redis" -> (secret values the URL is made of, how): see url()
    sources: dict[str, tuple[pulumi.Output, Callable[..., str]]] = field(default_factory=dict)

    def url(self, used: str, scheme: str | None = None) -> pulumi.Output[str]:
        """The secret connection URL of "postgres" or "redis", with the scheme the service asks for."""
        values, render = self.sources[used]
        return pulumi.Output.secret(values.apply(lambda v: render(*v, scheme) if used == "postgres" else render(*v)))


class ManagedData(pulumi.ComponentResource):
    """The managed data tier. It serves every app (one RDS instance for all, a security group and an
    ElastiCache group for each that uses them), so it is given each app as the stack deploys it, with
    `berth:shared` (`shared`), the ECS host's settings (`settings`: RDS, ElastiCache) and what the environment
    keeps (`policy`)."""

    def __init__(self, name: str, apps: Sequence[StackApp], shared: SharedSettings, settings: EcsHostSettings,
                 stack: str, policy: EnvironmentPolicy, network: EcsNetwork, cluster: aws.ecs.Cluster,
                 store: SecretStore, log_group: aws.cloudwatch.LogGroup,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:ecs:ManagedData", name, None, opts)
        self._network, self._store = network, store
        self._shared, self._settings, self._stack, self._policy = shared, settings, stack, policy
        self._targets = {a.name: a for a in apps}
        child = pulumi.ResourceOptions(parent=self)
        users = {s: [a.app for a in apps if a.app.uses_shared(s)] for s in ("postgres", "redis")}
        self.apps: dict[str, ManagedAppData] = {}
        for app in (a.app for a in apps):
            if any(app.uses_shared(s) for s in ("postgres", "redis")):
                self.apps[app.name] = ManagedAppData(aws.ec2.SecurityGroup(
                    f"{app.name}-data-clients", vpc_id=network.vpc_id, opts=child,
                    description=f"berth {app.name}: its services that use a database (no inbound)"))
        outputs = {}
        if users["postgres"]:
            outputs["postgres"] = self._postgres(name, users["postgres"], cluster, log_group).address
        for app in users["redis"]:
            self._redis(app)
        self.register_outputs(outputs)

    def _ingress(self, name: str, group: aws.ec2.SecurityGroup, port: int, apps: list[App]) -> None:
        for app in apps:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-from-{app.name}", security_group_id=group.id, ip_protocol="tcp", from_port=port,
                to_port=port, referenced_security_group_id=self.apps[app.name].client_security_group.id,
                description=f"from the {app.name} services that use it", opts=pulumi.ResourceOptions(parent=self))

    def _postgres(self, name: str, apps: list[App], cluster: aws.ecs.Cluster,
                  log_group: aws.cloudwatch.LogGroup) -> aws.rds.Instance:
        network = self._network
        rds = self._settings.database
        keep = self._policy.keeps_data
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(f"{name}-postgres", vpc_id=network.vpc_id, opts=child,
                                      description="berth RDS Postgres: only from services that use it")
        provisioner = aws.ec2.SecurityGroup(f"{name}-postgres-provisioner", vpc_id=network.vpc_id,
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
        subnets = aws.rds.SubnetGroup(f"{name}-postgres", subnet_ids=network.private_subnet_ids, opts=child)
        master = generated_password(f"{name}-postgres-master", self)
        instance = aws.rds.Instance(
            f"{name}-postgres", engine="postgres", engine_version=postgres_major(self._shared.used_postgres().image),
            instance_class=rds.instance_class, allocated_storage=rds.allocated_storage_gib,
            max_allocated_storage=rds.max_allocated_storage_gib, storage_type="gp3", storage_encrypted=True,
            db_subnet_group_name=subnets.name, vpc_security_group_ids=[group.id], publicly_accessible=False,
            username=MASTER_USER, password=master, multi_az=rds.multi_az,
            backup_retention_period=rds.backup_retention_days, copy_tags_to_snapshot=True,
            deletion_protection=keep, skip_final_snapshot=not keep,
            final_snapshot_identifier=f"berth-{self._stack}-postgres-final" if keep else None,
            auto_minor_version_upgrade=True, apply_immediately=not keep,
            opts=pulumi.ResourceOptions(parent=self, **kept_in_prod(self._policy)))

        passwords = {app.name: generated_password(f"{app.name}-postgres-password", self) for app in apps}
        for app in apps:
            data = self.apps[app.name]
            data.sources["postgres"] = (pulumi.Output.all(app.name, passwords[app.name], instance.address), rds_url)
        databases = {app.name: passwords[app.name].apply(partial(app_database, self._targets[app.name]))
                     for app in apps}
        provisions = self._provision(name, databases, master, instance, provisioner, cluster, log_group)
        for app in apps:
            self.apps[app.name].ready.extend(provisions[app.name])
        return instance

    def _provision(self, name: str, databases: dict[str, pulumi.Output[datastores.AppDatabase]],
                   master: pulumi.Output[str], instance: aws.rds.Instance, provisioner: aws.ec2.SecurityGroup,
                   cluster: aws.ecs.Cluster, log_group: aws.cloudwatch.LogGroup
                   ) -> dict[str, list[command.local.Command]]:
        """Per app, one-off tasks of the pinned Postgres image: the admin SQL as the master, then the app's
        init SQL as its own role (a task that never sees the master's password), both with psql over TLS.

        Their own tasks per app, as each app's own provisioning on one host: one app's failing init SQL
        stops that app's deploy and no other's.
        """
        store = self._store
        scripts = {app: db.apply(datastores.provision_sql) for app, db in databases.items()}
        sql_arns = {app: store.put(app, PROVISION_SQL_KEY, script, parent=self) for app, script in scripts.items()}
        master_arn = store.put("berth", "POSTGRES_MASTER_PASSWORD", master, parent=self)
        role = task_execution_role(f"{name}-provisioner", [*sql_arns.values(), master_arn], log_group, parent=self)
        init_apps = [a for a in databases if (db := self._targets[a].app.database) and db.init_sql]
        init_arns = {app: (store.put(app, INIT_SQL_KEY, databases[app].apply(
                               lambda db: datastores.init_sql_query(db.app, db.init_sql or "")), parent=self),
                           store.put(app, PASSWORD_KEY, databases[app].apply(lambda db: db.password), parent=self))
                     for app in init_apps}
        init_role = task_execution_role(f"{name}-init", [a for pair in init_arns.values() for a in pair],
                                        log_group, parent=self) if init_apps else None
        network = (self._network.private_subnet_ids, provisioner.id)
        runs = {}
        for app, sql_arn in sql_arns.items():
            # What the task reads, so a changed script (whose secret keeps its ARN) runs again.
            admin_digest = scripts[app].apply(digest)
            admin = self._one_off(f"{app}-postgres-provision", f"provision-{app}", instance, role, log_group, network, {
                "command": ["sh", "-c", 'printf "%s\\n" "$PROVISION_SQL" | psql -X -q'],
                "environment": {"PGUSER": MASTER_USER, "PGDATABASE": "postgres"},
                "secrets": {"PROVISION_SQL": sql_arn, "PGPASSWORD": master_arn}},
                cluster, [sql_arn, admin_digest], [instance])
            runs[app] = [admin]
            if app in init_arns and init_role is not None:  # the role exists when any app has init SQL
                init_sql_arn, password_arn = init_arns[app]
                user = datastores.db_name(app)
                runs[app].append(self._one_off(
                    f"{app}-postgres-init", f"init-{app}", instance, init_role, log_group, network, {
                        "command": ["sh", "-c", datastores.RUN_INIT_SQL],
                        "environment": {"PGUSER": user, "PGDATABASE": user},
                        "secrets": {"INIT_SQL": init_sql_arn, "PGPASSWORD": password_arn}},
                    cluster, [init_sql_arn, password_arn, admin_digest,
                              databases[app].apply(lambda db: digest(datastores.init_sql_stdin(db)))], [admin]))
        return runs

    def _one_off(self, name: str, family: str, instance: aws.rds.Instance, role: aws.iam.Role,
                 log_group: aws.cloudwatch.LogGroup, network: tuple[pulumi.Output[list[str]], pulumi.Output[str]],
                 run: dict[str, Any], cluster: aws.ecs.Cluster, triggers: list[pulumi.Input[str]],
                 after: list[pulumi.Resource]) -> command.local.Command:
        """A task definition of one psql container and the command that runs it to completion.

        The container: the pinned Postgres image as its `postgres` user, read-only root, no
        capabilities, libpq's PG* variables (TLS required) and `run`'s command, variables and secrets.
        """
        container = pulumi.Output.json_dumps([{
            "name": "provision", "image": self._shared.used_postgres().image, "essential": True,
            "command": run["command"],
            "environment": instance.address.apply(lambda host: [{"name": k, "value": v} for k, v in {
                "PGHOST": host, **run["environment"], "PGSSLMODE": "require"}.items()]),
            "secrets": [{"name": k, "valueFrom": v} for k, v in run["secrets"].items()],
            "readonlyRootFilesystem": True, "user": "postgres",
            "linuxParameters": {"capabilities": {"drop": ["ALL"]}},
            "logConfiguration": awslogs(log_group, family),
        }])
        task = aws.ecs.TaskDefinition(name, family=f"berth-{self._stack}-{family}", network_mode="awsvpc",
                                      requires_compatibilities=["FARGATE"], cpu="256", memory="512",
                                      execution_role_arn=role.arn, container_definitions=container,
                                      opts=pulumi.ResourceOptions(parent=self))
        subnets, group = network
        script = pulumi.Output.all(cluster.name, task.arn, subnets, group).apply(
            lambda a: run_task_script(OneOffTask(cluster=a[0], task_definition=a[1], container="provision",
                                                 subnets=tuple(a[2]), security_groups=(a[3],))))
        return command.local.Command(name, create=script, interpreter=["/bin/bash", "-c"],
                                     triggers=[*triggers, task.arn], logging=command.local.Logging.STDERR,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=after))

    def _redis(self, app: App) -> None:
        network, settings = self._network, self._settings
        resilient = self._policy.resilient
        child = pulumi.ResourceOptions(parent=self)
        mode = required(app.redis, f"apps/{app.name}.yaml: redis (App validation)").mode
        group = aws.ec2.SecurityGroup(f"{app.name}-redis", vpc_id=network.vpc_id, opts=child,
                                      description=f"berth {app.name} Redis: only from its services that use it")
        self._ingress(f"{app.name}-redis", group, REDIS_PORT, [app])
        subnets = aws.elasticache.SubnetGroup(f"{app.name}-redis", subnet_ids=network.private_subnet_ids, opts=child)
        parameters = aws.elasticache.ParameterGroup(f"{app.name}-redis", family=REDIS_FAMILY, parameters=[
            {"name": "maxmemory-policy", "value": "allkeys-lru" if mode == "cache" else "noeviction"}], opts=child)
        token = generated_password(f"{app.name}-redis-token", self)
        keeps_data = mode == "store"
        replicas = 2 if resilient else 1
        cluster = aws.elasticache.ReplicationGroup(
            f"{app.name}-redis", description=f"berth {self._stack} {app.name} ({mode})",
            engine="redis", engine_version=REDIS_ENGINE_VERSION, node_type=settings.cache.node_type,
            num_cache_clusters=replicas, automatic_failover_enabled=replicas > 1, multi_az_enabled=replicas > 1,
            port=REDIS_PORT, subnet_group_name=subnets.name, security_group_ids=[group.id],
            parameter_group_name=parameters.name, transit_encryption_enabled=True, at_rest_encryption_enabled=True,
            auth_token=token, snapshot_retention_limit=settings.cache.snapshot_retention_days if keeps_data else 0,
            final_snapshot_identifier=f"berth-{self._stack}-{app.name}-redis-final" if self._policy.keeps_data and keeps_data else None,
            apply_immediately=not resilient,
            opts=pulumi.ResourceOptions(parent=self, **kept_in_prod(self._policy)) if keeps_data else child)
        self.apps[app.name].sources["redis"] = (pulumi.Output.all(token, cluster.primary_endpoint_address),
                                               elasticache_url)
        self.apps[app.name].ready.append(cluster)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def awslogs(log_group: aws.cloudwatch.LogGroup, prefix: str) -> dict[str, Any]:
    return {"logDriver": "awslogs", "options": {
        "awslogs-group": log_group.name, "awslogs-region": aws.get_region_output().region,
        "awslogs-stream-prefix": prefix}}


def task_execution_role(name: str, secret_arns: Sequence[pulumi.Input[str]] | None,
                        log_group: aws.cloudwatch.LogGroup, parent: pulumi.Resource,
                        repositories: Sequence[str] = ()) -> aws.iam.Role:
    """What ECS itself needs to start a task: its secrets (only these), its logs, its images (this
    own ECR repositories, each named: a prefix with a wildcard would also cover another app whose name
    starts with this one's, `chat` and `chat-bot`); nothing else."""
    region = aws.get_region_output().region
    account = aws.get_caller_identity_output().account_id
    role = aws.iam.Role(name, assume_role_policy=assumed_by("ecs-tasks.amazonaws.com"),
        description="berth: starts the tasks of this app (pull, logs, secrets)", opts=pulumi.ResourceOptions(parent=parent))
    statements = [
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": pulumi.Output.concat(log_group.arn, ":*")},
    ]
    if secret_arns:
        statements.append({"Sid": "OwnSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                           "Resource": secret_arns})
    if repositories:
        statements += [
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Sid": "OwnImages", "Effect": "Allow",
             "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
             "Resource": [pulumi.Output.concat("arn:aws:ecr:", region, ":", account, ":repository/", name)
                          for name in repositories]},
        ]
    aws.iam.RolePolicy(name, role=role.name, policy=pulumi.Output.json_dumps(
        {"Version": "2012-10-17", "Statement": statements}), opts=pulumi.ResourceOptions(parent=parent))
    return role
