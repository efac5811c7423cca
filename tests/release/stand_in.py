"""The stand-ins the release tests share: the root stack in moto (one template with the contract's
parameter and output names and real ECR/ECS resources; moto 5.2 handles single templates well,
nested stacks badly), what moto cannot do itself, and a podman whose push lands in moto's ECR."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import boto3

STACK = "predict-api"
REPO_ROOT = Path(__file__).resolve().parents[2]
BASH = shutil.which("bash") or "/bin/bash"
OLD_TAG = "a" * 40
NEW_TAG = "b" * 40
ARTIFACTS_BUCKET = "predict-artifacts-123456789012"  # differs from the Default: proves reuse

STAND_IN_TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Description: stand-in for cloudformation/root.yaml (contract names only)
Parameters:
  ImageTag: {Type: String, Default: '', AllowedPattern: '^([0-9a-f]{7,40})?$'}
  ArtifactsBucketName: {Type: String, Default: default-bucket}
  HealthUrl: {Type: String, Default: 'http://127.0.0.1:9'}
  CpuArchitecture: {Type: String, Default: X86_64, AllowedValues: [X86_64, ARM64]}
Resources:
  Repository:
    Type: AWS::ECR::Repository
    Properties: {RepositoryName: predict-api}
  Cluster:
    Type: AWS::ECS::Cluster
    Properties: {ClusterName: predict-api}
  TaskDefinition:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: predict-api
      ContainerDefinitions:
        - Name: app
          Image: !Join [':', [!GetAtt Repository.RepositoryUri, !Ref ImageTag]]
          Memory: 512
  Service:
    Type: AWS::ECS::Service
    Properties:
      Cluster: !Ref Cluster
      ServiceName: predict-api
      TaskDefinition: !Ref TaskDefinition
      DesiredCount: 2
Outputs:
  RepositoryUri: {Value: !GetAtt Repository.RepositoryUri}
  RepositoryName: {Value: !Ref Repository}
  ClusterName: {Value: !Ref Cluster}
  ServiceName: {Value: !GetAtt Service.Name}
  ServiceUrl: {Value: !Ref HealthUrl}
  ArtifactsBucketName: {Value: !Ref ArtifactsBucketName}
"""


def put_image(tag: str, repository: str = "predict-api") -> None:
    """What a `docker push` leaves in ECR, as far as the deployer can see."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + tag[:8] * 8,
        },
        "layers": [],
    }
    boto3.client("ecr").put_image(
        repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag
    )


def use_enhanced_scanning(frequency: str = "SCAN_ON_PUSH") -> None:
    """What turning on Inspector for the registry does to ECR's scanning configuration."""
    boto3.client("ecr").put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[
            {
                "scanFrequency": frequency,
                "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}],
            }
        ],
    )


def play_cloudformation_for_ecs(session: boto3.session.Session) -> list[str]:
    """moto's stack update changes parameters but not the resources using them,
    and its update_service leaves the PRIMARY deployment on the old task definition. So when the
    deployer executes the change set, do what CloudFormation would: register a task definition
    with the new image and roll the service to it (delete + create gives a fresh PRIMARY)."""
    calls: list[str] = []

    def after_execute(**_kwargs):
        cfn, ecs = session.client("cloudformation"), session.client("ecs")
        found = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in found["Outputs"]}
        tag = {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}["ImageTag"]
        image = f"{outputs['RepositoryUri']}:{tag}"
        arn = ecs.register_task_definition(
            family="predict-api",
            containerDefinitions=[{"name": "app", "image": image, "memory": 512}],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.delete_service(cluster="predict-api", service="predict-api", force=True)
        ecs.create_service(
            cluster="predict-api", serviceName="predict-api", taskDefinition=arn, desiredCount=2
        )
        calls.append(image)

    session.events.register("after-call.cloudformation.ExecuteChangeSet", after_execute)
    return calls


def fill_outputs_moto_leaves_null(session: boto3.session.Session, outputs: dict[str, str]) -> None:
    """A stack that moto created through a change set (`aws cloudformation deploy`) has null
    Outputs (moto 5.2): give DescribeStacks the stand-in's outputs, as CloudFormation would."""

    def after_describe(parsed, **_kwargs):
        for found in parsed.get("Stacks") or []:
            if not found.get("Outputs"):
                found["Outputs"] = [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]

    session.events.register("after-call.cloudformation.DescribeStacks", after_describe)


FAKE_PODMAN = """#!{bash}
# Stands in for podman: logs its arguments; a push lands the tag in moto's ECR.
PUT_IMAGE='import sys; from tests.release.stand_in import put_image; put_image(sys.argv[1][-40:])'
printf '%s\\n' "$*" >> "{log}"
case $1 in
  login) read -r password; printf '%s' "$password" > "{log}.stdin" ;;
  push) PYTHONPATH="{root}" "{python}" -c "$PUT_IMAGE" "$2" ;;
  image) printf '%s\n' "${{FAKE_REVISION:-}}" ;;  # image inspect: the revision label
esac
"""


def add_fake_podman(bin_dir: Path, log: Path) -> None:
    script = bin_dir / "podman"
    script.write_text(FAKE_PODMAN.format(bash=BASH, log=log, root=REPO_ROOT, python=sys.executable))
    script.chmod(0o755)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("release: error: ")
    return lines[0].removeprefix("release: error: ")
