"""ECS lifecycle hook: before production traffic moves, call the new tasks through the test
listener and check /health and /predict against the committed OpenAPI contract (status, content
type, body shape). Any mismatch or timeout answers FAILED, and ECS rolls the deployment back.

Standard library only, so the function ships as this directory with no build step; the schema
check covers exactly the keywords the contract uses (a test keeps it so).
Response format: ECS Developer Guide, "Lambda hooks for Amazon ECS service deployments"
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/lambda-lifecycle-hooks.html).
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path

CONTRACT = json.loads((Path(__file__).parent / "openapi.json").read_text())
# (path, expected status): the two endpoints a client relies on, each with its success answer.
CHECKS = (("/health", "200"), ("/predict", "200"))


class Mismatch(Exception):
    """The answer differs from the contract: one line saying where."""


def handler(event: dict, context: object = None) -> dict:
    host = os.environ["TEST_HOST"]
    port = int(os.environ.get("TEST_PORT", "80"))
    timeout = float(os.environ.get("CHECK_TIMEOUT_SECONDS", "5"))
    address = _address(host)
    problems = []
    for path, status in CHECKS:
        try:
            check(address, port, host, path, status, timeout)
        except (Mismatch, OSError) as error:  # OSError: refused, reset, timed out
            problems.append(f"{path}: {error or type(error).__name__}")
    target = event.get("targetServiceRevisionArn", "the new revision")
    if problems:
        print(json.dumps({"hookStatus": "FAILED", "target": target, "problems": problems}))
        return {"hookStatus": "FAILED"}
    print(json.dumps({"hookStatus": "SUCCEEDED", "target": target}))
    return {"hookStatus": "SUCCEEDED"}


def check(address: str, port: int, host: str, path: str, status: str, timeout: float) -> None:
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": f"{host}:{port}"})
        response = connection.getresponse()
        body = response.read()
    except TimeoutError:
        raise Mismatch(f"no answer within {timeout:g} s") from None
    finally:
        connection.close()
    if str(response.status) != status:
        raise Mismatch(f"status {response.status}, the contract expects {status}")
    answer = CONTRACT["paths"][path]["get"]["responses"][status]["content"]
    media_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
    if media_type not in answer:
        raise Mismatch(
            f"content type {media_type or 'none'}, the contract says {', '.join(answer)}"
        )
    try:
        document = json.loads(body)
    except ValueError:
        raise Mismatch("the body is not JSON") from None
    conform(document, answer[media_type]["schema"], "body")


def conform(value: object, schema: dict, where: str) -> None:
    """The contract's schema keywords: $ref, type, required, properties, additionalProperties,
    minimum, maximum, items."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return conform(value, CONTRACT["components"]["schemas"][name], where)
    kinds = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float)}
    expected = schema.get("type")
    if expected and (not isinstance(value, kinds[expected]) or isinstance(value, bool)):
        raise Mismatch(f"{where} is {type(value).__name__}, the contract says {expected}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                raise Mismatch(f"{where} lacks {key!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                conform(item, properties[key], f"{where}.{key}")
            elif extra is False:
                raise Mismatch(f"{where} has {key!r}, which the contract does not allow")
            elif isinstance(extra, dict):
                conform(item, extra, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            conform(item, schema["items"], f"{where}[{index}]")
    if isinstance(value, (int, float)):
        if "minimum" in schema and value < schema["minimum"]:
            raise Mismatch(f"{where} = {value}, below the contract's minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise Mismatch(f"{where} = {value}, above the contract's maximum {schema['maximum']}")
    return None


def _address(host: str) -> str:
    """Where to connect. The load balancer is internet-facing: its name resolves to public
    addresses, which a function in the VPC reaches only through the NAT (so from the NAT's public
    address, which the test port does not admit). Its private addresses keep the call inside the
    VPC; they are the load balancer's network interfaces ("ELB app/NAME/ID")."""
    name = os.environ.get("LOAD_BALANCER_NAME", "")
    if not name:
        return host
    import boto3  # in the Lambda runtime; only this lookup needs it

    found = boto3.client("ec2").describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [f"ELB {name}"]}]
    )["NetworkInterfaces"]
    addresses = sorted(i["PrivateIpAddress"] for i in found if i.get("PrivateIpAddress"))
    return addresses[0] if addresses else host
