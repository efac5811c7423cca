"""The served OpenAPI document: valid OpenAPI 3, generated from the schemas, both endpoints."""

import copy
import json
import os

import pytest
from openapi_spec_validator import validate

from predict_service import create_app
from predict_service.middleware import MAX_BODY_BYTES
from predict_service.schemas import PredictionSchema
from tests.conftest import REPO_ROOT


def test_document_is_valid_openapi_3(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)  # raises on any violation of the OpenAPI 3.0 schema
    assert document["openapi"].startswith("3.")


def test_both_endpoints_with_their_error_responses(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert set(paths) == {"/health", "/predict"}
    for path in paths.values():
        responses = path["get"]["responses"]
        assert {"200", "400", "405", "413", "500"} <= set(responses)
        problem = responses["400"]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}


def test_response_schemas_come_from_marshmallow(client):
    document = client.get("/openapi.json").get_json()
    prediction = document["components"]["schemas"]["Prediction"]
    assert set(prediction["properties"]) == set(PredictionSchema().fields)
    assert prediction["properties"]["score"]["minimum"] == 0
    assert prediction["properties"]["score"]["maximum"] == 1
    predict_200 = document["paths"]["/predict"]["get"]["responses"]["200"]
    schema_ref = predict_200["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref == "#/components/schemas/Prediction"


def test_document_has_the_package_version(client):
    from importlib.metadata import version

    info = client.get("/openapi.json").get_json()["info"]
    assert info["version"] == version("predict-service")


# --- Examples: every response has one, and each is what the app really answers ---

REAL_REQUESTS = {  # status -> how to make the app answer it on a path
    "200": lambda client, path: client.get(path),
    "400": lambda client, path: client.get(f"{path}?foo=1"),
    "405": lambda client, path: client.post(path),
    "413": lambda client, path: client.get(path, data=b"x" * (MAX_BODY_BYTES + 1)),
}


def _document(client) -> dict:
    return client.get("/openapi.json").get_json()


def _operations(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_every_operation_has_a_unique_id(client):
    ids = [operation["operationId"] for _, _, operation in _operations(_document(client))]
    assert len(ids) == 2
    assert len(set(ids)) == len(ids)


def test_every_response_has_an_example(client):
    for path, _, operation in _operations(_document(client)):
        for status, response in operation["responses"].items():
            for mimetype, media in response["content"].items():
                assert "example" in media, f"{path} {status} {mimetype}"


@pytest.mark.parametrize("status", sorted(REAL_REQUESTS))
def test_examples_are_what_the_app_answers(client, status):
    for path, _, operation in _operations(_document(client)):
        real = REAL_REQUESTS[status](client, path)
        assert real.status_code == int(status)
        (mimetype, media), *_ = operation["responses"][status]["content"].items()
        assert real.mimetype == mimetype
        body = real.get_json(force=True)
        body.pop("request_id", None)
        media["example"].pop("request_id", None)
        assert body == media["example"]


def test_the_500_example_is_what_an_unhandled_error_answers():
    app = create_app({"TESTING": True, "ACCESS_LOG": False})

    @app.get("/predict-broken")
    def broken():
        raise RuntimeError("boom")

    client = app.test_client()
    example = _document(client)["paths"]["/predict"]["get"]["responses"]["500"]["content"]
    example = example["application/problem+json"]["example"]
    body = client.get("/predict-broken").get_json()
    for key in ("request_id", "instance"):
        body.pop(key), example.pop(key)
    assert body == example


# --- The committed contract: docs/openapi.json is what the app serves ---

CONTRACT = REPO_ROOT / "docs" / "openapi.json"
UPDATE_COMMAND = "OPENAPI_UPDATE=1 .venv/bin/pytest -q tests/service/test_openapi.py"


def _render(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def test_committed_contract_is_what_the_app_serves(client):
    served = _document(client)
    committed = json.loads(CONTRACT.read_text())
    if os.environ.get("OPENAPI_UPDATE") == "1" and served != committed:
        problems = refused_changes(committed, served)
        assert not problems, "not written: " + "; ".join(problems)
        CONTRACT.write_text(_render(served))
        return
    assert served == committed, f"docs/openapi.json is out of date: {UPDATE_COMMAND}, then review"


def test_no_breaking_change_against_the_committed_contract(client):
    problems = refused_changes(json.loads(CONTRACT.read_text()), _document(client))
    assert not problems, "; ".join(problems)


# --- Breaking changes: what a client written against the old document would trip over ---
# Written here rather than taken from a tool: no maintained OpenAPI diff ships on PyPI, and oasdiff
# would need a Go toolchain to build.


def refused_changes(old: dict, new: dict) -> list[str]:
    """The breaking changes from old to new, unless new's major version moved past old's."""
    if _major(new["info"]["version"]) > _major(old["info"]["version"]):
        return []
    return [f"{change} (breaking: move the major version)" for change in breaking_changes(old, new)]


def _major(version: str) -> int:
    return int(version.split(".")[0])


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
    found = []
    for path, method, old_op in _operations(old):
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


# --- The checker refuses what breaks a client, and lets the rest through ---


def _edit(document: dict, change) -> dict:
    document = copy.deepcopy(document)
    change(document)
    return document


def _predict_op(d):
    return d["paths"]["/predict"]["get"]


def _score(d):
    return d["components"]["schemas"]["Prediction"]["properties"]["score"]


BREAKING = {
    "path removed": lambda d: d["paths"].pop("/health"),
    "operation id renamed": lambda d: _predict_op(d).update(operationId="score"),
    "200 removed": lambda d: _predict_op(d)["responses"].pop("200"),
    "field removed": lambda d: d["components"]["schemas"]["Prediction"]["properties"].pop("score"),
    "field made optional": lambda d: d["components"]["schemas"]["Prediction"].pop("required"),
    "type changed": lambda d: _score(d).update(type="string"),
    "range widened": lambda d: _score(d).update(maximum=100),
    "required parameter added": lambda d: _predict_op(d)["parameters"].append(
        {"in": "query", "name": "model", "required": True, "schema": {"type": "string"}}
    ),
    "media type dropped": lambda d: _predict_op(d)["responses"]["400"]["content"].clear(),
}
COMPATIBLE = {
    "path added": lambda d: d["paths"].update(scores=d["paths"]["/predict"]),
    "optional field added": lambda d: d["components"]["schemas"]["Prediction"]["properties"].update(
        model={"type": "string"}
    ),
    "optional parameter added": lambda d: _predict_op(d)["parameters"].append(
        {"in": "query", "name": "model", "schema": {"type": "string"}}
    ),
    "error response added": lambda d: _predict_op(d)["responses"].update(
        {"429": _predict_op(d)["responses"]["500"]}
    ),
    "wording changed": lambda d: _predict_op(d).update(summary="The score"),
}


@pytest.mark.parametrize("name", sorted(BREAKING))
def test_breaking_change_is_refused_unless_the_major_version_moves(client, name):
    old = _document(client)
    new = _edit(old, BREAKING[name])
    assert refused_changes(old, new), name
    new["info"]["version"] = f"{_major(old['info']['version']) + 1}.0.0"
    assert refused_changes(old, new) == []


@pytest.mark.parametrize("name", sorted(COMPATIBLE))
def test_compatible_change_passes(client, name):
    old = _document(client)
    assert refused_changes(old, _edit(old, COMPATIBLE[name])) == []
