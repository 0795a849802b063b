"""Where each service's image comes from on one host, resolved to the local image id its containers run.

- A public pinned reference (`postgres:17.6-alpine`): pulled by the host's Docker provider and kept
  on the host (`keep_locally`), so going back to it never waits for a pull.
- A reference in a private ECR registry: the provider could pull it only with a registry password
  in its config, which state keeps unencrypted (pulumi/pulumi-docker#643). The host pulls it
  itself, with its instance role through the ECR credential helper cloud-init set up.
- A build on dev: built by the local engine from the context directory.
- A build on staging/prod: built and pushed to ECR (components/images.py), then pulled by the host
  like the above.

Containers are created from the image id the host reports (`sha256:<config digest>`), never from
a name or a repository digest: the provider reads a container's image back as that id, so anything
else would show a change, and replace the container, on every run (pulumi/pulumi-docker#1431).
The id changes exactly when the image does, so a new version rolls that service's containers only.
"""

from __future__ import annotations

import re
import shlex

import pulumi
import pulumi_docker as docker

from components.images import Builder, build_args, ecr_reference
from components.single_host.host import DockerHost, on_host
from config import conventions
from config.app import Service
from config.deployment import StackApp

PRIVATE_ECR = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")


def is_private_ecr(ref: str) -> bool:
    """A reference in a private ECR registry (`<account>.dkr.ecr.<region>.amazonaws.com/...`)."""
    return PRIVATE_ECR.match(ref) is not None


def pull_script(ref: str, prune_repository: str | None = None, keep: int = 1) -> str:
    """Shell run on the host: pull `ref`, optionally prune older images of its repository, print its id.

    Pruning keeps the image just pulled and the `keep - 1` newest others of `prune_repository`, so
    the last versions stay for an instant rollback. It never forces: Docker refuses to remove an
    image a container (running or stopped) still uses, and such an image simply stays.
    """
    lines = [
        "set -eu",
        f"docker pull --quiet {shlex.quote(ref)} >/dev/null",
        f"id=$(docker image inspect --format '{{{{.Id}}}}' {shlex.quote(ref)})",
    ]
    if prune_repository is not None:
        lines.append(
            f"docker image ls --no-trunc --format '{{{{.ID}}}}' {shlex.quote(prune_repository)}"
            f" | awk -v current=\"$id\" -v others={keep - 1} '$0 != current && !seen[$0]++ && ++kept > others'"
            " | xargs -r docker image rm >/dev/null 2>&1 || true"
        )
    lines.append('echo "$id"')
    return "\n".join(lines) + "\n"


def pull_on_host(name: str, ref: pulumi.Input[str], host: DockerHost, parent: pulumi.Resource,
                 prune_repository: pulumi.Input[str] | None = None, keep: int = 1) -> pulumi.Output[str]:
    """Pull `ref` with the host's own registry credentials; returns the image id it printed.

    The command has no delete step: replacing or removing it never removes the image from the host.
    """
    script = pulumi.Output.all(ref, prune_repository).apply(lambda a: pull_script(a[0], a[1], keep))
    pull = host.run(f"{name}-pull", script, triggers=[ref], parent=parent)
    return pull.stdout.apply(lambda out: out.strip())


def pinned_image(name: str, ref: str, host: DockerHost, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Get a pinned reference onto the host (and keep it there), for the host's platform (a
    multi-architecture reference has one per platform); returns the local image id."""
    if is_private_ecr(ref):
        return pull_on_host(name, ref, host, parent)
    pulled = docker.RemoteImage(
        name, name=ref, keep_locally=True, platform=host.platform,
        opts=on_host(host, parent),
    )
    return pulled.image_id


class ServiceImage(pulumi.ComponentResource):
    """The image one service runs; `ref` (a local image id) is what its containers are created from."""

    ref: pulumi.Output[str]

    def __init__(self, name: str, app: StackApp, host: DockerHost, builder: Builder, svc_name: str, svc: Service,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:image:ServiceImage", name, None, opts)
        if svc.image is not None:
            self.ref = pinned_image(name, svc.image, host, self)
        elif app.builds_locally:
            built = docker.Image(
                name, image_name=conventions.dev_image(app.name, svc_name), build=build_args(app, svc),
                skip_push=True, opts=pulumi.ResourceOptions(parent=self, provider=host.provider),
            )
            self.ref = built.repo_digest  # a local build's image id: changes exactly when the build does
        else:
            self.ref = self._from_ecr(name, app, host, builder, svc_name, svc)
        self.register_outputs({"ref": self.ref})

    def _from_ecr(self, name: str, app: StackApp, host: DockerHost, builder: Builder, svc_name: str,
                  svc: Service) -> pulumi.Output[str]:
        digest_ref = ecr_reference(name, app, builder, svc_name, svc, parent=self)
        repository = digest_ref.apply(lambda ref: ref.split("@", 1)[0])
        return pull_on_host(name, digest_ref, host, self, prune_repository=repository,
                            keep=app.ecr.keep_on_host)
