"""The analytics API: who may read an artist's analytics, JSON with period, dimension and
definition, CSV export, every metric listed by the core's /artists/{id}/metrics, the CLI."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timezone

from musicconnect.testing import make_user

END = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def base(artist_id):
    return f"/api/v1/analytics/artists/{artist_id}"


def test_only_the_artist_or_an_admin_reads_the_analytics(mc_client, mc_platform, mc_users):
    artist, fan, admin = mc_users.artist, mc_users.fan, mc_users.admin
    url = f"{base(artist.artist_id)}/metrics/analytics_mrr"
    assert mc_client.get(url, headers=artist.headers).status_code == 200
    assert mc_client.get(url, headers=admin.headers).status_code == 200
    r = mc_client.get(url, headers=fan.headers)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/analytics-not-your-artist")
    other = make_user(mc_platform, "artist")
    assert mc_client.get(url, headers=other.headers).status_code == 403
    assert mc_client.get(f"{base(artist.artist_id)}/export.csv", params={"metric": "analytics_mrr"},
                         headers=other.headers).status_code == 403
    assert mc_client.get(url).status_code == 401
    r = mc_client.get(f"{base(uuid.uuid4())}/metrics/analytics_mrr", headers=admin.headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = mc_client.get(f"{base(artist.artist_id)}/metrics/analytics_nope", headers=artist.headers)
    assert r.status_code == 404 and r.json()["type"].endswith("/unknown-metric")
    assert "analytics_mrr" in r.json()["available"]


def test_a_metric_as_json_has_its_period_dimension_and_definition(mc_client, mc_platform, mc_users):
    p, artist = mc_platform, mc_users.artist
    with p.session() as s:
        p.emit(s, "fan.followed", actor_id=mc_users.fan.id, artist_id=artist.artist_id,
               subject=("artist", artist.artist_id), at=END)
    r = mc_client.get(f"{base(artist.artist_id)}/metrics/analytics_followers",
                      params={"days": 2, "end": "2026-06-02T00:00:00Z"}, headers=artist.headers)
    body = r.json()
    assert body["period"] == {"start": "2026-05-31T00:00:00Z", "end": "2026-06-02T00:00:00Z", "days": 2}
    assert body["dimension"] == "day" and "follows minus unfollows" in body["definition"]
    assert body["value"] == [{"day": "2026-05-31", "followers": 0, "follows": 0, "unfollows": 0},
                             {"day": "2026-06-01", "followers": 1, "follows": 1, "unfollows": 0}]
    everything = mc_client.get(f"{base(artist.artist_id)}/metrics", headers=artist.headers).json()
    ids = {m["id"] for m in everything["metrics"]}
    assert {"analytics_mrr", "analytics_active_audience", "analytics_cohort_retention",
            "analytics_top_fans_support", "analytics_revenue_by_source"} <= ids
    assert all(m.get("error") is None for m in everything["metrics"]), everything
    r = mc_client.get(f"{base(artist.artist_id)}/metrics/analytics_mrr", params={"end": "2026-06-01T00:00:00"},
                      headers=artist.headers)
    assert r.status_code == 422 and r.json()["type"].endswith("/analytics-naive-time")


def test_every_analytics_metric_is_listed_by_the_core(mc_client, mc_platform, mc_users):
    from musicconnect_analytics.api import index

    artist = mc_users.artist
    r = mc_client.get(f"/api/v1/artists/{artist.artist_id}/metrics", headers=artist.headers)
    assert r.status_code == 200, r.text
    listed = {m["id"]: m for m in r.json()["metrics"] if m["plugin"] == "analytics"}
    mine = {"analytics_mrr", "analytics_mrr_by_tier", "analytics_mrr_movements", "analytics_mrr_movements_by_tier",
            "analytics_net_revenue", "analytics_revenue_summary", "analytics_revenue_by_source",
            "analytics_active_audience", "analytics_listener_segments", "analytics_followers", "analytics_members",
            "analytics_cohort_retention", "analytics_top_fans_listening", "analytics_top_fans_support"}
    assert mine <= set(listed) == set(index(mc_platform))
    failed = {m: listed[m]["error"] for m in mine if listed[m].get("error") is not None}
    assert failed == {}


def test_csv_export(mc_client, mc_platform, mc_users):
    p, artist = mc_platform, mc_users.artist
    with p.session() as s:
        for k in range(2):
            p.emit(s, "payment.succeeded", actor_id=uuid.uuid4(), artist_id=artist.artist_id,
                   subject=("payment", f"in_{k}"), at=END,
                   data={"amount": 700, "platform_fee": 70, "artist_net": 630, "source": "downloads"})
    r = mc_client.get(f"{base(artist.artist_id)}/export.csv", params={"metric": "analytics_revenue_by_source",
                                                                      "days": 7, "end": END.isoformat()},
                      headers=artist.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="analytics_revenue_by_source_2026-05-25_2026-06-01.csv"' in r.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(r.text))) == [["key", "value"], ["subscriptions", "0"], ["downloads", "1400"],
                                                     ["other", "0"]]
    r = mc_client.get(f"{base(artist.artist_id)}/export.csv", params={"metric": "analytics_members", "days": 2,
                                                                      "end": END.isoformat()}, headers=artist.headers)
    assert list(csv.reader(io.StringIO(r.text))) == [["day", "members", "joined", "left"],
                                                     ["2026-05-30", "0", "0", "0"], ["2026-05-31", "0", "0", "0"],
                                                     ["2026-06-01", "0", "0", "0"]]
    r = mc_client.get(f"{base(artist.artist_id)}/export.csv", params={"metric": "analytics_net_revenue",
                                                                      "end": END.isoformat()}, headers=artist.headers)
    assert r.text == "value\n1260\n"


def test_cli_rebuild_and_status(mc_platform, mc_users):
    from typer.testing import CliRunner

    from musicconnect_analytics.cli import make_app

    p, artist = mc_platform, mc_users.artist
    with p.session() as s:
        p.emit(s, "play.counted", actor_id=mc_users.fan.id, artist_id=artist.artist_id,
               subject=("content", uuid.uuid4()), at=END)
    app = make_app(p)
    runner = CliRunner()
    r = runner.invoke(app, ["rebuild", "--artist", str(artist.artist_id)])
    assert r.exit_code == 0, r.output
    assert "from 1 events" in r.output
    r = runner.invoke(app, ["rebuild", "--artist", "nope"])
    assert r.exit_code == 1 and "error: 'nope' is not an artist id" in r.output
    r = runner.invoke(app, ["rebuild", "--artist", str(uuid.uuid4())])
    assert r.exit_code == 1 and "error: no artist" in r.output
    r = runner.invoke(app, ["status"])
    assert r.exit_code == 0 and "last_rebuild: 2026-06-01T12:00:00+00:00" in r.output
    from musicconnect_analytics import rollups
    assert rollups.total(p, artist.artist_id, "plays", None, None) == 1


def test_csv_cells_that_look_like_formulas_are_defused(mc_client, mc_platform, mc_users):
    """A fan's display name is theirs to choose: in the artist's spreadsheet it must stay text."""
    from musicconnect.models import User

    p, artist = mc_platform, mc_users.artist
    fan = make_user(p, "fan")
    with p.session() as s:
        s.get(User, fan.id).display_name = '=HYPERLINK("https://evil.example","click")'
    assert mc_client.put("/api/v1/analytics/me/visibility", headers=fan.headers,
                         json={"show_name": True}).status_code == 200
    with p.session() as s:
        for k in range(3):
            p.emit(s, "play.counted", actor_id=fan.id, artist_id=artist.artist_id,
                   subject=("content", uuid.uuid4()), at=END)
    r = mc_client.get(f"{base(artist.artist_id)}/export.csv", headers=artist.headers,
                      params={"metric": "analytics_top_fans_listening", "days": 7, "end": END.isoformat()})
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.text)))
    names = [cell for row in rows[1:] for cell in row if "HYPERLINK" in cell]
    assert names == ['\'=HYPERLINK("https://evil.example","click")'], rows
    # the JSON keeps the name as the fan wrote it
    got = mc_client.get(f"{base(artist.artist_id)}/metrics/analytics_top_fans_listening", headers=artist.headers,
                        params={"days": 7, "end": END.isoformat()}).json()
    assert '=HYPERLINK("https://evil.example","click")' in str(got)
