"""The served OpenAPI document: valid OpenAPI 3, generated from the schemas, both endpoints."""

import copy
import json
import os
import subprocess

import pytest
from openapi_spec_validator import validate

from predict_service import create_app
from predict_service.middleware import MAX_BODY_BYTES
from predict_service.schemas import PredictionSchema
from tests.helpers import REPO_ROOT
from tests.service.contract import contract_problems, operations, refused_changes


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


_operations = operations


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
UPDATE_COMMAND = "make openapi"


def _render(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _released_problems(served: dict) -> list[str]:
    problems = contract_problems(REPO_ROOT, served)
    if problems is None:
        reason = "no released contract in git (no v* tag, no merge base with main: shallow clone?)"
        if os.environ.get("REQUIRE_ALL_CHECKS") == "1":
            pytest.fail(f"{reason}; REQUIRE_ALL_CHECKS=1 forbids skipping", pytrace=False)
        pytest.skip(reason)
    return problems


def test_committed_contract_is_what_the_app_serves(client):
    served = _document(client)
    committed = json.loads(CONTRACT.read_text())
    if os.environ.get("OPENAPI_UPDATE") == "1" and served != committed:
        problems = _released_problems(served)
        assert not problems, "not written: " + "; ".join(problems)
        CONTRACT.write_text(_render(served))
        return
    assert served == committed, f"docs/openapi.json is out of date: {UPDATE_COMMAND}, then review"


def test_no_breaking_change_against_the_released_contract(client):
    """Against git's copy at the last release, not the working copy (which may be rewritten)."""
    problems = _released_problems(_document(client))
    assert not problems, "; ".join(problems)


# --- The released-contract check on a throwaway repository: it can fail ---


def _git(repo, *args):
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True)


@pytest.fixture
def branch_repo(tmp_path, client):
    """A repository whose main released the app's contract at 0.1.0, on a branch "change"."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = predict-service\nversion = 0.1.0\n")
    (tmp_path / "docs" / "openapi.json").write_text(_render(_document(client)))
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "release 0.1.0")
    _git(tmp_path, "checkout", "-q", "-b", "change")
    return tmp_path


def _rename_predict_by_hand(repo) -> dict:
    """The operation renamed; docs/openapi.json rewritten to match by hand, not by make openapi."""
    path = repo / "docs" / "openapi.json"
    document = json.loads(path.read_text())
    _predict_op(document)["operationId"] = "get_score"
    path.write_text(_render(document))
    _git(repo, "commit", "-q", "-am", "rename predict to get_score")
    return document  # what the renamed app serves: equal to the rewritten file


def test_a_hand_rewritten_breaking_contract_is_refused_on_a_branch(branch_repo):
    served = _rename_predict_by_hand(branch_repo)
    working_copy = json.loads((branch_repo / "docs" / "openapi.json").read_text())
    assert refused_changes(working_copy, served) == []  # the working copy cannot tell
    problems = contract_problems(branch_repo, served)
    assert problems, "the released contract must refuse the rename"
    assert any("operationId changed" in p and "main at the merge base" in p for p in problems)


def test_the_unchanged_contract_passes_on_a_branch(branch_repo, client):
    assert contract_problems(branch_repo, _document(client)) == []


def test_a_breaking_change_passes_once_the_major_version_moves(branch_repo):
    cfg = branch_repo / "setup.cfg"
    cfg.write_text(cfg.read_text().replace("version = 0.1.0", "version = 1.0.0"))
    served = _rename_predict_by_hand(branch_repo)
    assert contract_problems(branch_repo, served) == []


def test_a_release_tag_is_a_released_contract_too(branch_repo, client):
    """On main itself the merge base is HEAD: the newest v* tag still holds the last release."""
    _git(branch_repo, "tag", "v0.1.0", "main")
    _git(branch_repo, "checkout", "-q", "main")
    served = _rename_predict_by_hand(branch_repo)
    problems = contract_problems(branch_repo, served)
    assert any("release tag v0.1.0" in p and "operationId changed" in p for p in problems)


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
    new["info"]["version"] = f"{int(old['info']['version'].split('.')[0]) + 1}.0.0"
    assert refused_changes(old, new) == []


@pytest.mark.parametrize("name", sorted(COMPATIBLE))
def test_compatible_change_passes(client, name):
    old = _document(client)
    assert refused_changes(old, _edit(old, COMPATIBLE[name])) == []
