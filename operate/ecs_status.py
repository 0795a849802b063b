"""`scripts/status` for an ECS stack: each service's tasks and its load balancer targets, from the
ECS and Elastic Load Balancing APIs (the operator's own AWS credentials, the stack's `aws:region`).

The cluster is the one tagged `berth:stack=<stack>` (components/ecs/cluster.py); its services carry
`berth:app` and are named `<app>-<service>-<suffix>` (Pulumi's auto-naming of `<app>-<service>`).
Judged, as on one host: a service missing; fewer running tasks than desired, or a desired count the
stack file does not ask for (between `replicas` and `maxReplicas` when it scales); a deployment that
failed; unhealthy targets, with the load balancer's reason.
"""

from __future__ import annotations

from typing import Any

from config.deployment import Deployment
from config.edge_routes import needs_edge
from operate.reach import ReachError
from operate.report import ECS_WHERE, Report, ServiceReport


def wanted_services(deployment: Deployment) -> dict[str, tuple[str, int, int]]:
    """`<app>-<service>` -> (app, fewest, most tasks) the stack file asks for; `edge` is the app's proxy."""
    out = {}
    for app in deployment.apps.values():
        for name, svc in app.services.items():
            if svc.kind == "server":
                out[f"{app.name}-{name}"] = (app.name, svc.replicas, svc.max_replicas or svc.replicas)
        if needs_edge(app):
            out[f"{app.name}-edge"] = (app.name, 1, 1)
    return out


def logical_name(service: dict) -> str:
    """Pulumi's auto-name less its random suffix: `chatbot-backend-1a2b3c4` -> `chatbot-backend`."""
    return service["serviceName"].rsplit("-", 1)[0]


def judge(key: str, app: str, fewest: int, most: int, service: dict | None, targets: list[dict]) -> ServiceReport:
    report = ServiceReport(key, app, fewest, "ECS task definition", f"{fewest}-{most}" if most > fewest else str(fewest))
    if service is None:
        report.problems.append("no ECS service: not deployed (pulumi up creates it)")
        return report
    desired, running = service["desiredCount"], service["runningCount"]
    primary: dict = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), {})
    unhealthy = [t for t in targets if t["TargetHealth"]["State"] not in ("healthy", "initial", "draining")]
    report.tasks = {"service": service["serviceName"], "desired": desired, "running": running,
                    "pending": service.get("pendingCount", 0), "rollout": primary.get("rolloutState"),
                    "targets": {"healthy": sum(t["TargetHealth"]["State"] == "healthy" for t in targets),
                                "unhealthy": len(unhealthy)}}
    if running < desired:
        report.problems.append(f"{running} of {desired} tasks running ({service.get('pendingCount', 0)} pending)")
    if not fewest <= desired <= most:
        report.problems.append(f"{desired} tasks desired; the stack file asks for {report.version}")
    if primary.get("rolloutState") == "FAILED":
        report.problems.append(f"its last deployment failed: {primary.get('rolloutStateReason')}")
    for t in unhealthy:
        health = t["TargetHealth"]
        report.problems.append(f"target {t['Target']['Id']}:{t['Target'].get('Port')} is {health['State']}: "
                               f"{health.get('Description') or health.get('Reason') or 'no reason given'}")
    return report


def find_cluster(ecs: Any, stack: str) -> str:  # ecs: boto3's client (untyped)
    arns = [a for page in ecs.get_paginator("list_clusters").paginate() for a in page["clusterArns"]]
    for i in range(0, len(arns), 100):
        for cluster in ecs.describe_clusters(clusters=arns[i:i + 100], include=["TAGS"])["clusters"]:
            if {"key": "berth:stack", "value": stack} in cluster.get("tags", []):
                return cluster["clusterArn"]
    raise ReachError(f"no ECS cluster tagged berth:stack={stack} in this account and region: is the stack deployed?")


def status(deployment: Deployment, region: str | None, ecs: Any = None, elb: Any = None) -> Report:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ecs = ecs or boto3.client("ecs", region_name=region)
        elb = elb or boto3.client("elbv2", region_name=region)
        cluster = find_cluster(ecs, deployment.stack)
        arns = [a for page in ecs.get_paginator("list_services").paginate(cluster=cluster) for a in page["serviceArns"]]
        found = {logical_name(s): s for i in range(0, len(arns), 10)
                 for s in ecs.describe_services(cluster=cluster, services=arns[i:i + 10])["services"]}
        targets = {key: [t for lb in s.get("loadBalancers", [])
                         for t in elb.describe_target_health(TargetGroupArn=lb["targetGroupArn"])["TargetHealthDescriptions"]]
                   for key, s in found.items()}
    except (BotoCoreError, ClientError) as err:
        raise ReachError(f"the ECS and load balancer APIs did not answer: {err}") from err
    services = [judge(key, app, fewest, most, found.get(key), targets.get(key, []))
                for key, (app, fewest, most) in wanted_services(deployment).items()]
    problems = [f"{s.service}: {p}" for s in services for p in s.problems]
    return Report(deployment.stack, f"{ECS_WHERE} {cluster.rsplit('/', 1)[-1]}", services, [], {}, problems)
