"""An object-store outage answers 503 ``storage-unavailable`` with Retry-After (what the drill's
object-store fault found: an upload during the outage answered 500 ``internal``, as if it were a
bug); a refusal such as AccessDenied stays a 500."""
from __future__ import annotations

import types

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from fastapi import APIRouter, Depends
from helpers import problem
from starlette.testclient import TestClient

from musicconnect import hookimpl
from musicconnect.app import create_app
from musicconnect.web import public


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "drill"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "PutObject")


def _wrapped(inner: Exception) -> Exception:
    """As boto3's upload_file raises it: S3UploadFailedError from the ClientError."""
    from boto3.exceptions import S3UploadFailedError

    try:
        try:
            raise inner
        except Exception as exc:
            raise S3UploadFailedError(f"Failed to upload: {exc}") from exc
    except S3UploadFailedError as outer:
        return outer


@pytest.fixture
def client(mc_make_platform):
    router = APIRouter()
    faults = {"busy": lambda: _client_error("ServiceUnavailable", 503),
              "slowdown": lambda: _wrapped(_client_error("SlowDown", 503)),
              "unreachable": lambda: EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
              "denied": lambda: _client_error("AccessDenied", 403)}

    @router.post("/{fault}", dependencies=[Depends(public)])
    def store(fault: str):
        raise faults[fault]()

    mod = types.SimpleNamespace(register_routes=hookimpl(lambda platform: router))
    p = mc_make_platform(extra_plugins=[("drillstore", mod)], entry_points=False)
    with TestClient(create_app(p), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("fault", ["busy", "slowdown", "unreachable"])
def test_an_object_store_outage_is_a_retryable_503(client, fault):
    r = client.post(f"/api/v1/drillstore/{fault}")
    body = problem(r, 503, "storage-unavailable")
    assert r.headers["retry-after"] == "5" and body["retry_after"] == 5


def test_a_refusal_by_the_object_store_stays_a_500(client):
    problem(client.post("/api/v1/drillstore/denied"), 500, "internal")
