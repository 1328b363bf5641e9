"""The email channel against a real SMTP server on loopback (aiosmtpd) and a Postmark-style HTTP
API on loopback: what arrives is parsed (both parts, headers, the one-click unsubscribe link);
SMTP down is retried and nothing is lost; a permanent rejection disables the address."""
from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from musicconnect.testing import make_user
from musicconnect_notify import email_channel, email_templates
from musicconnect_notify.channels import CHANNELS, Delivery, PermanentFailure, TemporaryFailure

pytestmark = pytest.mark.mc_plugins("notify")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    """aiosmtpd on a fixed loopback port: keeps every message parsed; ``reject[address]`` is the
    answer to that RCPT (e.g. ``"550 5.1.1 no such user"``)."""

    def __init__(self, port: int):
        self.port = port
        self.messages = []
        self.rcpts: list[str] = []
        self.reject: dict[str, str] = {}
        self.controller = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.rcpts.append(address)
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        msg = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        self.messages.append((envelope.rcpt_tos, msg))
        return "250 Message accepted for delivery"

    def start(self):
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


class ApiServer:
    """A transactional-email HTTP API in Postmark's shape on loopback."""

    TOKEN = "server-token-123"

    def __init__(self):
        self.received: list[dict] = []
        self.answers: list[tuple[int, dict]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("X-Postmark-Server-Token") != api.TOKEN:
                    status, answer = 401, {"ErrorCode": 10, "Message": "bad or missing server token"}
                else:
                    api.received.append({"path": self.path, "doc": doc})
                    status, answer = api.answers.pop(0) if api.answers else (
                        200, {"ErrorCode": 0, "Message": "OK", "MessageID": f"pm-{len(api.received)}"})
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/email"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api():
    server = ApiServer()
    yield server
    server.close()


@pytest.fixture
def mc_settings(mc_settings, smtp):
    return mc_settings.model_copy(update={"plugin_config": {"notify": {
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "email_from": "Nova Records <news@nova.example>",
        "email_unsubscribe_mailto": "unsubscribe@nova.example", "email_site_name": "Nova Club"}}})


def delivery(user, *, kind="fanclub_post", title="A new post", body="Hello fans.\n\nSee you soon.",
             url="/posts/1", **kw) -> Delivery:
    return Delivery(id=str(uuid.uuid4()), recipient_id=str(user.id), kind=kind, channel="email", title=title,
                    body=body, url=url, **kw)


def parts(msg) -> tuple[str, str]:
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def test_email_arrives_with_both_parts_and_one_click_headers(mc_client, mc_platform, mc_users, smtp):
    fan = mc_users.fan
    d = delivery(fan, title="Tour <dates> & more", body="Line one <b>not bold</b>.\n\nSecond paragraph.",
                 data={"venue": "Hall & Co"})
    result = CHANNELS["email"].deliver(mc_platform, d)
    assert result.ok

    [(rcpts, msg)] = smtp.messages
    assert rcpts == [fan.email]
    assert msg["To"].addresses[0].addr_spec == fan.email
    assert msg["From"].addresses[0].addr_spec == "news@nova.example"
    assert msg["Subject"] == "Tour <dates> & more"
    assert msg["Message-ID"] == f"<{d.id}@nova.example>"  # stable per delivery: a provider can dedupe
    assert msg.is_multipart() and msg.get_content_type() == "multipart/alternative"
    text, page = parts(msg)
    assert "Line one <b>not bold</b>." in text and "Second paragraph." in text
    assert "http://testserver/posts/1" in text
    # HTML: every value escaped (no markup from a notification's text), paragraphs kept
    assert "<b>not bold</b>" not in page and "Line one &lt;b&gt;not bold&lt;/b&gt;." in page
    assert "Tour &lt;dates&gt; &amp; more" in page and "<dates>" not in page
    assert 'href="http://testserver/posts/1"' in page
    assert "Nova Club" in page

    # RFC 8058: an https-or-http URL and a mailto, and the one-click POST marker
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])
    assert links[1] == "mailto:unsubscribe@nova.example?subject=unsubscribe"
    assert links[0].startswith("http://testserver/api/v1/notify/unsubscribe/")
    assert f'href="{links[0]}"' in page and links[0] in text  # the footer carries the same link

    # a mail client's one-click POST: no sign-in, takes effect at once
    r = mc_client.post(links[0].removeprefix("http://testserver"), content=b"List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    assert r.json() == {"unsubscribed": True, "kind": "fanclub_post", "changed": True}
    from musicconnect_notify.models import Preference

    with mc_platform.read() as s:
        assert s.get(Preference, fan.id).channels["fanclub_post"]["email"] is False


def test_pipeline_queues_while_smtp_is_down_and_sends_later(mc_platform, mc_users, mc_clock, smtp):
    """SMTP down: the delivery stays pending with a back-off and goes out once the server is back."""
    from musicconnect_notify import pipeline
    from musicconnect_notify.models import Delivery as Row

    fan = mc_users.fan
    smtp.stop()
    with mc_platform.session() as s:
        row = Row(kind="fanclub_post", object_key="post:1", recipient_id=fan.id, channel="email", title="Queued",
                  body="Still here.", url="/posts/1", data={}, status="pending", attempts=0,
                  created_at=mc_clock.now())
        s.add(row)
        s.flush()
        rid = row.id
    assert pipeline.deliver_ids(mc_platform, [rid])["retry"] == 1
    with mc_platform.read() as s:
        row = s.get(Row, rid)
        assert row.status == "pending" and row.not_before > mc_clock.now()
        assert "TemporaryFailure" in row.reason
    assert smtp.messages == []
    assert email_channel.suppressed(mc_platform) == []  # a server outage disables no address

    smtp.start()
    mc_clock.advance(hours=1)
    assert pipeline.deliver_due(mc_platform)["sent"] == 1
    with mc_platform.read() as s:
        assert s.get(Row, rid).status == "sent"
    [(_, msg)] = smtp.messages
    assert msg["Subject"] == "Queued" and "Still here." in parts(msg)[0]


def test_smtp_down_is_a_temporary_failure(mc_platform, mc_users, smtp):
    smtp.stop()
    with pytest.raises(TemporaryFailure) as exc:
        CHANNELS["email"].deliver(mc_platform, delivery(mc_users.fan))
    assert "unavailable" in str(exc.value)


def test_permanent_rejection_disables_the_address(mc_platform, smtp):
    gone = make_user(mc_platform, "fan", email="gone@nova.example")
    smtp.reject["gone@nova.example"] = "550 5.1.1 <gone@nova.example>: mailbox unavailable"
    with pytest.raises(PermanentFailure) as exc:
        CHANNELS["email"].deliver(mc_platform, delivery(gone))
    assert "550" in exc.value.reason
    [row] = email_channel.suppressed(mc_platform)
    assert row.email == "gone@nova.example" and "550" in row.reason and row.source == "bounce"
    assert smtp.messages == []
    # the next notification is not attempted: the server sees no new RCPT
    tries = len(smtp.rcpts)
    with pytest.raises(PermanentFailure) as again:
        CHANNELS["email"].deliver(mc_platform, delivery(gone))
    assert "suppressed" in again.value.reason
    assert len(smtp.rcpts) == tries
    # the operator lifts it: mail flows again
    smtp.reject.clear()
    assert email_channel.unsuppress(mc_platform, "Gone@Nova.example")
    assert CHANNELS["email"].deliver(mc_platform, delivery(gone)).ok
    assert len(smtp.messages) == 1


def test_temporary_rejection_is_retried_not_disabled(mc_platform, smtp):
    busy = make_user(mc_platform, "fan", email="busy@nova.example")
    smtp.reject["busy@nova.example"] = "450 4.2.1 mailbox busy, try later"
    with pytest.raises(TemporaryFailure) as exc:
        CHANNELS["email"].deliver(mc_platform, delivery(busy))
    assert not isinstance(exc.value, PermanentFailure) and "450" in str(exc.value)
    assert email_channel.suppressed(mc_platform) == []


def api_platform(mc_make_platform, mc_settings, api, token=ApiServer.TOKEN):
    """A platform of the same deployment whose email goes through the HTTP API."""
    conf = {**mc_settings.plugin_config["notify"], "email_provider": "http", "email_http_url": api.url,
            "email_http_token": token}
    return mc_make_platform(migrate_db=False, plugin_config={"notify": conf})


def test_http_provider_posts_both_parts_and_headers(mc_make_platform, mc_settings, api, smtp):
    mc_platform = api_platform(mc_make_platform, mc_settings, api)
    fan = make_user(mc_platform, "fan")
    result = CHANNELS["email"].deliver(mc_platform, delivery(fan, title="Hello", body="From the API <3"))
    assert result.ok and "pm-1" in result.detail
    [req] = api.received
    doc = req["doc"]
    assert req["path"] == "/email"
    assert doc["To"] == fan.email and doc["From"] == "Nova Records <news@nova.example>"
    assert doc["Subject"] == "Hello" and doc["MessageStream"] == "outbound"
    assert "From the API <3" in doc["TextBody"] and "From the API &lt;3" in doc["HtmlBody"]
    headers = {h["Name"]: h["Value"] for h in doc["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/api/v1/notify/unsubscribe/" in headers["List-Unsubscribe"]
    assert smtp.messages == []  # the HTTP provider, not SMTP


def test_http_provider_failures(mc_make_platform, mc_settings, api, smtp):
    mc_platform = api_platform(mc_make_platform, mc_settings, api)
    fan = make_user(mc_platform, "fan", email="inactive@nova.example")
    api.answers = [(500, {"ErrorCode": 100, "Message": "maintenance"}),
                   (429, {"ErrorCode": 0, "Message": "slow down"}),
                   (422, {"ErrorCode": 406, "Message": "You tried to send to a recipient that has been marked as inactive."})]
    for _ in range(2):
        with pytest.raises(TemporaryFailure):
            CHANNELS["email"].deliver(mc_platform, delivery(fan))
    assert email_channel.suppressed(mc_platform) == []
    with pytest.raises(PermanentFailure) as exc:
        CHANNELS["email"].deliver(mc_platform, delivery(fan))
    assert "406" in exc.value.reason
    assert [r.email for r in email_channel.suppressed(mc_platform)] == ["inactive@nova.example"]
    # a wrong token is the operator's mistake: retried, no address disabled
    wrong = api_platform(mc_make_platform, mc_settings, api, token="wrong")
    with pytest.raises(TemporaryFailure) as exc:
        CHANNELS["email"].deliver(wrong, delivery(make_user(wrong, "fan")))
    assert "401" in str(exc.value)
    assert len(email_channel.suppressed(mc_platform)) == 1


def test_a_broken_template_fails_its_kind_loudly_and_others_go_on(mc_platform, mc_users, smtp, monkeypatch, caplog):
    from string import Template

    real = email_templates._load

    def load(name, ext):
        return Template("Hi $no_such_value") if name == "broken_kind" else real(name, ext)

    monkeypatch.setattr(email_templates, "_load", load)
    with pytest.raises(email_templates.EmailTemplateError) as exc:
        CHANNELS["email"].deliver(mc_platform, delivery(mc_users.fan, kind="broken_kind"))
    assert "broken_kind" in str(exc.value) and "no_such_value" in str(exc.value)
    assert "template is broken" in caplog.text
    assert CHANNELS["email"].deliver(mc_platform, delivery(mc_users.fan, kind="fanclub_post")).ok
    assert len(smtp.messages) == 1


def test_data_placeholders_are_escaped_in_html():
    r = email_templates.render("default", title="T", body="B", url="https://x.example/a?b=1&c=2",
                               unsubscribe_url="https://x.example/u", site_name="S <site>", data={"n": "<i>"})
    assert 'href="https://x.example/a?b=1&amp;c=2"' in r.html
    assert "S &lt;site&gt;" in r.html and "S <site>" in r.text
    assert "https://x.example/a?b=1&c=2" in r.text
