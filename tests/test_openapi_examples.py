"""Issue 12, "the API documents too little": every request body in the OpenAPI document (the core
and every installed plugin) carries an example, every example is valid (against the document's
schema and against the route's own pydantic model), and the core's examples are accepted by the
routes themselves. The token route lists the scopes on offer."""
from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from pydantic import BaseModel

from helpers import problem
from musicconnect.routescopes import api_routes
from musicconnect.testing import make_user

#: the placeholder tier id of the core's examples (any id of yours goes there)
EXAMPLE_TIER = "0b9f6c2e-4d1a-4e7b-9a53-2f8c1d7e6a40"


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def examples_of(doc: dict, media: dict) -> list:
    """Every example a client (or Swagger UI) finds for one request body: the media type's
    ``example``/``examples``, the schema's ``examples``, or one built from property examples
    when every required property has one."""
    found = []
    if "example" in media:
        found.append(media["example"])
    found += [e["value"] for e in media.get("examples", {}).values() if "value" in e]
    schema = _resolve(doc, media.get("schema", {}))
    found += list(schema.get("examples", []))
    if "example" in schema:
        found.append(schema["example"])
    props = schema.get("properties", {})
    with_examples = {name: p["examples"][0] for name, p in props.items() if p.get("examples")}
    if not found and with_examples and set(schema.get("required", ())) <= set(with_examples):
        found.append(with_examples)
    return found


