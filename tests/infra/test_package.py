"""`aws cloudformation package` of the root against a local S3 (moto_server): the step users run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
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
    uploaded = _check_packaged(json.loads(json.dumps(template)), "root.yaml", s3, aws_env)
    assert uploaded >= len(CHILDREN)
    assert s3.list_objects_v2(Bucket="artifacts", Prefix="predict-api/")["KeyCount"] == uploaded


def _check_packaged(packaged: dict, name: str, s3, endpoint: str) -> int:
    """`packaged` is template `name` with each nested stack's TemplateURL (at any depth: the
    service stack nests the delivery stack) and each Lambda's local Code directory pointing at
    what package uploaded; everything else equal. Returns how many objects that is."""
    source, uploaded = load(name), 0
    for logical_id, resource in source["Resources"].items():
        props = resource.get("Properties", {})
        done = packaged["Resources"][logical_id].get("Properties", {})
        if resource["Type"] == "AWS::CloudFormation::Stack":
            url = done["TemplateURL"]
            assert url.startswith(f"{endpoint}/artifacts/predict-api/"), url
            key = url.removeprefix(f"{endpoint}/artifacts/")
            body = s3.get_object(Bucket="artifacts", Key=key)["Body"].read().decode()
            # package re-serialises the child (long-form functions): compare documents, not bytes.
            uploaded += 1 + _check_packaged(_parsed(body), props["TemplateURL"], s3, endpoint)
            done["TemplateURL"] = props["TemplateURL"]
        elif resource["Type"] == "AWS::Lambda::Function" and isinstance(props["Code"], str):
            code = done["Code"]
            assert code["S3Bucket"] == "artifacts" and code["S3Key"].startswith("predict-api/")
            archive = s3.get_object(Bucket="artifacts", Key=code["S3Key"])["Body"].read()
            names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
            assert set(os.listdir(CFN_DIR / props["Code"])) <= set(names), names
            uploaded += 1
            done["Code"] = props["Code"]
    assert packaged == source, name
    return uploaded


def _parsed(text: str) -> dict:
    template, errors = decode_str(text)
    assert not errors, errors
    return json.loads(json.dumps(template))
