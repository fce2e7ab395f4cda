from __future__ import annotations

import pytest

from onion.core.errors import ConfigError
from onion.inventory.limit import select, split
from onion.inventory.model import Host

HOSTS = [
    Host(name="login1", groups=("cluster", "login")),
    Host(name="node01", groups=("cluster", "compute")),
    Host(name="node02", groups=("cluster", "compute", "gpu")),
    Host(name="node03", groups=("cluster", "compute", "gpu")),
    Host(name="db1", groups=("ungrouped",)),
    Host(name="2001:db8::1", groups=("ungrouped",)),
]


def names(pattern):
    return [h.name for h in select(HOSTS, pattern)]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("all", ["login1", "node01", "node02", "node03", "db1", "2001:db8::1"]),
    ("*", ["login1", "node01", "node02", "node03", "db1", "2001:db8::1"]),
    ("compute", ["node01", "node02", "node03"]),
    ("db1", ["db1"]),
    ("node0*", ["node01", "node02", "node03"]),
    ("log*", ["login1"]),                      # a glob on group names too
    ("login,db1", ["login1", "db1"]),
    ("login:db1", ["login1", "db1"]),
    ("compute:!gpu", ["node01"]),
    ("!gpu:compute", ["node01"]),              # order of terms does not matter
    ("cluster:&gpu", ["node02", "node03"]),
    ("cluster:&gpu:!node03", ["node02"]),
    ("!cluster", ["db1", "2001:db8::1"]),      # only exclusions: start from all
    ("ungrouped", ["db1", "2001:db8::1"]),
    ("2001:db8::1", ["2001:db8::1"]),          # an IPv6 name is not split on ':'
    ("compute[0:1]", ["node01", "node02"]),    # positions, as Ansible reads a subscript
    ("~node0[13]", ["node01", "node03"]),      # regular expression
    ("db1, login1", ["login1", "db1"]),        # inventory order, spaces allowed
    ("compute:&login", []),                    # both exist, no overlap: no error
])
def test_select(pattern, expected):
    assert names(pattern) == expected


def test_split():
    assert split("a:b[1:3]:!c") == ["a", "b[1:3]", "!c"]
    assert split("a,b:c") == ["a", "b:c"]


@pytest.mark.parametrize("pattern", ["nosuch", "compute:nosuch", "all:!typo", "&nope", "zz*"])
def test_unknown_term_is_an_error(pattern):
    with pytest.raises(ConfigError, match=r"matches no host and no group") as info:
        select(HOSTS, pattern)
    assert "compute" in str(info.value)  # the message lists what exists


@pytest.mark.parametrize("pattern", ["", "  ", "!", "~(unclosed", "node[3:1]"])
def test_malformed_patterns(pattern):
    with pytest.raises(ConfigError, match="limit"):
        select(HOSTS, pattern)


def test_subscripts_by_position_as_ansible_reads_them():
    from onion.core.errors import ConfigError
    from onion.inventory.limit import select
    from onion.inventory.model import Host

    hosts = [Host(name=n, groups=("web",)) for n in ("cobweb", "webbing", "weber")] + \
        [Host(name="node01"), Host(name="node02")]

    def names(p):
        return [h.name for h in select(hosts, p)]

    assert names("web[0]") == ["cobweb"]
    assert names("web[-1]") == ["weber"]
    assert names("web[0:1]") == ["cobweb", "webbing"]      # the end is included
    assert names("web[1:]") == ["webbing", "weber"]
    assert names("web[0:1]:!webbing") == ["cobweb"]
    import pytest
    with pytest.raises(ConfigError, match="no position 5"):
        select(hosts, "web[5]")
    # node[01:02] is a range in an inventory, a subscript in a limit (as in Ansible): said.
    with pytest.raises(ConfigError, match="positions, not as a range"):
        select(hosts, "node[01:02]")
