"""Numbers, sizes and times in each language (core/formats.py): Swedish and German as CLDR
writes them, through Babel; English (and the pseudo-locale) ISO 8601 with no grouping, as
ever; Babel read once per language and never imported on English paths (a cron run's
``onion poll``)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from onion.core import formats, i18n
from onion.core.version import channel, describe
from onion.reports.filters import human_bytes, number, timestamp

NB = "\u00a0"          # CLDR's group symbol in Swedish, and its space before "%"
MINUS = "\u2212"       # CLDR's minus sign in Swedish
T = dt.datetime(2026, 12, 1, 17, 50, 7)


@pytest.fixture(autouse=True)
def _english_after():
    yield
    i18n.use("en")


# (language, number(1234.5, 1), number(-1234567.891, 2), number(42.0, 0, "%"),
#  human_bytes(3.5 GiB), human_bytes(1023), human_bytes(1023.9 KiB),
#  timestamp(T), timestamp(T, True), timestamp(May 3rd))
WANT = [
    ("en", "1234.5", "-1234567.89", "42 %", "3.5 GiB", "1023 B", "1023.9 KiB",
     "2026-12-01 17:50 UTC", "2026-12-01 17:50:07 UTC", "2026-05-03 04:05 UTC"),
    ("qps", "1234.5", "-1234567.89", "42 %", "3.5 GiB", "1023 B", "1023.9 KiB",
     "2026-12-01 17:50 UTC", "2026-12-01 17:50:07 UTC", "2026-05-03 04:05 UTC"),
    ("sv", f"1{NB}234,5", f"{MINUS}1{NB}234{NB}567,89", f"42{NB}%", "3,5 GiB", f"1{NB}023 B",
     f"1{NB}023,9 KiB", "1 dec. 2026 17:50 UTC", "1 dec. 2026 17:50:07 UTC",
     "3 maj 2026 04:05 UTC"),
    ("de", "1.234,5", "-1.234.567,89", f"42{NB}%", "3,5 GiB", "1.023 B", "1.023,9 KiB",
     "01.12.2026, 17:50 UTC", "01.12.2026, 17:50:07 UTC", "03.05.2026, 04:05 UTC"),
]


@pytest.mark.parametrize("want", WANT, ids=[w[0] for w in WANT])
def test_the_report_filters_in_each_language(want):
    lang, *texts = want
    i18n.use(lang)
    got = [number(1234.5, 1), number(-1234567.891, 2), number(42.0, 0, "%"),
           human_bytes(3.5 * 2**30), human_bytes(1023), human_bytes(1023.9 * 1024),
           timestamp(T), timestamp(T, True), timestamp(dt.datetime(2026, 5, 3, 4, 5))]
    assert got == texts
    assert (number(None), human_bytes(float("nan")), timestamp(None)) == ("—", "—", "—")


def test_decimal_of_text_already_formatted():
    """i18n.decimal() (the charts' labels, the fleet's load): the decimal symbol, and the
    group symbol from a thousand on."""
    assert [i18n.decimal(t) for t in ("3.5", "1234.5", "12", "-0.25")] == \
        ["3.5", "1234.5", "12", "-0.25"]
    i18n.use("sv")
    assert [i18n.decimal(t) for t in ("3.5", "1234.5", "12", "-0.25", "1500")] == \
        ["3,5", f"1{NB}234,5", "12", f"{MINUS}0,25", f"1{NB}500"]
    i18n.use("de")
    assert [i18n.decimal(t) for t in ("3.5", "1234.5", "100000.00")] == \
        ["3,5", "1.234,5", "100.000,00"]
    # Rounded up to a thousand: grouped as the text it rounds to.
    assert [number(v, 1) for v in (999.94, 999.96, -999.96)] == ["999,9", "1.000,0", "-1.000,0"]


def test_numbers_agree_with_babel():
    """The fast path (symbols read once, then f-strings) writes what Babel writes (but
    for a tie such as 9.95, which Python rounds as the float it is, 9.9499…, in every
    language, as English always did, and Babel as the decimal it prints as)."""
    from babel.numbers import format_decimal

    values = [0, 0.04, 1, 9.96, 999.94, 999.96, 1000, 1234.5678, 65536, 1e6 + 0.5, 123456789.25]
    for lang in ("sv", "de"):
        f = formats.get(lang)
        for v in values:
            for digits in (0, 1, 2):
                pattern = "#,##0" + ("." + "0" * digits if digits else "")
                assert f.number(v, digits) == format_decimal(v, pattern, locale=lang), \
                    (lang, v, digits)


def test_dates_agree_with_babel():
    from babel.dates import format_datetime, get_date_format, get_datetime_format, get_time_format

    for lang in ("sv", "de"):
        f = formats.get(lang)
        for t in (T, dt.datetime(2027, 1, 9, 0, 0, 5), dt.datetime(2026, 3, 31, 23, 59)):
            for seconds in (False, True):
                pattern = str(get_datetime_format("medium", lang)).replace(
                    "{1}", get_date_format("medium", lang).pattern).replace(
                    "{0}", get_time_format("medium" if seconds else "short", lang).pattern)
                assert f.datetime(t, seconds) == \
                    format_datetime(t, pattern, locale=lang) + " UTC", (lang, t)


def test_a_moment_is_always_shown_in_utc():
    aware = dt.datetime(2026, 12, 1, 18, 50, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    epoch = T.replace(tzinfo=dt.UTC).timestamp()
    for lang, want in (("en", "2026-12-01 17:50 UTC"), ("de", "01.12.2026, 17:50 UTC")):
        f = formats.get(lang)
        assert f.datetime(aware) == f.datetime(epoch) == want
    assert formats.get("en").datetime(dt.date(2026, 12, 1)) == "2026-12-01 00:00 UTC"


def test_chart_time_labels():
    for lang, want in (("en", ["17:50", "17:50:07", "12-01", "12-01 17:50"]),
                       ("sv", ["17:50", "17:50:07", "01/12", "01/12 17:50"]),
                       ("de", ["17:50", "17:50:07", "01.12.", "01.12., 17:50"])):
        f = formats.get(lang)
        assert [f.clock(T, p) for p in ("%H:%M", "%H:%M:%S", "%m-%d", "%m-%d %H:%M")] == want


def test_babel_is_read_once_per_language():
    assert formats.get("sv") is formats.get("sv") and formats.get("qps") is formats.ENGLISH
    i18n.use("de")
    assert i18n.formats() is formats.get("de")
    i18n.use("qps")
    assert i18n.formats() is formats.ENGLISH


def test_the_release_channel_word_is_translated_and_its_code_is_not():
    i18n.use("sv")
    assert describe("0.1.1") == "0.1.1 (instabil)" and describe("0.2") == "0.2 (stabil)"
    assert str(channel("0.1.1")) == "unstable"    # what /healthz, the API and metrics say
    i18n.use("de")
    assert describe("0.1.2") == "0.1.2 (Testversion)"
    from click.testing import CliRunner

    from onion.cli.main import main

    german = CliRunner().invoke(main, ["--lang", "de", "--version"]).output
    assert german == f"onion {describe()}\n"          # --lang read before it prints
    word = {"stable": "stabil", "testing": "Testversion", "unstable": "instabil"}[channel()]
    assert german.endswith(f" ({word})\n"), german
    i18n.use("en")
    assert CliRunner().invoke(main, ["--version"]).output == f"onion {describe()}\n"
    assert describe().endswith(f" ({channel()})")


def _modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    import os

    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print(' '.join(sorted(m for m in sys.modules)))"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def _babel(mods: set[str]) -> set[str]:
    return {m for m in mods if m == "babel" or m.startswith("babel.")}


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_onion_poll_never_imports_babel(tmp_path: Path, lang: str):
    """A cron run's `onion poll` of one host pays for no CLDR data, in English or not."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n[probes]\nenable = ["memory"]\n')
    mods = _modules_after(
        "from click.testing import CliRunner\nfrom onion.cli.main import main\n"
        f"r = CliRunner().invoke(main, ['--lang', {lang!r}, 'poll', '--config', {str(cfg)!r}])\n"
        "assert r.exit_code == 0, r.output\n", {"ONION_LANG": ""})
    assert "onion.pipeline.store" in mods and "onion.core.formats" in mods
    assert not _babel(mods)


