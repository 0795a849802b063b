"""Where each service's image comes from, resolved to the local image id its containers run.

- A public pinned reference (`postgres:17.6-alpine`): pulled by the host's Docker provider and kept
  on the host (`keep_locally`), so going back to it never waits for a pull.
- A reference in a private ECR registry: the provider could pull it only with a registry password
  in its config, which state keeps unencrypted (pulumi/pulumi-docker#643). The host pulls it
  itself, with its instance role through the ECR credential helper cloud-init set up.
- A build on dev: built by the local engine from the context directory.
- A build on staging/prod: built where `pulumi up` runs (never on the small host), pushed to this
  stack's ECR repository as `<version>` (immutable tags), then pulled by the host like the above.
  A version already in the repository is never rebuilt: rolling back to it just pulls it again.

Containers are created from the image id the host reports (`sha256:<config digest>`), never from
a name or a repository digest: the provider reads a container's image back as that id, so anything
else would show a change, and replace the container, on every run (pulumi/pulumi-docker#1431).
The id changes exactly when the image does, so a new version rolls that service's containers only.
"""

from __future__ import annotations

import re
import shlex

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components.host import DockerHost
from components.options import kept_in_prod, on_host
from config import conventions
from config.app import App, Service
from config.deployment import Deployment

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
    """The image for the host's platform (a multi-architecture reference has one per platform)."""
    """Get a pinned reference onto the host (and keep it there); returns the local image id."""
    if is_private_ecr(ref):
        return pull_on_host(name, ref, host, parent)
    pulled = docker.RemoteImage(
        name, name=ref, keep_locally=True, platform=host.platform,
        opts=on_host(host, parent),
    )
    return pulled.image_id


def build_args(deployment: Deployment, app: App, svc: Service) -> docker.DockerBuildArgs:
    """How to build the service's image; build args get this stack's `${url}`/`${hostname}`, so
    public env a frontend bakes in at build time (`NEXT_PUBLIC_*`) names this stack's address."""
    build = svc.build
    context = (deployment.project_dir / build.context).resolve()
    return docker.DockerBuildArgs(
        context=str(context),
        dockerfile=str(context / build.dockerfile) if build.dockerfile else None,
        target=build.target,
        args={k: deployment.substitute(v, app) for k, v in build.args.items()} or None,
        platform=deployment.build_platform(svc),
    )


class Builder(pulumi.ComponentResource):
    """Where images are built and pushed: the engine running `pulumi up`, and this account's ECR.

    A component of its own, so its provider (declared only when something is built) is the same
    resource, `…Builder$pulumi:providers:docker::builder`, whichever app or service builds first.
    """

    PROVIDER = "builder"

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:image:Builder", name, None, opts)
        self._provider: docker.Provider | None = None
        self._repositories: set[str] | None = None
        self.register_outputs({})

    def provider(self, asker: pulumi.Resource) -> docker.Provider:
        """The builder's Docker provider; `asker` is the first resource that builds (see the alias)."""
        if self._provider is None:
            # No host: the engine of the machine running `pulumi up` (DOCKER_HOST or the local socket).
            # Stacks deployed before the builder was a component have it as a child of the first asker.
            self._provider = docker.Provider(self.PROVIDER, opts=pulumi.ResourceOptions(
                parent=self, aliases=[pulumi.Alias(parent=asker)]))
        return self._provider

    def pushed_digest(self, repository: str, tag: str) -> str | None:
        """The manifest digest `tag` was pushed as, or None when the repository does not hold it.

        Asked before any resource of this run exists, so the answer decides whether a build is
        declared at all (resources must not be created inside `apply`). On the first deploy the
        repository does not exist yet and listing its images would fail, so the region's
        repositories are listed first (once per run).
        """
        if self._repositories is None:
            self._repositories = set(aws.ecr.get_repositories().names or [])
        if repository not in self._repositories:
            return None
        images = aws.ecr.get_images(repository_name=repository).image_ids or []
        return next((i.image_digest for i in images if i.image_tag == tag), None)


