"""Translations: every string for people goes through the catalog, every catalog is whole
and valid, and what programs read is the same in every language.

The pseudo-locale ``qps`` prints each translated string between ``⟦`` and ``⟧``. In its
``--help`` of every command, a word outside the markers is one that skipped translation,
unless it is one of what click prints as it is by design: an option name (``-l``,
``--limit``, ``--progress / --no-progress``), a metavar or argument name (upper case,
``PATTERN``, ``FILE``), a command name on the usage line or in the list of commands, the
program name, a choice (``[table|csv|json]``) or a custom metavar's words
(``fleet|host:NAME``). Single letters (``x>=1``) are not words. A short help that click
cut to fit the list of commands ends in ``...`` without its closing marker: an opening
marker with ``...`` at the end of its line counts as closed there.
"""

from __future__ import annotations

import gettext
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from onion.cli.main import VERBS, main
from onion.core import config, duration, i18n
from onion.core.errors import ConfigError
from onion.inventory import loader
from tests.pseudo import unmarked as _unmarked

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "core" / "locale"
LANGS = [lang for lang in i18n.LANGUAGES if lang != i18n.SOURCE]
_MARKED = re.compile(r"⟦[^⟦⟧]*⟧|⟦[^⟦⟧\n]*\.\.\.$", re.MULTILINE)
_OPTION = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")
_WORD = re.compile(r"[A-Za-z][A-Za-z']+")


@pytest.fixture(autouse=True)
def _english_after():
    yield
    i18n.use("en")


def invoke(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, list(args), env=env, prog_name="onion",
                                catch_exceptions=False)
    return result.output


def unmarked(text: str) -> str:
    return _unmarked(text, _MARKED)


def commands() -> list[tuple[list[str], click.Command]]:
    """Every command of the tree, as its path of names and the command."""
    out: list[tuple[list[str], click.Command]] = [([], main)]
    ctx = click.Context(main)
    todo: list[tuple[list[str], click.Command]] = [([], main)]
    while todo:
        path, cmd = todo.pop()
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, name
                out.append(([*path, name], sub))
                todo.append(([*path, name], sub))
    return out


def allowed_words(cmds: list[tuple[list[str], click.Command]]) -> set[str]:
    words = {"onion", *VERBS}
    for path, cmd in cmds:
        words.update(path)
        for param in cmd.params:
            choices = getattr(param.type, "choices", None) or ()
            for choice in choices:
                words.update(_WORD.findall(str(choice)))
            if param.metavar:
                words.update(_WORD.findall(param.metavar))
    return words


def escaped(text: str, allowed: set[str]) -> list[str]:
    rest = _OPTION.sub(" ", unmarked(text))
    return [w for w in _WORD.findall(rest) if not w.isupper() and w not in allowed]


def test_every_help_is_translated_under_the_pseudo_locale():
    cmds = commands()
    assert len(cmds) > len(VERBS)  # the groups' commands are in the walk
    allowed = allowed_words(cmds)
    seen = {}
    for path, _cmd in cmds:
        out = invoke("--lang", "qps", *path, "--help")
        assert "⟦" in out, path
        left = escaped(out, allowed)
        if left:
            seen[" ".join(path) or "onion"] = left
    assert not seen, f"words outside the markers (not translated): {seen}"


def test_the_rule_catches_an_untranslated_string():
    assert escaped("⟦Usage:⟧ onion poll [OPTIONS]\n  -v, --verbose  Say what happened",
                   {"onion", "poll"}) == ["Say", "what", "happened"]
    assert escaped("⟦Error: ⟦Missing argument⟧ 'QUERY'.⟧", set()) == []


@pytest.mark.parametrize("args", [
    ["sql"],                       # click's missing argument
    ["poll", "--bogus"],           # click's no such option, with a suggestion
    ["nosuchverb"],                # click's no such command
    ["--lang", "qps", "gui", "--size", "9x9"],  # an Onion BadParameter
], ids=["missing-argument", "no-such-option", "no-such-command", "bad-parameter"])
def test_click_errors_are_translated(args):
    out = invoke("--lang", "qps", *args)
    assert "⟦" in out
    assert escaped(out, allowed_words(commands())) == [], out


def test_onion_messages_and_errors_are_translated(tmp_path):
    target = tmp_path / "onion.toml"
    first = invoke("--lang", "qps", "init", str(target))
    assert first.count("⟦") == 2 and not escaped(first, set()), first
    again = invoke("--lang", "qps", "init", str(target))
    assert "exists" in again and not escaped(again, set()), again


