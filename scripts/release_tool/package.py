"""`aws cloudformation package`: uploads the nested templates (and any local code paths) to the
artifacts bucket and rewrites the root's local paths to their S3 URLs. The AWS CLI's own command,
not a hand-written uploader: it knows every property that can point at a local file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from release_tool.errors import ExitCode, ReleaseError
from release_tool.workspace import TEMPLATES_DIR

ROOT_TEMPLATE = TEMPLATES_DIR / "root.yaml"


def aws_cli() -> str:
    beside = Path(sys.executable).parent / "aws"  # the venv's AWS CLI (bootstrap.sh dev)
    found = str(beside) if beside.exists() else shutil.which("aws")
    if not found:
        raise ReleaseError(
            ExitCode.PREREQUISITE,
            "the AWS CLI is missing: run 'bash scripts/bootstrap.sh dev' (it installs it into "
            ".venv)",
        )
    return found


def package(region: str, bucket: str, prefix: str, out_dir: Path) -> Path:
    """Package root.yaml into out_dir/cloudformation/root.yaml. The CLI's upload progress
    (carriage-return percentages) is kept aside and shown only when packaging fails."""
    packaged = out_dir / "cloudformation" / "root.yaml"
    packaged.parent.mkdir(parents=True, exist_ok=True)
    # package zips a Lambda's code directory as it finds it: from a copy without bytecode, so the
    # hook ships its source only (a test run's __pycache__ would otherwise ride along into the
    # function). The copy is temporary: out_dir may be a folder the user keeps other things in.
    with tempfile.TemporaryDirectory(prefix="predict-api-package-") as scratch:
        source = Path(scratch) / "cloudformation"
        shutil.copytree(
            ROOT_TEMPLATE.parent, source, ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]")
        )
        _same_times_and_modes(source)
        argv = [aws_cli(), "--region", region, "cloudformation", "package"]
        argv += ["--template-file", str(source / ROOT_TEMPLATE.name)]
        argv += ["--s3-bucket", bucket, "--s3-prefix", prefix]
        argv += ["--output-template-file", str(packaged)]
        # TZ: a zip stores local times; in UTC the zip is the same on every machine.
        env = {**os.environ, "AWS_DEFAULT_REGION": region, "TZ": "UTC"}
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).replace("\r", "\n").splitlines()
        last = [line for line in lines if line.strip() and not line.startswith("Uploading to")]
        # Name the user's folder, not the temporary copy the CLI saw (gone by now).
        last = [line.replace(str(source), str(ROOT_TEMPLATE.parent)) for line in last]
        raise ReleaseError(
            ExitCode.ERROR,
            f"aws cloudformation package failed (exit {result.returncode})",
            details=last[-5:],
        )
    return packaged


def _same_times_and_modes(folder: Path) -> None:
    """A zip stores each file's time and mode, and package names the hook's zip by its hash: the
    times a clone checks files out with would make a new zip, and a function update, from every
    clone (every CI run) of unchanged code. Fixed ones keep the name until the code changes."""
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
            os.utime(path, (_FIXED_TIME, _FIXED_TIME))


_FIXED_TIME = 946_684_800  # 2000-01-01T00:00:00Z: any time after zip's 1980 epoch will do


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub...) read as plain values."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _template(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_TemplateLoader) or {}  # noqa: S506


def template_parameters(path: Path) -> set[str]:
    return set(_template(path).get("Parameters") or {})


def parameter_patterns(path: Path) -> dict[str, str]:
    """NAME -> AllowedPattern: the template is the one home of what a value may look like."""
    parameters = _template(path).get("Parameters") or {}
    return {name: p["AllowedPattern"] for name, p in parameters.items() if "AllowedPattern" in p}


def supported_regions(path: Path | None = None) -> list[str]:
    """Mappings.SupportedRegions of the root template (default ROOT_TEMPLATE): the one list of
    the regions the stack can run in; elsewhere its FindInMap stops the deploy half way."""
    mappings = _template(path or ROOT_TEMPLATE).get("Mappings") or {}
    return sorted(mappings.get("SupportedRegions") or {})
