"""Keeping the catalogs: extracting the messages, updating the ``.po`` files, compiling them.

``python -m onion.core.i18n_extract`` (from the repository; Babel is one of Onion's
dependencies) rewrites ``core/locale/onion.pot`` from the sources that ``babel.cfg`` maps and
from click's own strings, merges it into each language's ``onion.po`` (a new message comes
in untranslated, a removed one is dropped) and compiles each ``onion.mo``. Translating is
editing the ``.po``; tests/test_i18n.py fails while a message is missing or untranslated.

:func:`extract` is the Babel extraction method for Onion's sources (``babel.cfg`` names
it, so ``pybabel extract -F babel.cfg`` finds the same). Besides ``_()``, ``N_()`` and
``ngettext()`` it takes what click shows without a call to mark it: the docstring of a
function decorated as a command or group, and each ``help=`` text, both cleaned as click
cleans them (``inspect.cleandoc``), for they are looked up so at run time
(:mod:`onion.cli.translated`).

Runtime Onion never imports this module (Babel's CLDR data, in :mod:`onion.core.formats`,
only when a language other than English formats a number or a time).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from onion.core.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, SOURCE

ROOT = Path(__file__).resolve().parent.parent  # the repository (folders mapped to onion.*)
MAPPING = ROOT / "babel.cfg"
POT = LOCALE_DIR / f"{DOMAIN}.pot"
CLICK_MARK = "click's strings extracted from click "  # in the .pot's header comment
_CALLS = {"_": 1, "N_": 1, "gettext": 1, "ngettext": 2}
_HELP_KEYWORDS = ("help", "short_help", "epilog")
_DECORATORS = ("command", "group")

Found = tuple[int, str, str | tuple[str, str], list[str]]


def _text(node: ast.AST) -> str | None:
    """A string literal, or the literal inside ``N_("…")`` / ``_("…")``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id in ("N_", "_") and node.args:
        node = node.args[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _decorated_as_command(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for deco in fn.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = target.attr if isinstance(target, ast.Attribute) else \
            target.id if isinstance(target, ast.Name) else ""
        if name in _DECORATORS:
            return True
    return False


def extract(fileobj: IO[bytes], keywords: Any, comment_tags: Any,
            options: dict[str, Any]) -> Iterator[Found]:
    """Babel extraction method: (line, funcname, message, comments) per message."""
    source = fileobj.read().decode(options.get("encoding", "utf-8"))
    tree = ast.parse(source)
    uses_click = "click" in source
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) else ""
            want = _CALLS.get(name, 0)
            texts = [a.value for a in node.args[:want]
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if want and len(texts) == want:
                yield (node.lineno, name, texts[0] if want == 1 else (texts[0], texts[1]), [])
            if uses_click:
                for kw in node.keywords:
                    text = _text(kw.value) if kw.arg in _HELP_KEYWORDS else None
                    if text:
                        yield (kw.value.lineno, "N_", inspect.cleandoc(text), [])
        elif uses_click and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                and _decorated_as_command(node):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                text = inspect.cleandoc(doc).partition("\f")[0]
                yield (node.body[0].lineno, "N_", text, [])


def _mapping() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    from babel.messages import frontend

    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with MAPPING.open(encoding="utf-8") as f:
        return parse(f, filename=str(MAPPING)) if parse is not frontend.parse_mapping \
            else parse(f)


def catalog() -> Any:
    """The template catalog: Onion's sources (babel.cfg) and click's strings."""
    import click
    from babel.messages.catalog import Catalog
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    from onion.core import version

    cat = Catalog(project="onion", version=version.__version__, domain=DOMAIN,
                  header_comment=f"# Messages of Onion for people (source: English).\n"
                                 f"# {CLICK_MARK}{_click_version()}.",
                  fuzzy=False)
    method_map, options_map = _mapping()
    for filename, lineno, message, comments, context in extract_from_dir(
            ROOT, method_map, options_map, keywords={**DEFAULT_KEYWORDS, "N_": None}):
        cat.add(message, locations=[(filename, lineno)], auto_comments=comments,
                context=context)
    click_dir = Path(click.__file__).parent
    for filename, lineno, message, comments, context in extract_from_dir(
            click_dir, [("**.py", "python")], {},
            keywords={"_": None, "gettext": None, "ngettext": (1, 2)}):
        cat.add(message, locations=[(f"click/{filename}", lineno)], auto_comments=comments,
                context=context, flags=("python-brace-format",) if "{" in str(message) else ())
    return cat


def _click_version() -> str:
    from importlib.metadata import version

    return version("click")


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def update() -> None:
    """Rewrite the .pot, merge it into every .po, compile every .mo."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po, write_po

    template = catalog()
    POT.parent.mkdir(parents=True, exist_ok=True)
    with POT.open("wb") as f:
        write_po(f, template, width=96, sort_output=True, omit_header=False)
    for lang in LANGUAGES:
        if lang == SOURCE:
            continue
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as f:
                cat = read_po(f, locale=lang)
        else:
            from babel.messages.catalog import Catalog

            cat = Catalog(locale=lang, domain=DOMAIN, project="onion")
        cat.update(template, no_fuzzy_matching=True)
        cat.obsolete.clear()
        cat.project, cat.version = template.project, template.version
        cat.header_comment = (f"# {cat.locale.english_name} messages of Onion.\n"
                              f"# This file is distributed under the same license as Onion.")
        with path.open("wb") as f:
            write_po(f, cat, width=96, sort_output=True)
        with path.with_suffix(".mo").open("wb") as f:
            write_mo(f, cat)


if __name__ == "__main__":
    update()