def test_english_formats_never_import_babel_and_swedish_ones_do():
    code = ("import datetime as dt\nfrom onion.core import i18n\n"
            "from onion.reports.filters import human_bytes, number, timestamp\n"
            "i18n.use({lang!r})\n"
            "print(number(1234.5, 1), human_bytes(2**40), timestamp(dt.datetime(2026, 1, 1)))\n")
    assert not _babel(_modules_after(code.format(lang="en")))
    assert not _babel(_modules_after(code.format(lang="qps")))
    assert _babel(_modules_after(code.format(lang="sv")))      # the check above can fail


def test_the_desktop_views_cells_and_status_in_swedish():
    """gui/tables.py (no Qt): cells and the daemon's times through the same formats; in
    English the daemon's times show as it sends them."""
    from onion.gui import tables

    status = {"started_at": "2026-12-01T17:50:07.123456Z", "next_round_at": "2026-12-01T17:51:00Z",
              "last_round": {"started_at": "2026-12-01T17:50:07Z", "ok": 1, "failed": 0,
                             "wall_s": 1234.5}}
    english = dict(tables.status_lines(status, "db"))
    assert "2026-12-01T17:50:07.123456Z" in english["Daemon"]
    assert english["Next round"] == "2026-12-01T17:51:00Z"
    assert tables._cell(3.5 * 2**30, "memory_bytes") == "3.5 GiB"
    assert tables._cell(1234.5678) == "1235"
    i18n.use("sv")
    assert tables._cell(3.5 * 2**30, "memory_bytes") == "3,5 GiB"
    assert tables._cell(1234.5678) == f"1{NB}235" and tables._cell(T) == timestamp(T, True)
    assert tables._cell(12.5, "cpu_pct") == f"12,5{NB}%"
    lines = dict(tables.status_lines(status, "db"))
    assert "1 dec. 2026 17:50:07 UTC" in lines["Demon"]
    assert lines["Nästa runda"] == "1 dec. 2026 17:51:00 UTC"
    assert lines["Senaste runda"].endswith(f"1{NB}234,5 s")
