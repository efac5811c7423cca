"""A first infrastructure deploy on an account that has never used ECS: the stand-in
(fresh_account_moto.py) fails CreateCluster while the ECS service-linked role is missing, as
aws-cloudformation/cloudformation-coverage-roadmap#818 reports; the deploy creates the role
first."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from cfnlint.decode import cfn_yaml
from release_tool import cli, package
from release_tool.errors import ExitCode

from tests.release.stand_in import REPO_ROOT


@pytest.fixture
def cluster_root(tmp_path, monkeypatch):
    """root.yaml's parameters and mappings (the supported regions) over one ECS cluster (moto
    cannot run the nested stacks)."""
    root = cfn_yaml.load(str(REPO_ROOT / "cloudformation/root.yaml"))
    path = tmp_path / "root.json"
    path.write_text(
        json.dumps(
            {
                "Parameters": root["Parameters"],
                "Mappings": root["Mappings"],
                "Resources": {
                    "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "p"}}
                },
            }
        )
    )
    monkeypatch.setattr(package, "ROOT_TEMPLATE", path)
    return path


def test_the_stand_in_refuses_a_cluster_before_the_role_exists(fresh_account):
    with pytest.raises(ClientError, match="Unable to assume the service linked role"):
        boto3.client("ecs").create_cluster(clusterName="p")


@pytest.mark.slow
def test_a_first_deploy_on_a_fresh_account_creates_the_role_then_the_cluster(
    fresh_account, cluster_root, tmp_path, capsys
):
    params = tmp_path / "parameters.json"
    params.write_text(json.dumps({"GitHubRepository": "my-org/predict-api"}))
    code = cli.main(["infra", "--parameters", str(params)])
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    assert "created the ECS service-linked role" in out
    assert (
        boto3.client("ecs").describe_clusters(clusters=["p"])["clusters"][0]["status"] == "ACTIVE"
    )
    # Run again: the role is there (moto names it differently from AWS; "already exists" or
    # found, either way no error) and nothing else breaks.
    assert cli.main(["infra", "--parameters", str(params), "--dry-run"]) == ExitCode.OK
