"""Images berth builds: built once per version where `pulumi up` runs, pushed to this stack's ECR.

- A build on staging/prod (and every build on ECS): built by the engine running `pulumi up` (never on
  the small host), pushed to this stack's ECR repository as `<version>` (immutable tags). A version
  already in the repository is never rebuilt: rolling back to it just pulls it again.
- How one host gets each service's image onto it (pulls, dev builds): components/single_host/images.py.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components.common import required
from components.options import kept_in_prod
from config import conventions
from config.app import Build, Service
from config.deployment import StackApp


def build_args(app: StackApp, svc: Service) -> docker.DockerBuildArgs:
    """How to build the service's image; build args get this stack's `${url}`/`${hostname}`, so
    public env a frontend bakes in at build time (`NEXT_PUBLIC_*`) names this stack's address."""
    build, source = built_from(svc)
    context = (app.project_dir / source).resolve()
    return docker.DockerBuildArgs(
        context=str(context),
        dockerfile=str(context / build.dockerfile) if build.dockerfile else None,
        target=build.target,
        args={k: app.substitute(v) for k, v in build.args.items()} or None,
        platform=app.build_platform(svc),
    )


def built_from(svc: Service) -> tuple[Build, str]:
    """A built service's build and its source directory: config/checks.py (check_images) refuses a service
    with neither image nor build, and a build without `context`."""
    build = required(svc.build, "a service's image or build (check_images)")
    return build, required(build.context, "a build's context (check_images)")


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


def ecr_reference(name: str, app: StackApp, builder: Builder, svc_name: str, svc: Service,
                  parent: pulumi.Resource) -> pulumi.Output[str]:
    """This stack's ECR repository for the service, holding `version` (built and pushed only when it is
    not there yet); returns `<repository>@<digest>`, the reference hosts and ECS tasks pull."""
    ecr = app.ecr
    repository_name = conventions.ecr_repository(app.stack, app.name, svc_name)
    repo = aws.ecr.Repository(
        name, name=repository_name,
        image_tag_mutability="IMMUTABLE", image_scanning_configuration={"scan_on_push": True},
        encryption_configurations=[{"encryption_type": "AES256"}],
        force_delete=not app.policy.keeps_data,  # staging: destroy removes the repository with its images
        opts=pulumi.ResourceOptions(parent=parent, **kept_in_prod(app.policy)),
    )
    aws.ecr.LifecyclePolicy(name, repository=repo.name, policy=pulumi.Output.json_dumps({"rules": [{
        "rulePriority": 1, "description": f"keep the last {ecr.keep_images} images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": ecr.keep_images},
        "action": {"type": "expire"},
    }]}), opts=pulumi.ResourceOptions(parent=parent))

    version = svc.pushed_version()
    pushed = builder.pushed_digest(repository_name, version)
    if pushed is None:
        pulumi.log.info(f"{app.name}/{svc_name}: version {version} is not in ECR yet; it is built from "
                        f"{built_from(svc)[1]} (check out {version} there) and pushed", resource=parent)
        return pulumi.Output.concat(repo.repository_url, "@",
                                    _build_and_push(name, app, builder, svc, repo, parent))
    return pulumi.Output.concat(repo.repository_url, "@", pushed)


def _build_and_push(name: str, app: StackApp, builder: Builder, svc: Service,
                    repo: aws.ecr.Repository, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Build with the local engine, push as `<repo>:<version>`; returns the pushed manifest digest."""
    token = aws.ecr.get_authorization_token_output(registry_id=repo.registry_id)
    image = docker.Image(
        name, image_name=pulumi.Output.concat(repo.repository_url, ":", svc.pushed_version()),
        build=build_args(app, svc),
        # A short-lived token, on this resource only (kept as a secret); no provider holds a password.
        registry=docker.RegistryArgs(server=repo.repository_url, username=token.user_name,
                                     password=pulumi.Output.secret(token.password)),
        # Once pushed, the version is found in ECR and this resource leaves the program. Deleting a
        # docker.Image removes nothing from the registry (pulumi/pulumi-docker#588): the image stays.
        opts=pulumi.ResourceOptions(parent=parent, provider=builder.provider(parent)),
    )
    return image.repo_digest.apply(lambda ref: ref.split("@", 1)[1])
