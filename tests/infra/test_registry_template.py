"""registry.yaml: an ECR repository that is immutable, scanned, encrypted and pruned."""

from __future__ import annotations

import json

import pytest

from .conftest import refused_for, render


def repository(stack):
    return stack["Resources"]["Repository"]["Properties"]


def test_repository_is_immutable_scanned_and_encrypted():
    repo = repository(render("registry.yaml"))
    assert repo["ImageTagMutability"] == "IMMUTABLE"
    assert repo["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repo["EncryptionConfiguration"]["EncryptionType"] in {"KMS", "AES256"}


@pytest.mark.parametrize(("params", "kept"), [({}, 20), ({"ImagesToKeep": 5}, 5)])
def test_lifecycle_expires_untagged_first_then_keeps_the_last_n(params, kept):
    policy = json.loads(
        repository(render("registry.yaml", params))["LifecyclePolicy"]["LifecyclePolicyText"]
    )
    untagged, any_tag = sorted(policy["rules"], key=lambda r: r["rulePriority"])
    assert untagged["selection"]["tagStatus"] == "untagged"
    assert untagged["action"] == {"type": "expire"}
    # ECR requires the tagStatus "any" rule to have the lowest priority (highest number).
    assert any_tag["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": kept,
    }


def test_the_repository_and_its_images_outlive_the_stack():
    # Deleting a repository that holds images fails; these are the rollback targets: keep them.
    resource = render("registry.yaml")["Resources"]["Repository"]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert "RepositoryName" not in resource["Properties"]  # a new stack never collides with it
    assert "EmptyOnDelete" not in resource["Properties"]


def test_outputs_what_the_root_and_the_deploy_role_need():
    assert set(render("registry.yaml")["Outputs"]) == {
        "RepositoryName",
        "RepositoryArn",
        "RepositoryUri",
    }


@pytest.mark.parametrize("bad", ["0", "1001"])
def test_registry_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=refused_for({"ImagesToKeep": bad})):
        render("registry.yaml", {"ImagesToKeep": bad})
