"""Host names in the order people read them."""

from onion.core.natural import natural_key


def test_numbers_inside_names_sort_as_numbers():
    names = ["127.0.0.10", "node10", "127.0.0.2", "Node2", "node1", "gpu-a100-3", "gpu-a100-12",
             "127.0.0.1", "node02"]
    assert sorted(names, key=natural_key) == [
        "127.0.0.1", "127.0.0.2", "127.0.0.10", "gpu-a100-3", "gpu-a100-12", "node1",
        "Node2", "node02", "node10"]


def test_the_order_is_total_and_stable():
    assert natural_key("a1") != natural_key("a01") and natural_key("") < natural_key("a")
