"""Messages: one per notifier per run, listing every alert that changed, from jinja2
templates the user can override (``[alerts] templates``: a folder holding any of
``subject.txt``, ``body.txt``, ``body.html``, ``short.txt``; the rest come from
``alerts/templates``). HTML is autoescaped: items and values come from the
monitored hosts and are untrusted.

The texts for people are in the language in use (:mod:`onion.core.i18n`: ``ONION_LANG``
…): templates call ``_()`` (jinja2's i18n extension, new style: ``_("%(n)s firing",
n=…)``). What programs read stays English: the payload, its ``subject`` and each alert's
``title`` (templates show ``_(a.title)``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

from onion.alerts.state import Event
from onion.core import i18n
from onion.core.duration import show
from onion.core.i18n import N_

log = logging.getLogger("onion.alerts")
BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_NAMES = ("subject.txt", "body.txt", "body.html", "short.txt")
_TITLES = {"firing": N_("FIRING"), "repeat": N_("STILL FIRING"), "resolved": N_("RESOLVED"),
           "flapping": N_("FLAPPING"), "settled": N_("SETTLED")}
_ORDER = {"firing": 0, "flapping": 1, "repeat": 2, "settled": 3, "resolved": 4}
_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    text: str
    short: str
    html: str
    payload: dict[str, Any]

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return list(self.payload.get("alerts", []))


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() + "Z" if t else None


def as_dict(e: Event) -> dict[str, Any]:
    """One alert as templates and JSON receivers see it."""
    return {
        "rule": e.rule, "host": e.host, "item": e.item, "event": e.event, "state": e.state,
        "title": _TITLES.get(e.event, e.event.upper()), "severity": e.severity,
        "value": e.value, "summary": e.summary, "labels": dict(e.labels), "ts": _iso(e.ts),
        "since": _iso(e.since), "run_id": e.run_id,
        "duration_s": e.duration.total_seconds() if e.duration is not None else None,
        "duration": show(e.duration) if e.duration is not None else None,
    }


# jinja2 is imported where a message or summary is rendered: most poll runs render none,
# and cron pays for every import on every run.


def _same(text: str) -> str:
    return text


def _same_n(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def when(text: str | None) -> str:
    """A time of the context (ISO 8601 with ``Z``, as the payload has it) for people: as
    it is in English, in the language's own way elsewhere (``1 dec. 2026 17:50:12 UTC``)."""
    if not text:
        return ""
    fmt = i18n.formats()
    if fmt.iso:
        return text
    return fmt.datetime(dt.datetime.fromisoformat(text.removesuffix("Z")), seconds=True)


def _env(folder: str, translated: bool = True) -> jinja2.Environment:
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if folder:
        loaders.append(jinja2.FileSystemLoader(Path(folder).expanduser()))
    loaders.append(jinja2.FileSystemLoader(BUILTIN_TEMPLATES))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), keep_trailing_newline=True,
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.i18n"])
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n._ if translated else _same, i18n.ngettext if translated else _same_n,
        newstyle=True)
    env.filters["when"] = when if translated else (lambda text: text or "")
    return env


def render(events: Sequence[Event], now: dt.datetime, templates: str = "") -> Message:
    alerts = sorted((as_dict(e) for e in events),
                    key=lambda a: (_ORDER.get(a["event"], 9), _RANK.get(a["severity"], 9),
                                   a["rule"], a["host"], a["item"]))
    context: dict[str, Any] = {
        "alerts": alerts, "generated_at": _iso(now),
        "firing": [a for a in alerts if a["event"] in ("firing", "repeat")],
        "resolved": [a for a in alerts if a["event"] == "resolved"],
        "other": [a for a in alerts if a["event"] not in ("firing", "repeat", "resolved")],
        "hosts": sorted({a["host"] for a in alerts}),
        "severity": min((a["severity"] for a in alerts), key=lambda s: _RANK.get(s, 9),
                        default="info"),
    }
    import jinja2

    folder = templates
    try:
        parts = _render_all(_env(folder), context)
    except (jinja2.TemplateError, OSError) as exc:
        # A broken override must not cost the message: say so, and use the built-ins.
        log.warning("alert templates in %s failed (%s); using the built-in ones", templates, exc)
        folder = ""
        parts = _render_all(_env(folder), context)
    # The payload is for programs: its subject in the source language, whatever the user's.
    subject = parts["subject.txt"] if i18n.language() == i18n.SOURCE else \
        _one_line(_env(folder, translated=False).get_template("subject.txt").render(context))
    payload = {"version": 1, "generated_at": context["generated_at"],
               "subject": subject, "severity": context["severity"],
               "firing": len(context["firing"]), "resolved": len(context["resolved"]),
               "alerts": alerts}
    return Message(subject=parts["subject.txt"], text=parts["body.txt"],
                   short=parts["short.txt"], html=parts["body.html"], payload=payload)


def _render_all(env: jinja2.Environment, context: Mapping[str, Any]) -> dict[str, str]:
    out = {name: env.get_template(name).render(context) for name in TEMPLATE_NAMES}
    out["subject.txt"] = _one_line(out["subject.txt"])
    out["short.txt"] = out["short.txt"].strip()
    return out


def _one_line(subject: str) -> str:
    return " ".join(subject.split())[:200]  # one header line


@functools.cache
def _summary_env() -> jinja2.Environment:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(autoescape=False, undefined=jinja2.ChainableUndefined)


@functools.lru_cache(maxsize=256)
def _summary_template(template: str) -> jinja2.Template:
    # Compiled once per run, not once per host and item (about 0.6 ms each here).
    return _summary_env().from_string(template)


def summary(template: str, row: Mapping[str, Any]) -> str:
    """A rule's one-line summary over its row; an error shows instead of failing the run."""
    if not template:
        return ""
    import jinja2

    try:
        return " ".join(_summary_template(template).render(row).split())
    except jinja2.TemplateError as exc:
        return f"(summary template error: {exc})"
