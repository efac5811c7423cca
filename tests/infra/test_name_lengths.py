"""The longest stack name the release tool accepts fits every name built from it.

CloudFormation allows 128 characters in a stack name; `scripts/release.sh infra` also deploys
`<stack>-bootstrap`, so a root stack name has at most 118. Every template is rendered with a
118-character root stack name (a nested stack's own AWS::StackName at CloudFormation's 128), and
every string property built from it must meet its resource's limit as cfn-lint's bundled resource
schemas state it: maxLength and pattern, or the "up to N characters" of the property's description
where the schema gives no bound of its own (SNS DisplayName, ECS ServiceName)."""

from __future__ import annotations

import re

import pytest
import regex
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from .conftest import (
    REGION,
    delivery_params,
    edge_params,
    load,
    monitoring_params,
    oidc_params,
    refused_for,
    render,
    root_params,
    service_params,
)

LIMIT = 118  # 128 (CloudFormation) - len("-bootstrap")
LONG = ("predict-api-" + "x" * LIMIT)[:LIMIT]
NESTED = f"{LONG}-Service-ABCDEFGH"[:128]  # a nested stack's generated name, at most 128 too
assert len(LONG) == LIMIT and len(NESTED) == 128

# (template, parameters, AWS::StackName) with every resource that carries a name present.
RENDERS = {
    "root": ("root.yaml", root_params(ImageTag="a" * 40), LONG),
    "network": ("network.yaml", {}, NESTED),
    "registry": ("registry.yaml", {}, NESTED),
    "github-oidc": ("github-oidc.yaml", oidc_params(RootStackName=LONG), NESTED),
    "edge": ("edge.yaml", edge_params(RootStackName=LONG), NESTED),
    "service": (
        "service.yaml",
        service_params(
            RootStackName=LONG,
            DeploymentStrategy="CANARY",
            ManualApproval="true",
            AlarmEmail="ops@example.com",
        ),
        NESTED,
    ),
    "delivery": ("delivery.yaml", delivery_params(RootStackName=LONG), NESTED),
    "monitoring": (
        "monitoring.yaml",
        monitoring_params(
            RootStackName=LONG,
            ClusterName=LONG,
            ServiceName=LONG,
            LogGroupName=f"/ecs/{LONG}",
            WebAclName=f"{LONG}-edge",
        ),
        NESTED,
    ),
    "bootstrap": ("bootstrap.yaml", {"BucketName": "predict-api-artifacts-1"}, LONG),
}
# The phrases the schemas' descriptions state a length in, where maxLength is missing.
STATED_LIMIT = re.compile(
    r"(?:up to|maximum(?: of)?|at most|between 1 and)\s+(\d+)\s+(?:letters|characters)", re.I
)


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _child(schema: dict, node: dict, key) -> dict:
    """The schema of node's member `key` (a property name or a list index)."""
    node = _resolve(schema, node)
    if isinstance(key, int):
        return _resolve(schema, node.get("items", {}))
    if key in node.get("properties", {}):
        return _resolve(schema, node["properties"][key])
    for pattern, sub in node.get("patternProperties", {}).items():
        if regex.search(pattern, key):
            return _resolve(schema, sub)
    return {}


def _limits(node: dict) -> tuple[int | None, str | None]:
    """(length limit, pattern) of a string property: maxLength, else the description's."""
    stated = [int(n) for n in STATED_LIMIT.findall(node.get("description", ""))]
    return node.get("maxLength", min(stated, default=None)), node.get("pattern")


def names_built_from_the_stack(stack: dict) -> list[tuple[str, str, int, int | None, str | None]]:
    """(resource.path, value, length, limit, pattern) of every string that holds the stack name."""
    found = []
    for logical_id, resource in stack["Resources"].items():
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, resource["Type"]).schema
        todo = [((logical_id,), resource.get("Properties", {}), schema)]
        while todo:
            path, value, node = todo.pop()
            if isinstance(value, dict):
                todo += [((*path, k), v, _child(schema, node, k)) for k, v in value.items()]
            elif isinstance(value, list):
                todo += [((*path, i), v, _child(schema, node, i)) for i, v in enumerate(value)]
            elif isinstance(value, str) and LONG in value:
                limit, pattern = _limits(node)
                found.append((".".join(map(str, path)), value, len(value), limit, pattern))
    return found


@pytest.mark.parametrize("variant", sorted(RENDERS))
def test_every_name_built_from_the_longest_stack_name_fits_its_resource(variant):
    name, params, stack_name = RENDERS[variant]
    stack = render(name, params, stack_name=stack_name)
    built = names_built_from_the_stack(stack)
    too_long = [(where, length, limit) for where, _, length, limit, _ in built
                if limit is not None and length > limit]  # fmt: skip
    off_pattern = [(where, value) for where, value, _, _, pattern in built
                   if pattern and not regex.search(pattern, value)]  # fmt: skip
    assert too_long == []
    assert off_pattern == []


def test_the_check_sees_the_names_that_have_a_limit():
    """It can fail: the names with the tightest limits are among what it measures."""
    measured = {
        (variant, where): limit
        for variant, (name, params, stack_name) in RENDERS.items()
        for where, _, _, limit, _ in names_built_from_the_stack(
            render(name, params, stack_name=stack_name)
        )
    }
    assert measured[("edge", "WebAcl.Name")] is None  # bounded by its pattern, {1,128}
    assert measured[("service", "LogGroup.LogGroupName")] == 512
    assert measured[("monitoring", "CpuHighAlarm.AlarmName")] == 255
    assert measured[("service", "Service.ServiceName")] == 255  # stated in its description
    assert measured[("github-oidc", "DeployRole.Path")] == 512


TAKES_ROOT_STACK_NAME = sorted(
    variant for variant, (name, _, _) in RENDERS.items()
    if "RootStackName" in load(name).get("Parameters", {})
)  # fmt: skip


@pytest.mark.parametrize("variant", TAKES_ROOT_STACK_NAME)
def test_every_template_refuses_a_root_stack_name_one_character_longer(variant):
    name, params, stack_name = RENDERS[variant]
    render(name, params, stack_name=stack_name)  # 118: accepted
    longer = {"RootStackName": LONG + "x"}
    with pytest.raises(ValueError, match=refused_for(longer)):
        render(name, {**params, **longer}, stack_name=stack_name)