class ServiceImage(pulumi.ComponentResource):
    """The image one service runs; `ref` (a local image id) is what its containers are created from."""

    ref: pulumi.Output[str]

    def __init__(self, name: str, deployment: Deployment, host: DockerHost, builder: Builder, app: App,
                 svc_name: str, svc: Service, opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:image:ServiceImage", name, None, opts)
        if svc.image is not None:
            self.ref = pinned_image(name, svc.image, host, self)
        elif not deployment.on_ec2:
            built = docker.Image(
                name, image_name=conventions.dev_image(app.name, svc_name), build=build_args(deployment, app, svc),
                skip_push=True, opts=pulumi.ResourceOptions(parent=self, provider=host.provider),
            )
            self.ref = built.repo_digest  # a local build's image id: changes exactly when the build does
        else:
            self.ref = self._from_ecr(name, deployment, host, builder, app, svc_name, svc)
        self.register_outputs({"ref": self.ref})

    def _from_ecr(self, name: str, deployment: Deployment, host: DockerHost, builder: Builder, app: App,
                  svc_name: str, svc: Service) -> pulumi.Output[str]:
        digest_ref = ecr_reference(name, deployment, builder, app, svc_name, svc, parent=self)
        repository = digest_ref.apply(lambda ref: ref.split("@", 1)[0])
        return pull_on_host(name, digest_ref, host, self, prune_repository=repository,
                            keep=deployment.settings.ecr.keep_on_host)


def ecr_reference(name: str, deployment: Deployment, builder: Builder, app: App, svc_name: str, svc: Service,
                  parent: pulumi.Resource) -> pulumi.Output[str]:
    """This stack's ECR repository for the service, holding `version` (built and pushed only when it is
    not there yet); returns `<repository>@<digest>`, the reference hosts and ECS tasks pull."""
    prod = deployment.is_prod
    ecr = deployment.settings.ecr
    repository_name = conventions.ecr_repository(deployment.stack, app.name, svc_name)
    repo = aws.ecr.Repository(
        name, name=repository_name,
        image_tag_mutability="IMMUTABLE", image_scanning_configuration={"scan_on_push": True},
        encryption_configurations=[{"encryption_type": "AES256"}],
        force_delete=not prod,  # staging: destroy removes the repository with its images
        opts=kept_in_prod(deployment, parent),
    )
    aws.ecr.LifecyclePolicy(name, repository=repo.name, policy=pulumi.Output.json_dumps({"rules": [{
        "rulePriority": 1, "description": f"keep the last {ecr.keep_images} images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": ecr.keep_images},
        "action": {"type": "expire"},
    }]}), opts=pulumi.ResourceOptions(parent=parent))

    pushed = builder.pushed_digest(repository_name, svc.version)
    if pushed is None:
        pulumi.log.info(f"{app.name}/{svc_name}: version {svc.version} is not in ECR yet; it is built from "
                        f"{svc.build.context} (check out {svc.version} there) and pushed", resource=parent)
        pushed = _build_and_push(name, deployment, builder, app, svc, repo, parent)
    return pulumi.Output.concat(repo.repository_url, "@", pushed)


def _build_and_push(name: str, deployment: Deployment, builder: Builder, app: App, svc: Service,
                    repo: aws.ecr.Repository, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Build with the local engine, push as `<repo>:<version>`; returns the pushed manifest digest."""
    token = aws.ecr.get_authorization_token_output(registry_id=repo.registry_id)
    image = docker.Image(
        name, image_name=pulumi.Output.concat(repo.repository_url, ":", svc.version),
        build=build_args(deployment, app, svc),
        # A short-lived token, on this resource only (kept as a secret); no provider holds a password.
        registry=docker.RegistryArgs(server=repo.repository_url, username=token.user_name,
                                     password=pulumi.Output.secret(token.password)),
        # Once pushed, the version is found in ECR and this resource leaves the program. Deleting a
        # docker.Image removes nothing from the registry (pulumi/pulumi-docker#588): the image stays.
        opts=pulumi.ResourceOptions(parent=parent, provider=builder.provider(parent)),
    )
    return image.repo_digest.apply(lambda ref: ref.split("@", 1)[1])
