"""`aws cloudformation package` of the root against a local S3 (moto_server): the step users run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
from cfnlint.decode import decode_str

from .conftest import CFN_DIR, CHILDREN, load

AWS_CLI = str(Path(sys.executable).parent / "aws")


def test_package_uploads_every_child_and_points_the_root_at_it(aws_env, tmp_path):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="artifacts")
    packaged = tmp_path / "root.yaml"
    subprocess.run(
        [AWS_CLI, "cloudformation", "package", "--template-file", str(CFN_DIR / "root.yaml"),
         "--s3-bucket", "artifacts", "--s3-prefix", "predict-api",
         "--output-template-file", str(packaged)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    template, errors = decode_str(packaged.read_text())
    assert not errors
    source = load("root.yaml")["Resources"]
    for name, resource in source.items():
        if resource["Type"] != "AWS::CloudFormation::Stack":
            continue
        url = template["Resources"][name]["Properties"]["TemplateURL"]
        assert url.startswith(f"{aws_env}/artifacts/predict-api/"), url
        key = url.removeprefix(f"{aws_env}/artifacts/")
        body = s3.get_object(Bucket="artifacts", Key=key)["Body"].read().decode()
        child = resource["Properties"]["TemplateURL"]
        # package re-serialises the child (long-form functions): compare documents, not bytes.
        assert _parsed(body) == load(child), f"{name} -> {child}"
    uploaded = s3.list_objects_v2(Bucket="artifacts", Prefix="predict-api/")["KeyCount"]
    assert uploaded == len(CHILDREN)


def _parsed(text: str) -> dict:
    template, errors = decode_str(text)
    assert not errors, errors
    return json.loads(json.dumps(template))