def test_swedish_and_german_help():
    sv = " ".join(invoke("--lang", "sv", "--help").split())  # as one line, unwrapped
    assert "Användning:" in sv and "Visa det här meddelandet och avsluta." in sv
    assert "Kommandon:" in sv
    de = " ".join(invoke("--lang", "de", "poll", "--help").split())
    assert "Aufruf:" in de and "Jeden Host einmal abfragen" in de


def test_language_from_the_environment():
    assert i18n.from_environment({"ONION_LANG": "de", "LC_ALL": "sv_SE.UTF-8"}) == "de"
    assert i18n.from_environment({"LC_ALL": "sv_SE.UTF-8", "LANG": "de_DE.UTF-8"}) == "sv"
    assert i18n.from_environment({"LC_MESSAGES": "de_AT@euro", "LANG": "sv_SE"}) == "de"
    assert i18n.from_environment({"LANG": "sv_FI.UTF-8"}) == "sv"
    assert i18n.from_environment({"LC_ALL": "C", "LANG": "sv_SE.UTF-8"}) == "en"
    assert i18n.from_environment({"LANG": "fr_FR.UTF-8"}) == "en"  # no catalog: the source
    assert i18n.from_environment({}) == "en"
    assert "Användning:" in invoke("--help", env={"ONION_LANG": "sv"})
    assert "Aufruf:" in invoke("--help", env={"ONION_LANG": "", "LC_ALL": "de_DE.UTF-8"})
    # --lang wins over the environment, before or after --help
    assert "Usage:" in invoke("--help", "--lang", "en", env={"ONION_LANG": "sv"})


def test_an_unknown_language_is_refused():
    result = CliRunner().invoke(main, ["--lang", "xx", "--help"])
    assert result.exit_code == 2 and "--lang" in result.output


def test_machine_output_is_the_same_in_every_language(tmp_path):
    db = tmp_path / "onion.duckdb"
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("node01\nnode02\n")
    cfg = tmp_path / "onion.toml"
    invoke("init", str(cfg), "--db", str(db))
    base = ["--config", str(cfg), "--db", str(db)]
    import duckdb

    duckdb.connect(str(db)).close()
    outputs = {}
    for lang in ("en", *LANGS, i18n.PSEUDO):
        outputs[lang] = [
            invoke("--lang", lang, "sql", *base, "--format", fmt,
                   "SELECT 1.5::DOUBLE AS x, 'a,b' AS s, NULL AS n")
            for fmt in ("json", "csv")
        ] + [invoke("--lang", lang, "hosts", *base, "-i", str(hosts), "--format", fmt)
             for fmt in ("json", "csv")]
    assert json.loads(outputs["en"][0]) == [{"x": 1.5, "s": "a,b", "n": None}]
    assert json.loads(outputs["en"][2])[0]["status"] == "never polled"
    for lang, out in outputs.items():
        assert out == outputs["en"], lang


def test_machine_output_of_times_is_the_same_in_every_language(tmp_path):
    """Times in JSON and CSV (a host's last poll, an alert's since) stay ISO 8601 in every
    language; only the tables for people write them as the language does."""
    db = tmp_path / "onion.duckdb"
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{db}"\n[probes]\nenable = ["memory"]\n'
                   '[[alerts.rules]]\nname = "always"\ntable = "memory"\n'
                   'condition = "total_bytes > 0"\nseverity = "info"\n')
    base = ["--config", str(cfg)]
    assert CliRunner().invoke(main, ["poll", *base]).exit_code == 0
    outputs, tables = {}, {}
    for lang in ("en", *LANGS, i18n.PSEUDO):
        outputs[lang] = [invoke("--lang", lang, *verb, *base, "--format", fmt)
                         for verb in (["hosts"], ["alerts"], ["alerts", "history"])
                         for fmt in ("json", "csv")]
        tables[lang] = [invoke("--lang", lang, *verb, *base)
                        for verb in (["hosts"], ["alerts"], ["alerts", "history"])]
    (host,) = json.loads(outputs["en"][0])
    assert host["host"] == "localhost" and host["last_seen"]
    assert any(a["rule"] == "always" for a in json.loads(outputs["en"][2]))
    assert json.loads(outputs["en"][4]), "no alert history"
    for lang, out in outputs.items():
        assert out == outputs["en"], lang
    iso = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?Z")
    assert all(iso.search(t) for t in tables["en"]), tables["en"]
    assert tables["qps"][0].split()[3] == tables["en"][0].split()[3]   # English's own time
    for lang, month in (("sv", r"\d{1,2} \w+\.? \d{4} \d\d:\d\d:\d\d UTC"),
                        ("de", r"\d\d\.\d\d\.\d{4}, \d\d:\d\d:\d\d UTC")):
        for text in tables[lang]:
            assert re.search(month, text) and not iso.search(text), (lang, text)


