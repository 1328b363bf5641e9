"""Which failures are an object-store outage (503 storage-unavailable) and which are bugs (500)."""
from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError
from starlette.testclient import TestClient

from musicconnect.app import create_app
from musicconnect.errors import storage_outage
from musicconnect.storage import StorageError


def _s3_503() -> ClientError:
    return ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")


def _raised(how: str) -> BaseException:
    try:
        try:
            raise _s3_503()
        except ClientError as exc:
            if how == "cause":
                raise RuntimeError("read failed") from exc
            if how == "wrapped":
                raise StorageError("no object 'a/b'") from None  # the storage layer's own wrapper
            if how == "nested-bug":
                try:
                    raise RuntimeError("read failed") from exc
                except RuntimeError:
                    raise TypeError("a bug two levels up")
            raise KeyError("a bug while handling it")
    except Exception as err:  # noqa: BLE001
        return err


@pytest.mark.parametrize("how,outage", [("cause", True), ("wrapped", True), ("bug", False), ("nested-bug", False)])
def test_storage_outage_follows_causes_not_bugs_raised_while_handling(how, outage):
    assert storage_outage(_raised(how)) is outage


def test_http_an_outage_is_503_and_a_bug_is_500_with_its_traceback(mc_make_platform, probe, caplog):
    p = mc_make_platform(extra_plugins=[("obsprobe", probe.plugin)])
    with TestClient(create_app(p), raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        outage = client.get("/api/v1/obsprobe/s3/cause")
        bug = client.get("/api/v1/obsprobe/s3/bug")
    assert outage.status_code == 503 and outage.json()["type"].endswith("/storage-unavailable")
    assert bug.status_code == 500 and bug.json()["type"].endswith("/internal")
    [line] = [r for r in caplog.records if r.getMessage().startswith("unhandled error on GET /api/v1/obsprobe/s3/")]
    assert line.exc_info and line.exc_info[0] is KeyError
