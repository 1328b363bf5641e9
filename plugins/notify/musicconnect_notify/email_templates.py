"""Email bodies: an HTML and a text part per notification kind, from ``templates/email/<kind>.html``
and ``<kind>.txt`` (``default.*`` when a kind has none), with ``string.Template`` placeholders.

Every value put into the HTML part is escaped (``$body_html`` is the body as escaped paragraphs);
the text part gets the values as they are. Placeholders: ``$title``, ``$body``, ``$body_html``,
``$url``, ``$action_label``, ``$unsubscribe_url``, ``$site_name``, ``$kind`` and ``$data_<key>``
for each scalar of the notification's data. A template naming anything else is an error of that
kind (:class:`EmailTemplateError`, raised loudly) and leaves the other kinds alone.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from string import Template
from typing import Any

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


class EmailTemplateError(RuntimeError):
    """A kind's email template is broken (unknown placeholder, bad syntax)."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=256)
def _load(name: str, ext: str) -> Template | None:
    if not _NAME.match(name):
        return None
    f = resources.files(__package__).joinpath("templates", "email", f"{name}.{ext}")
    return Template(f.read_text(encoding="utf-8")) if f.is_file() else None


def template_for(kind: str, ext: str) -> Template:
    return _load(kind, ext) or _load("default", ext)


def _paragraphs(text: str) -> str:
    paras = [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]
    return "\n".join('<p style="margin:0 0 12px;line-height:1.5">' + html.escape(p).replace("\n", "<br>") + "</p>"
                     for p in paras)


def render(kind: str, *, title: str, body: str, url: str, unsubscribe_url: str, site_name: str,
           data: dict[str, Any] | None = None, action_label: str = "Open") -> Rendered:
    values: dict[str, str] = {}
    for key, value in (data or {}).items():
        if isinstance(value, (str, int, float, bool)) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
            values[f"data_{key}"] = str(value)
    values.update(title=title, body=body, url=url, action_label=action_label, unsubscribe_url=unsubscribe_url,
                  site_name=site_name, kind=kind)
    escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
    escaped["body_html"] = _paragraphs(body)
    values["body_html"] = escaped["body_html"]
    try:
        text = template_for(kind, "txt").substitute(values)
        page = template_for(kind, "html").substitute(escaped)
    except (KeyError, ValueError) as exc:
        raise EmailTemplateError(f"email template of kind {kind!r} is broken: {type(exc).__name__}: {exc}") from exc
    return Rendered(subject=" ".join(title.split()), text=text, html=page)