# -- errors and messages of the layers below the CLI ------------------------------------

def _config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


_BAD_CONFIGS = {                   # a config file's text; None: the file does not exist
    "unknown-setting": "[poller]\nconcurency = 5\n",
    "bad-toml": "[poller\n",
    "bad-duration": '[daemon]\ninterval = "soon"\n',
    "bad-size": '[storage]\nmax_size = "lots"\n',
    "no-config": None,
}
_BAD_INVENTORIES = {               # an inventory's text (None: missing) and the limit
    "no-inventory": (None, None),
    "bad-inventory": ("[web:bogus]\nnode01\n", None),
    "bad-limit": ("node01\n", "nosuchgroup"),
}

_SAYS = {"unknown-setting": "unknown setting 'concurency'", "bad-toml": "not valid TOML",
         "bad-duration": "'soon' is not a duration", "bad-size": "cannot read 'lots' as a size",
         "no-config": "does not exist (run `onion init", "no-inventory": "file not found",
         "bad-inventory": "unknown type 'bogus'",
         "bad-limit": "'nosuchgroup' matches no host and no group"}


@pytest.mark.parametrize("case", [*_BAD_CONFIGS, *_BAD_INVENTORIES])
def test_onion_errors_are_translated_under_the_pseudo_locale(tmp_path, case):
    """Errors that core/, inventory/ and pipeline/ raise reach people marked: the whole
    message, the values filled into it included (they sit inside the markers)."""
    cfg = tmp_path / "onion.toml"
    if case in _BAD_CONFIGS:
        text = _BAD_CONFIGS[case]
        args = ["--config", str(_config(cfg, text) if text is not None else cfg)]
    else:
        text, limit = _BAD_INVENTORIES[case]
        inv = tmp_path / "hosts.ini"
        args = ["--config", str(_config(cfg, f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n')),
                "-i", str(_config(inv, text) if text is not None else inv),
                *(["-l", limit] if limit else [])]
    result = CliRunner().invoke(main, ["--lang", "qps", "poll", *args], prog_name="onion")
    assert result.exit_code == 1, result.output
    assert result.output.startswith("⟦Error: ⟦") and not unmarked(result.output).strip(), \
        result.output
    english = CliRunner().invoke(main, ["--lang", "en", "poll", *args], prog_name="onion")
    assert english.output.startswith("Error: ") and "⟦" not in english.output
    assert _SAYS[case] in english.output and _SAYS[case] in result.output, english.output


def test_swedish_and_german_errors(tmp_path):
    for lang, want in (("sv", "'soon' är ingen tidslängd"), ("de", "'soon' ist keine Dauer")):
        i18n.use(lang)
        with pytest.raises(ConfigError, match=want):
            duration.parse("soon", "[daemon] interval")
    i18n.use("de")
    with pytest.raises(ConfigError, match="Inventardatei nicht gefunden"):
        loader.load(tmp_path / "missing.ini")
    i18n.use("sv")
    zero = _config(tmp_path / "c.toml", "[poller]\nconcurrency = 0\n")
    with pytest.raises(ConfigError, match=r"\[poller\] concurrency måste vara större än 0"):
        config.load(zero)


def test_a_poll_of_an_unreachable_host_under_the_pseudo_locale(tmp_path):
    """`onion poll -v` of a host that refuses: what Onion says is marked; the host's line
    shows its status and reason as they are stored, which no language changes."""
    from tests.sshd import free_port

    port = free_port("127.0.0.15")
    hosts = _config(tmp_path / "hosts.ini", f"gone ansible_host=127.0.0.15 ansible_port={port}\n")
    stored = {}
    for lang in ("en", *LANGS, i18n.PSEUDO):
        db = tmp_path / f"{lang}.duckdb"
        cfg = _config(tmp_path / f"{lang}.toml",
                      f'[storage]\ndb = "{db}"\n[probes]\nenable = ["memory"]\n'
                      '[ssh]\nconfig = []\nagent = false\n')
        out = invoke("--lang", lang, "poll", "-v", "--config", str(cfg), "-i", str(hosts))
        host_line, *said = out.splitlines()
        assert host_line.split()[:2] == ["gone", "unreachable"], out
        if lang == i18n.PSEUDO:
            assert said and all(line.startswith(("⟦", "onion: ⟦")) for line in said), out
            assert not escaped("\n".join(said), {"onion", "gone", "unreachable"}), out
        stored[lang] = [invoke("--lang", lang, "sql", "--db", str(db), "--format", fmt,
                               "SELECT host, status, reason FROM polls")
                        for fmt in ("json", "csv")] + [host_line.split(None, 2)[2]]
    (row,) = json.loads(stored["en"][0])
    assert row["status"] == "unreachable" and row["reason"] == stored["en"][2]
    for lang, out in stored.items():
        assert out == stored["en"], lang


# -- the catalogs ------------------------------------------------------------------------

def _po(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / "onion.po"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="msgfmt (gettext) not installed")
@pytest.mark.parametrize("lang", LANGS)
def test_msgfmt_check_passes(lang, tmp_path):
    out = subprocess.run(["msgfmt", "-c", "--statistics", "-o", str(tmp_path / "x.mo"),
                          str(_po(lang))], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "untranslated" not in out.stderr and "fuzzy" not in out.stderr, out.stderr


def _read(path: Path):
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        return read_po(f)


@pytest.mark.parametrize("lang", LANGS)
def test_catalog_is_complete_and_checks(lang):
    pytest.importorskip("babel")
    cat = _read(_po(lang))
    untranslated = [m.id for m in cat if m.id and (
        not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
    assert not untranslated, f"{lang}: untranslated: {untranslated}"
    assert not [m.id for m in cat if m.id and m.fuzzy], f"{lang}: fuzzy messages"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in cat.check()]
    assert not problems, problems
    # placeholders are kept: the same {names} as the English
    for m in cat:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        want = set(re.findall(r"\{[^{}]*\}", ids[-1]))
        for s in strings:
            assert set(re.findall(r"\{[^{}]*\}", s)) <= want | set(
                re.findall(r"\{[^{}]*\}", ids[0])), (lang, m.id, s)


@pytest.mark.parametrize("lang", LANGS)
def test_compiled_catalog_matches_the_po(lang):
    pytest.importorskip("babel")
    cat = _read(_po(lang))
    with _po(lang).with_suffix(".mo").open("rb") as f:
        mo = gettext.GNUTranslations(f)
    for m in cat:
        if not m.id:
            continue
        if isinstance(m.id, tuple):
            assert mo.ngettext(m.id[0], m.id[1], 1) == m.string[0], m.id
            assert mo.ngettext(m.id[0], m.id[1], 2) == m.string[1], m.id
        else:
            assert mo.gettext(m.id) == m.string, (
                f"{lang}: onion.mo is older than onion.po (python -m onion.core.i18n_extract)")


def test_every_message_in_the_sources_is_extracted_and_translated():
    """A new string for people fails here until `python -m onion.core.i18n_extract` has
    taken it into the catalogs and it is translated in each."""
    pytest.importorskip("babel")
    from onion.core import i18n_extract

    fresh = i18n_extract.catalog()
    pot = _read(i18n_extract.POT)
    ours = {m.id for m in fresh if m.id and not all(
        path.startswith("click/") for path, _line in m.locations)}
    theirs = {m.id for m in fresh if m.id} - ours
    recorded = pot.header_comment or ""
    same_click = f"{i18n_extract.CLICK_MARK}{i18n_extract._click_version()}." in recorded
    want = ours | theirs if same_click else ours
    assert not want - {m.id for m in pot if m.id}, \
        f"not in onion.pot: {sorted(want - {m.id for m in pot if m.id}, key=str)}"
    for lang in LANGS:
        cat = _read(_po(lang))
        missing = [m for m in want if cat.get(m) is None or not cat.get(m).string]
        assert not missing, f"{lang}: not translated: {missing}"


def test_extraction_takes_help_texts_and_docstrings():
    from io import BytesIO

    from onion.core.i18n_extract import extract

    src = b'''import click
@click.command()
@click.option("--x", help="Plain help.")
@click.option("--y", help=N_("Marked help."))
def verb(x, y):
    """Doc of the verb.

    Example: onion verb
    """
    click.echo(_("said {n}").format(n=1))
    click.echo(ngettext("one", "many", 2))
'''
    found = {m for _line, _f, m, _c in extract(BytesIO(src), None, None, {})}
    assert found >= {"Plain help.", "Marked help.", "Doc of the verb.\n\nExample: onion verb",
                     "said {n}", ("one", "many")}


def test_catalogs_are_in_the_wheel(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, cwd=tmp_path)
    (whl,) = tmp_path.glob("onion_poller-*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    for lang in LANGS:
        assert f"onion/core/locale/{lang}/LC_MESSAGES/onion.mo" in names, lang


# -- the desktop view --------------------------------------------------------------------

_QT_TEXT = {"setText", "setWindowTitle", "setToolTip", "setPlaceholderText", "addTab",
            "setTitle", "QLabel", "QPushButton", "QAction", "QCheckBox", "QGroupBox",
            "setStatusTip", "showMessage"}


def _literals(node):
    """The string literals of an expression, but those inside _() / ngettext()."""
    import ast

    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id in ("_", "N_", "ngettext"):
        return []
    if isinstance(node, ast.Call):  # "…".format(…) is its literal; other calls are values
        return _literals(node.func.value) if isinstance(node.func, ast.Attribute) and \
            node.func.attr == "format" else []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)]
    if isinstance(node, ast.BinOp):
        return _literals(node.left) + _literals(node.right)
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def test_every_gui_label_goes_through_gettext():
    """No literal text with words handed to Qt without _() (a static read of gui/; the
    program's name and HTML tags are not words)."""
    import ast

    bad = []
    for path in sorted((ROOT / "gui").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                node.func.id if isinstance(node.func, ast.Name) else ""
            if name not in _QT_TEXT:
                continue
            arg = node.args[-1] if name == "addTab" else node.args[0]
            text = " ".join(_literals(arg))
            words = _WORD.findall(re.sub(r"<[^>]*>", "", text))
            if [w for w in words if w.lower() != "onion"]:
                bad.append(f"{path.name}:{node.lineno} {text!r}")
    assert not bad, bad


# -- alert messages ----------------------------------------------------------------------

def test_alert_messages_are_translated_and_their_payload_is_not():
    import datetime as dt

    from onion.alerts import messages
    from onion.alerts.state import Event

    now = dt.datetime(2024, 5, 1, 12, 0)
    evs = [Event(now, 7, "gpu_hot", "gpu01", "0", "firing", "firing", "critical", "97",
                 "GPU 0 at 97 °C", True, now - dt.timedelta(minutes=5)),
           Event(now, 7, "filesystem_full", "node02", "/var", "resolved", "ok", "warning",
                 "80", "/var is 80 % full", True, now - dt.timedelta(minutes=20))]
    en = messages.render(evs, now)
    i18n.use("qps")
    qps = messages.render(evs, now)
    for text in (qps.subject, qps.short, qps.text):
        # what is left outside the markers: the alerts' own values, never template words
        assert not escaped(text, {"onion", "gpu", "hot", "filesystem", "full", "node",
                                  "var", "critical", "warning", "GPU", "at", "is"}), text
    i18n.use("sv")
    sv = messages.render(evs, now)
    assert "utlösta" in sv.subject and "UTLÖST (1)" in sv.text and "ÅTERSTÄLLT" in sv.text
    assert qps.payload == sv.payload == en.payload
    assert en.payload["subject"] == en.subject and en.payload["alerts"][0]["title"] == "FIRING"
    # times for people: ISO 8601 in English, the language's own way elsewhere; the payload
    # (for programs) keeps ISO in every language
    assert "2024-05-01T12:00:00Z" in en.text and "2024-05-01T11:55:00Z" in en.html
    for text in (sv.text, sv.html):
        assert "1 maj 2024 12:00:00 UTC" in text and "1 maj 2024 11:55:00 UTC" in text
        assert "2024-05-01T" not in text
    assert sv.payload["generated_at"] == "2024-05-01T12:00:00Z"
    i18n.use("de")
    de = messages.render(evs, now)
    assert "01.05.2024, 11:55:00 UTC" in de.text and "2024-05-01T" not in de.html


# -- errors for people, by a static read ------------------------------------------------

_PEOPLE_TEXT = ["core/config.py", "core/duration.py", "core/units.py", "inventory/*.py",
                "pipeline/*.py"]


def test_every_error_for_people_goes_through_gettext():
    """No exception raised, and no line added to a round's errors or warnings, with
    literal words outside _() in the modules whose messages reach people (what poller/
    and probes/ say is stored in the database, in English, and is not read here)."""
    import ast

    bad = []
    for pattern in _PEOPLE_TEXT:
        for path in sorted(ROOT.glob(pattern)):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                    args = node.exc.args
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr == "append" and isinstance(node.func.value,
                                                                      ast.Attribute) \
                        and node.func.value.attr in ("errors", "warnings"):
                    args = node.args
                else:
                    continue
                text = " ".join(t for a in args[:1] for t in _literals(a))
                if _WORD.findall(text):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {text!r}")
    assert not bad, bad
