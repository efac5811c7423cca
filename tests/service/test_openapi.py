"""The served OpenAPI document: valid OpenAPI 3, generated from the schemas, both endpoints."""

from openapi_spec_validator import validate

from predict_service.schemas import PredictionSchema


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
