"""`aws cloudformation package` of the root against a local S3 (moto_server), as `release.sh infra`
runs it: every child and the hook's code uploaded, the root pointed at them."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import boto3
import pytest
from cfnlint.decode import decode_str
from release_tool import cli, package
from release_tool.errors import ExitCode

from .conftest import CFN_DIR, CHILDREN, REPO_ROOT, STACK, load

BUCKET = "predict-api-artifacts-123456789012-us-east-1"  # the bootstrap stack's, in moto's account


def committed_files(directory: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--", str(directory)],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return sorted(str(Path(name).relative_to(directory.relative_to(REPO_ROOT))) for name in listed)


@pytest.fixture
def templates(tmp_path, monkeypatch) -> Path:
    """A copy of cloudformation/ that packaging reads instead: these tests change files in it,
    which in the checkout would race the tests running beside them (make test runs in parallel)."""
    copy = tmp_path / "checkout" / "cloudformation"
    shutil.copytree(CFN_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(package, "ROOT_TEMPLATE", copy / "root.yaml")
    return copy


@pytest.fixture
def stale_bytecode(templates):
    """What a developer's checkout holds after the hook's tests ran: its __pycache__."""
    cache = templates / "hooks" / "contract_check" / "__pycache__"
    cache.mkdir()
    (cache / "app.cpython-314.opt-2.pyc").write_bytes(b"stale")


@pytest.mark.slow
def test_package_uploads_every_child_and_points_the_root_at_it(aws_env, tmp_path, stale_bytecode):
    # The packaging users run (`release.sh infra --package-only`, as taskcat's workflow does).
    out = tmp_path / "out"
    assert cli.main(["infra", "--package-only", str(out)]) == ExitCode.OK
    template, errors = decode_str((out / "cloudformation" / "root.yaml").read_text())
    assert not errors
    s3 = boto3.client("s3")
    uploaded = _check_packaged(json.loads(json.dumps(template)), "root.yaml", s3, aws_env)
    assert uploaded >= len(CHILDREN)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{STACK}/")["KeyCount"] == uploaded


@pytest.mark.slow
def test_package_only_into_a_folder_in_use_writes_its_two_files_and_keeps_the_rest(
    aws_env, tmp_path
):
    """A user may point --package-only at a folder of their own (their home, a build folder):
    packaging adds cloudformation/root.yaml and .taskcat.yml there and deletes nothing."""
    out = tmp_path / "home"
    mine = [out / "source" / "notes.txt", out / "cloudformation" / "mine.yaml", out / "a.txt"]
    for path in mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("keep me")
    assert cli.main(["infra", "--package-only", str(out)]) == ExitCode.OK
    assert [path.read_text() for path in mine] == ["keep me"] * len(mine)
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    expected = {"cloudformation/root.yaml", ".taskcat.yml"}
    assert written == expected | {str(p.relative_to(out)) for p in mine}


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
            assert url.startswith(f"{endpoint}/{BUCKET}/{STACK}/"), url
            key = url.removeprefix(f"{endpoint}/{BUCKET}/")
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
            # package re-serialises the child (long-form functions): compare documents, not bytes.
            uploaded += 1 + _check_packaged(_parsed(body), props["TemplateURL"], s3, endpoint)
            done["TemplateURL"] = props["TemplateURL"]
        elif resource["Type"] == "AWS::Lambda::Function" and isinstance(props["Code"], str):
            code = done["Code"]
            assert code["S3Bucket"] == BUCKET and code["S3Key"].startswith(f"{STACK}/")
            archive = s3.get_object(Bucket=BUCKET, Key=code["S3Key"])["Body"].read()
            names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
            assert sorted(names) == committed_files(CFN_DIR / props["Code"])  # no bytecode
            uploaded += 1
            done["Code"] = props["Code"]
    assert packaged == source, name
    return uploaded


def _parsed(text: str) -> dict:
    template, errors = decode_str(text)
    assert not errors, errors
    return json.loads(json.dumps(template))


@pytest.mark.slow
def test_a_packaging_error_names_the_users_folder_not_the_temporary_copy(
    aws_env, tmp_path, monkeypatch, capsys
):
    templates = tmp_path / "templates"
    templates.mkdir()
    root = templates / "root.yaml"
    root.write_text(
        json.dumps(
            {
                "Mappings": load("root.yaml")["Mappings"],  # the regions it may go to
                "Resources": {
                    "Hook": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {"Code": "hooks/missing", "Handler": "x", "Runtime": "x"},
                    }
                },
            }
        )
    )
    monkeypatch.setattr(package, "ROOT_TEMPLATE", root)
    code = cli.main(["infra", "--package-only", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == ExitCode.ERROR, err
    assert "aws cloudformation package failed" in err
    assert f"does not exist {templates / 'hooks' / 'missing'}" in err, err
    assert "predict-api-package-" not in err, err


@pytest.mark.slow
def test_packaging_unchanged_code_from_another_clone_uploads_the_same_hook_zip(
    aws_env, tmp_path, templates, monkeypatch
):
    """A clone checks files out with its own times and umask, on a machine in its own time zone,
    and package names the hook's zip by its hash: unchanged code must package to the same names,
    or every deploy from a fresh clone (every CI run) would update the function."""
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli.main(["infra", "--package-only", str(first)]) == ExitCode.OK
    monkeypatch.setenv("TZ", "JST-9")  # a POSIX zone: no tzdata needed for it to take effect
    for path in (templates / "hooks").rglob("*"):  # as another clone, an hour later, umask 002
        if path.is_file():
            later = path.stat().st_mtime + 3600
            os.utime(path, (later, later))
            path.chmod(0o664)
    assert cli.main(["infra", "--package-only", str(second)]) == ExitCode.OK
    packaged = [(out / "cloudformation" / "root.yaml").read_text() for out in (first, second)]
    assert packaged[0] == packaged[1]
