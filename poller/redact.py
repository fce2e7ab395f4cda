"""Secrets in process command lines are masked before anything is stored.

``ps`` shows every process's arguments, and people pass passwords on command lines
(``mysql -pSECRET``, ``PGPASSWORD=… psql``, ``curl https://user:pass@host``). Onion stores
command lines for days and shows them in the report, so values that look like secrets
are replaced by ``***`` in the batch, before the spool or the database sees them. The
probe's parser stays pure: masking is storage policy, applied once in
:func:`poller.run.make_batch`.

What is masked, keeping the name so the row still says *what* was hidden::

    --password=hunter2 / --password hunter2    ->  --password=*** / --password ***
    --api-key KEY, --client-secret=S, --token T     (any option name ending in a secret word)
    PGPASSWORD=x  MYSQL_PWD=x  AWS_SECRET_ACCESS_KEY=x  token=x  api_key=x   (key=value)
    mysql -pSECRET / mysqldump -uroot -pSECRET  ->  -p***   (mysql/mariadb clients only)
    postgres://user:pass@db/x                   ->  postgres://user:***@db/x
    Authorization: Bearer eyJ…                  ->  Bearer ***

ps prints the arguments joined by spaces, so a secret is masked up to the next space; a
quoted password with spaces in it keeps its tail visible. ``[privacy] redact_patterns``
adds regexes: the first group of each match is masked, or the whole match if it has no
group. ``redact_args = false`` stores command lines as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from onion.core.errors import ConfigError

MASK = "***"

# A name (option or variable) is secret when it ends in one of these words.
_SENSITIVE = (r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|apikey"
              r"|access[-_]?key|private[-_]?key|credentials?|auth[-_]?key)")
# Words one of which a secret name holds (each _SENSITIVE alternative has one).
_WORDS = ("pass", "pwd", "secret", "token", "key", "credential")
# name, pattern, and what the text must hold for the pattern to match: a literal, and
# with the lower-cased text folded as (?i) folds it (_fold), any of some words.
_DEFAULTS: tuple[tuple[str, re.Pattern[str], tuple[str, ...], tuple[str, ...]], ...] = (
    # --password=VALUE, -password=VALUE, password=VALUE, PGPASSWORD=VALUE, x.api_key=V
    ("key=value", re.compile(
        rf"(?i)(?<![\w.-])(-{{0,2}}[\w.-]*{_SENSITIVE}=)(?P<v>[^\s&]+)"), ("=",), _WORDS),
    # --password VALUE, --api-key VALUE (an option, then a value that is not an option)
    ("option value", re.compile(
        rf"(?i)(?<!\S)(--?[\w.-]*{_SENSITIVE})(\s+)(?P<v>[^\s-]\S*)"), ("-",), _WORDS),
    # scheme://user:password@host
    ("url", re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)(?P<v>[^\s@/]+)(?=@)"),
     ("://", "@"), ()),
    # Authorization: Bearer TOKEN / Basic B64
    ("bearer", re.compile(r"(?i)\b((?:bearer|basic)\s+)(?P<v>[A-Za-z0-9._~+/=-]{8,})"),
     (), ("bearer", "basic")),
)
_TRIGGERS = ("pass", "pwd", "secret", "token", "key", "credential", "://", "bearer", "basic",
             "-p")
# The letters other than A-Z that (?i) matches to a-z; lower() makes K k but İ "i̇".
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
# mysql -pSECRET: the password glued to -p. Elsewhere -p is a port or "parents".
_MYSQL = re.compile(r"(?i)(?:^|/)(?:mysql\w*|mariadb\w*)$")
_MYSQL_P = re.compile(r"(?<!\S)(-p)(?P<v>\S+)")

# The tables and columns that hold command lines.
FIELDS: Mapping[str, tuple[str, ...]] = {"processes": ("args",)}


@dataclass(frozen=True, slots=True)
class Redactor:
    extra: tuple[re.Pattern[str], ...] = ()

    def __call__(self, text: str) -> str:
        if not text:
            return text
        # Every built-in pattern needs one of these words: most command lines have none,
        # and this runs for every process of every host.
        low = text.lower()
        if any(word in low for word in _TRIGGERS):
            # Then each pattern only where it can match ("-p" alone, common, needs none of
            # them). Masking never adds what a check looks for, so checking the text as
            # it came in is checking it as each pattern sees it.
            folded = low if text.isascii() else _fold(text)
            for _, pattern, needs, words in _DEFAULTS:
                if all(n in text for n in needs) and (
                        not words or any(w in folded for w in words)):
                    text = pattern.sub(_mask_named, text)
            if "-p" in text:
                first = text.split(None, 1)[0] if text.strip() else ""
                if _MYSQL.search(first):
                    text = _MYSQL_P.sub(_mask_named, text)
        for pattern in self.extra:
            text = pattern.sub(_mask_extra, text)
        return text


def _fold(text: str) -> str:
    return text.translate(_FOLD).lower()


def _mask_named(m: re.Match[str]) -> str:
    start, end = m.span("v")
    whole = m.group(0)
    return whole[: start - m.start()] + MASK + whole[end - m.start():]


def _mask_extra(m: re.Match[str]) -> str:
    if m.re.groups == 0 or m.group(1) is None:
        return MASK
    start, end = m.span(1)
    whole = m.group(0)
    return whole[: start - m.start()] + MASK + whole[end - m.start():]


def compile_patterns(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    out = []
    for p in patterns:
        if not isinstance(p, str):
            raise ConfigError(f"[privacy] redact_patterns: {p!r} is not a string")
        try:
            out.append(re.compile(p))
        except re.error as exc:
            raise ConfigError(f"[privacy] redact_patterns: bad regex {p!r}: {exc}") from exc
    return tuple(out)


def from_settings(enabled: bool, patterns: Iterable[str] = ()) -> Redactor | None:
    """The redactor a run uses; None when the user turned masking off."""
    return Redactor(compile_patterns(patterns)) if enabled else None


DEFAULT = Redactor()
