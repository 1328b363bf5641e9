"""The example plugin's own tests, through the HTTP API with the core's fixtures
(musicconnect.testing). Run from the example's folder (`python -m pytest`) or in the repository's
suite."""
from __future__ import annotations

import typer
from typer.testing import CliRunner


def greet(client, artist, fan, message="love the new single"):
    return client.post(f"/api/v1/hello/artists/{artist.artist_id}/greetings", headers=fan.headers,
                       json={"message": message})


def test_only_the_core_and_hello_are_loaded(mc_platform):
    assert [r.name for r in mc_platform.plugins] == ["core", "hello"]


def test_greetings_are_left_listed_and_capped_by_the_setting(mc_client, mc_users):
    artist, fan = mc_users.artist, mc_users.fan
    r = greet(mc_client, artist, fan)
    assert r.status_code == 201 and r.json()["message"] == "Hello! love the new single"
    listed = mc_client.get(f"/api/v1/hello/artists/{artist.artist_id}/greetings").json()  # public route
    assert [g["message"] for g in listed] == ["love the new single"] and listed[0]["user_id"] == str(fan.id)
    r = greet(mc_client, artist, fan, "x" * 281)  # max_length defaults to 280
    assert r.status_code == 422 and r.json()["type"] == "/problems/greeting-too-long"
    assert mc_client.post(f"/api/v1/hello/artists/{artist.artist_id}/greetings",
                          json={"message": "hi"}).status_code == 401  # the route's scope needs a signed-in caller


def test_the_preview_rule_opens_a_tier_note_to_signed_in_users(mc_client, mc_users):
    artist = mc_users.artist
    tier = mc_client.post(f"/api/v1/artists/{artist.artist_id}/tiers", headers=artist.headers,
                          json={"key": "hello-members", "name": "Members", "rank": 7, "price_amount": 900}).json()

    def note(preview: bool) -> str:
        r = mc_client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                           json={"kind": "hello_note", "title": "Liner notes", "visibility": "tier", "required_tier_id": tier["id"],
                                 "data": {"text": "track by track", "hello_preview": preview}})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    open_note, closed_note = note(True), note(False)
    assert mc_client.get(f"/api/v1/content/{open_note}", headers=mc_users.fan.headers).status_code == 200
    assert mc_client.get(f"/api/v1/content/{open_note}").status_code == 401  # anonymous: the rule needs a user
    assert mc_client.get(f"/api/v1/content/{closed_note}", headers=mc_users.fan.headers).status_code == 403
    r = mc_client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                       json={"kind": "hello_note", "title": "x", "data": {"colour": "red"}})
    assert r.status_code == 422  # the kind's data model refuses unknown fields


def test_metric_job_and_command_count_greetings(mc_client, mc_users, mc_platform):
    artist = mc_users.artist
    for who in (mc_users.fan, mc_users.make()):
        assert greet(mc_client, artist, who).status_code == 201
    r = mc_client.get(f"/api/v1/artists/{artist.artist_id}/metrics", params={"metric": "hello_greetings_30d"},
                      headers=artist.headers)
    assert r.status_code == 200
    [metric] = r.json()["metrics"]
    assert (metric["id"], metric["plugin"], metric["value"]) == ("hello_greetings_30d", "hello", 2)

    job = mc_client.post(f"/api/v1/hello/artists/{artist.artist_id}/recount", headers=artist.headers)
    assert job.status_code == 202
    mc_platform.jobs.wait_idle(30)
    state = mc_client.get(f"/api/v1/jobs/{job.json()['job_id']}", headers=artist.headers).json()
    assert state["state"] == "succeeded" and state["result"] == {"greetings": 2}
    assert mc_client.post(f"/api/v1/hello/artists/{artist.artist_id}/recount",
                          headers=mc_users.fan.headers).status_code == 403  # only the artist or an admin

    [(name, app)] = mc_platform.plugins.collect("register_commands", platform=mc_platform)
    cli = typer.Typer()
    cli.add_typer(app, name=name)  # what `musicconnect` does with every plugin's commands
    out = CliRunner().invoke(cli, ["hello", "stats"])
    assert out.exit_code == 0 and out.output.strip() == "2 greetings", out.output
