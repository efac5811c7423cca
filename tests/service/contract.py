"""The API contract's rules: what counts as a breaking change, and which contract was released.

The released contract is docs/openapi.json as git holds it at the newest release tag (v*) and at
the merge base with main: a breaking change written into the working copy's file by hand on a branch
is still measured against what clients were given. Written here rather than taken from a tool:
PyPI's OpenAPI diff packages are young single-author releases, and oasdiff needs a Go toolchain.
"""

from __future__ import annotations

import configparser
import json
import subprocess
from pathlib import Path

CONTRACT = "docs/openapi.json"
MAIN_BRANCHES = ("main", "origin/main")


def _git(repo: Path, *args: str) -> str | None:
    """git's output, or None where git cannot answer (no repository, no such ref, no history)."""
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def released_contracts(repo: Path) -> dict[str, dict]:
    """Where the contract was last given out -> the document there: the newest v* tag and the
    merge base of HEAD with main (on main itself, HEAD: the last commit's contract)."""
    found = {}
    tags = _git(repo, "tag", "--list", "v[0-9]*", "--sort=-v:refname")
    if tags:
        found[f"release tag {tags.splitlines()[0]}"] = tags.splitlines()[0]
    for branch in MAIN_BRANCHES:
        base = _git(repo, "merge-base", "HEAD", branch)
        if base:
            found[f"{branch} at the merge base {base[:12]}"] = base
            break
    documents = {}
    for label, commit in found.items():
        text = _git(repo, "show", f"{commit}:{CONTRACT}")
        if text:  # a commit from before the contract existed promised nothing
            documents[label] = json.loads(text)
    return documents


def package_version(repo: Path) -> str:
    """The version setup.cfg gives the package (the served document's info.version)."""
    config = configparser.ConfigParser()
    config.read(repo / "setup.cfg")
    return config["metadata"]["version"]


def refused_changes(old: dict, new: dict, new_version: str | None = None) -> list[str]:
    """The breaking changes from old to new, unless new's major version moved past old's."""
    if _major(new_version or new["info"]["version"]) > _major(old["info"]["version"]):
        return []
    return [f"{change} (breaking: move the major version)" for change in breaking_changes(old, new)]


def _major(version: str) -> int:
    return int(version.split(".")[0])


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def _resolve(document: dict, node: dict | None) -> dict:
    """node with its $ref (a local "#/..." pointer) followed."""
    node = node or {}
    while "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def breaking_changes(old: dict, new: dict) -> list[str]:
    """What a client written against old would trip over in new."""
    found = []
    for path, method, old_op in operations(old):
        where = f"{method.upper()} {path}"
        new_op = new["paths"].get(path, {}).get(method)
        if new_op is None:
            found.append(f"{where} removed")
            continue
        if new_op.get("operationId") != old_op.get("operationId"):
            found.append(f"{where}: operationId changed (generated clients name methods by it)")
        known = {_parameter_key(old, p) for p in old_op.get("parameters", [])}
        for parameter in new_op.get("parameters", []):
            key = _parameter_key(new, parameter)
            if _resolve(new, parameter).get("required") and key not in known:
                found.append(f"{where}: new required parameter {key}")
        for status, old_response in old_op["responses"].items():
            new_response = _resolve(new, new_op["responses"].get(status))
            if not new_response:
                if status.startswith("2"):
                    found.append(f"{where}: response {status} removed")
                continue
            for mimetype, old_media in _resolve(old, old_response).get("content", {}).items():
                new_media = new_response.get("content", {}).get(mimetype)
                if new_media is None:
                    found.append(f"{where} {status}: {mimetype} no longer answered")
                    continue
                found += _schema_breaks(
                    old, old_media.get("schema"), new, new_media.get("schema"), f"{where} {status}"
                )
    return found


def _parameter_key(document: dict, parameter: dict) -> tuple[str, str]:
    parameter = _resolve(document, parameter)
    return parameter["in"], parameter["name"]


def _schema_breaks(old_doc: dict, old: dict, new_doc: dict, new: dict, where: str) -> list[str]:
    """What a client that trusts old (a response schema) would trip over in new."""
    old, new = _resolve(old_doc, old), _resolve(new_doc, new)
    if old.get("type") != new.get("type"):
        return [f"{where}: type {old.get('type')} became {new.get('type')}"]
    found = []
    for bound, looser in (("minimum", float.__lt__), ("maximum", float.__gt__)):
        if bound in old and (bound not in new or looser(float(new[bound]), float(old[bound]))):
            found.append(f"{where}: {bound} {old[bound]} loosened to {new.get(bound)}")
    if "enum" in old and not set(new.get("enum", ())) <= set(old["enum"]):
        found.append(f"{where}: new values beyond the enum {old['enum']}")
    for name in sorted(set(old.get("required", ())) - set(new.get("required", ()))):
        found.append(f"{where}: {name} is no longer always present")
    new_properties = new.get("properties", {})
    for name, old_property in old.get("properties", {}).items():
        if name not in new_properties:
            found.append(f"{where}: property {name} removed")
        else:
            found += _schema_breaks(
                old_doc, old_property, new_doc, new_properties[name], f"{where} .{name}"
            )
    return found


def contract_problems(repo: Path, served: dict) -> list[str] | None:
    """The breaking changes of served against every released contract (None: none was found)."""
    released = released_contracts(repo)
    if not released:
        return None
    version = package_version(repo)
    return [
        f"against {label}: {problem}"
        for label, old in released.items()
        for problem in refused_changes(old, served, version)
    ]
