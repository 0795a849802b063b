"""Where each service's image comes from, resolved to the exact reference its containers run.

- A pinned reference (`postgres:17.6-alpine`): pulled by the host's Docker provider and kept on the
  host, so rolling back to it never waits for a pull.
- A build on dev: built by the local engine from the context directory.
- A build on staging/prod: built where `pulumi up` runs (never on the small host), pushed to this
  stack's ECR repository as `<version>`, and pulled on the host with its instance role (the ECR
  credential helper; no registry password in provider config, which state keeps unencrypted,
  pulumi/pulumi-docker#643). Containers run the pushed digest, so a new push rolls exactly the
  services whose image changed.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components.host import DockerHost
from spec.app import App, Service
from spec.load import Deployment


class Builder:
    """The Docker engine where `pulumi up` runs: images are built here, then pushed."""

    def __init__(self):
        self._provider: docker.Provider | None = None

    def provider(self, parent: pulumi.Resource) -> docker.Provider:
        if self._provider is None:
            # No host: the engine of the machine running `pulumi up` (DOCKER_HOST or the local socket).
            self._provider = docker.Provider("builder", opts=pulumi.ResourceOptions(parent=parent))
        return self._provider


def pinned_image(name: str, ref: str, host: DockerHost, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Pull a pinned reference onto the host (and keep it there); returns the local image id."""
    pulled = docker.RemoteImage(
        name, name=ref, keep_locally=True, platform="linux/amd64",
        opts=pulumi.ResourceOptions(parent=parent, provider=host.provider, depends_on=list(host.ready)),
    )
    return pulled.image_id


def build_args(deployment: Deployment, svc: Service) -> docker.DockerBuildArgs:
    build = svc.build
    context = (deployment.project_dir / build.context).resolve()
    return docker.DockerBuildArgs(
        context=str(context),
        dockerfile=str(context / build.dockerfile) if build.dockerfile else None,
        target=build.target,
        args=dict(build.args) or None,
        platform=build.platform,
    )


class ServiceImage(pulumi.ComponentResource):
    """The image one service runs; `ref` is what its containers are created from."""

    ref: pulumi.Output[str]

    def __init__(self, name: str, deployment: Deployment, host: DockerHost, builder: Builder, app: App,
                 svc_name: str, svc: Service, opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:image:ServiceImage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.pulled: list[pulumi.Resource] = []
        if svc.image is not None:
            self.ref = pinned_image(name, svc.image, host, self)
        elif not deployment.on_ec2:
            built = docker.Image(
                name, image_name=f"berth-dev/{app.name}-{svc_name}:dev", build=build_args(deployment, svc),
                skip_push=True, opts=pulumi.ResourceOptions(parent=self, provider=host.provider),
            )
            self.ref = built.repo_digest  # the local image id: changes exactly when the build changes
        else:
            self.ref = self._build_and_push(name, deployment, host, builder, app, svc_name, svc, child)
        self.register_outputs({"ref": self.ref})

    def _build_and_push(self, name, deployment, host, builder, app, svc_name, svc, child):
        prod = deployment.is_prod
        repo = aws.ecr.Repository(
            name, name=f"berth/{deployment.stack}/{app.name}-{svc_name}",
            image_tag_mutability="IMMUTABLE", image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "AES256"}],
            force_delete=not prod,  # staging: destroy removes the repository with its images
            opts=pulumi.ResourceOptions(parent=self, protect=prod, retain_on_delete=prod),
        )
        aws.ecr.LifecyclePolicy(name, repository=repo.name, policy=pulumi.Output.json_dumps({"rules": [{
            "rulePriority": 1, "description": f"keep the last {deployment.settings.ecr.keep_images} images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                          "countNumber": deployment.settings.ecr.keep_images},
            "action": {"type": "expire"},
        }]}), opts=child)
        token = aws.ecr.get_authorization_token_output(registry_id=repo.registry_id)
        image = docker.Image(
            name, image_name=pulumi.Output.concat(repo.repository_url, ":", svc.version),
            build=build_args(deployment, svc),
            registry=docker.RegistryArgs(server=repo.repository_url, username=token.user_name,
                                         password=pulumi.Output.secret(token.password)),
            opts=pulumi.ResourceOptions(parent=self, provider=builder.provider(self)),
        )
        pull = host.run(f"{name}-pull", image.repo_digest.apply(lambda ref: f"docker pull --quiet {ref}"),
                        triggers=[image.repo_digest], parent=self)
        self.pulled = [pull]
        return pulumi.Output.all(image.repo_digest, pull.id).apply(lambda a: a[0])