def request_bodies(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for media_type, media in op.get("requestBody", {}).get("content", {}).items():
                yield path, method, media_type, media


def body_models(app) -> dict[tuple[str, str], type[BaseModel]]:
    """(path, method) -> the pydantic model FastAPI validates a route's JSON body with."""
    out = {}
    for route in api_routes(app):  # as mounted: prefixes applied
        body = route.original_route.body_field
        model = body.field_info.annotation if body is not None else None
        if isinstance(model, type) and issubclass(model, BaseModel):
            for method in route.methods:
                out[(route.path, method.lower())] = model
    return out


@pytest.fixture
def document(mc_client):
    r = mc_client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def test_every_request_body_has_a_valid_example(mc_app, mc_platform, document):
    assert all(mc_platform.plugins.is_enabled(p) for p in ("streaming", "billing", "fanclub"))
    assert {"/api/v1/streaming/plays", "/api/v1/billing/checkout", "/api/v1/fanclub/artists/{artist_id}/posts"} <= set(
        document["paths"])  # the bundled plugins are in the document
    models = body_models(mc_app)
    missing, invalid, checked = [], [], 0
    for path, method, media_type, media in request_bodies(document):
        found = examples_of(document, media)
        if not found:
            missing.append(f"{method.upper()} {path} ({media_type})")
            continue
        # against the document's own schema (its $refs resolved through the components)
        schema = {**media["schema"], "components": document["components"]}
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        model = models.get((path, method)) if media_type == "application/json" else None
        for example in found:
            checked += 1
            errors = [e.message for e in validator.iter_errors(example)]
            if errors:
                invalid.append(f"{method.upper()} {path}: {example!r} -> {errors[:3]}")
            if model is not None:  # and against the route's pydantic model, as the route reads JSON
                try:
                    model.model_validate_json(json.dumps(example))
                except Exception as exc:  # noqa: BLE001 - collect every invalid example
                    invalid.append(f"{method.upper()} {path}: {example!r} -> {model.__name__}: {exc}")
    assert not missing, "request bodies without an example:\n" + "\n".join(missing)
    assert not invalid, "\n".join(invalid)
    assert checked >= 35, checked
    assert len({m for m in models.values()}) >= 25  # the JSON bodies were checked against their models too


def test_the_data_of_content_examples_is_valid_for_its_kind(mc_platform, document):
    """A content item's `data` is checked by its kind's own model: the examples of the content
    routes and of each kind's data model pass it (a post's text goes inside `data`)."""
    kinds = mc_platform.content.kinds()
    assert "post" in kinds
    for name in ("ContentIn", "ContentPatch"):
        for example in document["components"]["schemas"][name]["examples"]:
            kind = example.get("kind", "post")
            kinds[kind][1].data_model.model_validate(example["data"])
            assert "body" not in example  # the text is never at the top level
    data = document["components"]["schemas"]["ContentIn"]["properties"]["data"]["description"]
    assert '"data": {"body": ' in data and "`post` (fanclub): data takes `body`" in data
    post_model = kinds["post"][1].data_model
    assert post_model.model_json_schema()["examples"]
    for example in post_model.model_json_schema()["examples"]:
        post_model.model_validate(example)
    assert "inside `data`" in post_model.model_json_schema()["properties"]["body"]["description"]


def test_descriptions_say_what_a_client_would_guess_wrong(document):
    schemas = document["components"]["schemas"]
    assert "email (not a user id)" in schemas["CompIn"]["properties"]["email"]["description"]
    assert schemas["CompIn"]["examples"][0]["email"].endswith("@demo.com")
    checkout = schemas["CheckoutOut"]["description"]
    assert "{url}/pay" in checkout and "Accept: application/json" in checkout
    report = schemas["PlayReport"]["properties"]["client_id"]
    assert report.get("deprecated") is True and "session id" in report["description"]


def test_the_token_route_lists_the_scopes_on_offer(mc_client, mc_users, document):
    scopes = mc_client.get("/api/v1/scopes").json()
    prop = document["components"]["schemas"]["ApiTokenIn"]["properties"]["scopes"]
    assert prop["items"]["enum"] == sorted(scopes)
    assert {"content:read", "billing:write", "fanclub:write", "messages:write"} <= set(prop["items"]["enum"])
    for name, what in scopes.items():  # what each allows, in the description
        assert f"`{name}`: {what}" in prop["description"]
    # an unknown scope is a 422 that names the known ones
    r = problem(mc_client.post("/api/v1/me/tokens", headers=mc_users.fan.headers,
                               json={"name": "x", "scopes": ["content:read", "tracks:read"]}), 422, "unknown-scope")
    assert r["unknown"] == ["tracks:read"] and r["known"] == sorted(scopes)
    assert "content:read" in r["detail"] and "fanclub:read" in r["detail"]


def _with_ids(example, ids: dict[str, str]):
    text = json.dumps(example)
    for placeholder, real in ids.items():
        text = text.replace(placeholder, real)
    return json.loads(text)


def test_the_core_examples_are_accepted_by_their_routes(mc_client, mc_platform, mc_users, document):
    """Posted as they stand (ids swapped for real ones): each answers a success."""
    schemas = document["components"]["schemas"]
    ex = {name: copy.deepcopy(schemas[name]["examples"]) for name in
          ("RegisterIn", "ApiTokenIn", "TierIn", "TierPatch", "CompIn", "ContentIn", "ContentPatch", "ArtistPatch",
           "MePatch", "TakeDownIn")}
    for body in ex["RegisterIn"]:
        r = mc_client.post("/api/v1/auth/register", json=body)
        assert r.status_code == 201, r.text
    fan, artist = mc_users.fan.headers, mc_users.artist.headers
    aid = str(mc_users.artist.artist_id)
    r = mc_client.post("/api/v1/me/tokens", headers=fan, json=ex["ApiTokenIn"][0])
    assert r.status_code == 201, r.text
    r = mc_client.patch("/api/v1/me", headers=fan, json=ex["MePatch"][0])
    assert r.status_code == 200 and r.json()["display_name"] == ex["MePatch"][0]["display_name"]
    assert mc_client.patch(f"/api/v1/artists/{aid}", headers=artist, json=ex["ArtistPatch"][0]).status_code == 200
    # a tier with the perks the example names (each one a perk some bundled plugin honours)
    r = mc_client.post(f"/api/v1/artists/{aid}/tiers", headers=artist, json=ex["TierIn"][0])
    assert r.status_code == 201, r.text
    tier = r.json()["id"]
    r = mc_client.patch(f"/api/v1/artists/{aid}/tiers/{tier}", headers=artist, json=ex["TierPatch"][0])
    assert r.status_code == 200 and r.json()["perks"]["direct_messages"] == 10, r.text
    # a comp names the fan by email: the example's address is an account here
    make_user(mc_platform, "fan", email=ex["CompIn"][0]["email"])
    r = mc_client.post(f"/api/v1/artists/{aid}/comps", headers=artist, json=_with_ids(ex["CompIn"][0], {EXAMPLE_TIER: tier}))
    assert r.status_code == 201, r.text
    made = []
    for body in ex["ContentIn"]:
        r = mc_client.post(f"/api/v1/artists/{aid}/content", headers=artist, json=_with_ids(body, {EXAMPLE_TIER: tier}))
        assert r.status_code == 201, r.text
        assert r.json()["data"]["body"] == body["data"]["body"]
        made.append(r.json()["id"])
    r = mc_client.patch(f"/api/v1/content/{made[0]}", headers=artist, json=ex["ContentPatch"][0])
    assert r.status_code == 200 and r.json()["data"]["body"] == ex["ContentPatch"][0]["data"]["body"], r.text
    # the mistake the examples are there to prevent: the text at the top level is refused
    problem(mc_client.post(f"/api/v1/artists/{aid}/content", headers=artist,
                           json={"kind": "post", "title": "t", "body": "at the top level"}), 422)
    r = mc_client.post(f"/api/v1/content/{made[1]}/take-down", headers=mc_users.admin.headers, json=ex["TakeDownIn"][0])
    assert r.status_code in (200, 204), r.text


def test_an_example_is_found_wherever_a_schema_puts_it():
    """The walker above must not pass a body without an example (a test that cannot fail is a defect)."""
    doc = {"components": {"schemas": {"A": {"type": "object", "required": ["x"],
                                            "properties": {"x": {"type": "string", "examples": ["1"]},
                                                           "y": {"type": "string"}}},
                                      "B": {"type": "object", "required": ["x", "y"],
                                            "properties": {"x": {"type": "string", "examples": ["1"]},
                                                           "y": {"type": "string"}}},
                                      "C": {"type": "object", "examples": [{"z": 1}]}}}}
    assert examples_of(doc, {"schema": {"$ref": "#/components/schemas/A"}}) == [{"x": "1"}]
    assert examples_of(doc, {"schema": {"$ref": "#/components/schemas/B"}}) == []  # y has none
    assert examples_of(doc, {"schema": {"$ref": "#/components/schemas/C"}}) == [{"z": 1}]
    assert examples_of(doc, {"schema": {"type": "object"}, "example": {"q": 2}}) == [{"q": 2}]
    assert examples_of(doc, {"schema": {"type": "object"}}) == []
