"""--shard K/N: every host in exactly one shard, about 1/N each, and a new poller takes
hosts only from the others' shares, never moving a host between two old pollers."""

import pytest

from onion.core.errors import ConfigError
from onion.inventory import shard
from onion.pipeline.setup import inventory, load_config

NAMES = [f"node{i:04d}.cluster{i % 7}" for i in range(3000)]


def test_each_host_in_one_shard_and_the_shares_even():
    for n in (1, 2, 3, 7):
        owners = {h: shard.Shard(1, n).owner(h) for h in NAMES}
        for k in range(1, n + 1):
            mine = [h for h in NAMES if shard.Shard(k, n).owns(h)]
            assert mine == [h for h in NAMES if owners[h] == k]
            assert abs(len(mine) - len(NAMES) / n) < 0.15 * len(NAMES) / n, (k, n, len(mine))


def test_adding_a_poller_moves_only_what_the_new_one_takes():
    for n in (2, 3, 9):
        before = {h: shard.Shard(1, n).owner(h) for h in NAMES}
        after = {h: shard.Shard(1, n + 1).owner(h) for h in NAMES}
        moved = [h for h in NAMES if before[h] != after[h]]
        assert all(after[h] == n + 1 for h in moved)  # to the new poller, nowhere else
        assert abs(len(moved) - len(NAMES) / (n + 1)) < 0.2 * len(NAMES) / (n + 1)


@pytest.mark.parametrize("bad", ["", "3", "0/3", "4/3", "1/0", "a/b", "1/99999"])
def test_a_bad_shard_is_refused(bad):
    with pytest.raises(ConfigError, match="--shard"):
        shard.parse(bad)


def test_the_inventory_is_split_by_shard_and_config(tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("\n".join(NAMES[:60]) + "\n")
    cfg = load_config(None, str(tmp_path / "o.duckdb"))
    parts = [[h.name for h in inventory(cfg, str(hosts), None, f"{k}/3")[0]]
             for k in (1, 2, 3)]
    assert sorted(h for p in parts for h in p) == sorted(NAMES[:60]) and all(parts)
    cfg.daemon.shard = "2/3"
    assert [h.name for h in inventory(cfg, str(hosts))[0]] == parts[1]
    assert [h.name for h in inventory(cfg, str(hosts), "node000*")[0]] == \
        [h for h in parts[1] if h.startswith("node000")]
    cfg.daemon.shard = "x"
    with pytest.raises(ConfigError, match=r"\[daemon\] shard"):
        inventory(cfg, str(hosts))
