from __future__ import annotations

import pytest

from onion.inventory.ranges import expand, split_port


@pytest.mark.parametrize(("pattern", "names"), [
    ("node[01:03].ex", ["node01.ex", "node02.ex", "node03.ex"]),
    ("n[8:10]", ["n8", "n9", "n10"]),
    ("n[:2]", ["n0", "n1", "n2"]),
    ("r[1:5:2]-[a:b]", ["r1-a", "r1-b", "r3-a", "r3-b", "r5-a", "r5-b"]),
    ("[a:c]x", ["ax", "bx", "cx"]),
    ("plain.example.com", ["plain.example.com"]),
    ("2001:db8::1", ["2001:db8::1"]),
])
def test_expand(pattern, names):
    assert expand(pattern) == names


@pytest.mark.parametrize(("pattern", "message"), [
    ("n[1:]", "no end"),
    ("n[3:1]", "start comes after"),
    ("n[01:100]", "same width"),
    ("n[a:5]", "two numbers or two letters"),
    ("n[1:5:0]", "1 or more"),
    ("n[x]", "a range is written"),
    ("n]", "a range is written"),
])
def test_expand_errors(pattern, message):
    with pytest.raises(ValueError, match=message):
        expand(pattern)


@pytest.mark.parametrize(("text", "result"), [
    ("h", ("h", None)),
    ("h:22", ("h", 22)),
    ("[::1]:2222", ("::1", 2222)),
    ("[::1]", ("::1", None)),
    ("fe80::1", ("fe80::1", None)),
    ("n[1:3]:22", ("n[1:3]", 22)),
    ("n[1:3]", ("n[1:3]", None)),
])
def test_split_port(text, result):
    assert split_port(text) == result


@pytest.mark.parametrize("text", ["h:http", "h:0", "h:70000", "[::1]x", ":22"])
def test_split_port_errors(text):
    with pytest.raises(ValueError):
        split_port(text)
