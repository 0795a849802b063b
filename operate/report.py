"""What `scripts/status` reports, whichever backend it read: each service as found against what the
stack file asks for, and every problem. operate/status.py (one host) and operate/ecs_status.py (ECS)
both fill it in."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

ECS_WHERE = "ECS cluster"  # how an ECS stack's report says where it looked (operate/ecs_status.py)


@dataclass
class ServiceReport:
    service: str
    app: str | None
    replicas: int
    intended: str  # the image reference the stack asks for
    version: str
    containers: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    tasks: dict | None = None  # ECS: the service's tasks and targets instead of containers


@dataclass
class Report:
    stack: str
    where: str
    services: list[ServiceReport]
    routes: list[dict]
    host: dict
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"stack": self.stack, "where": self.where, "ok": self.ok, "problems": self.problems,
                "services": [asdict(s) for s in self.services], "routes": self.routes, "host": self.host}
