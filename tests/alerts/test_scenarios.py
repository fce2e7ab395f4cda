"""Rounds of polls with a controlled clock, told to a real webhook receiver on loopback."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from click.testing import CliRunner

from onion.alerts import config as alert_config
from onion.alerts import engine
from onion.cli.main import main
from onion.storage import catalog
from tests.alerts.conftest import Fleet, write_config

HOT_GPU = '''
[alerts]
notifiers = ["hook"]
disable = ["host_down"]
flap_changes = {flap}
flap_window = "1h"

[[alerts.rules]]
name = "gpu_hot"
for = "10m"

[notifiers.hook]
type = "webhook"
url = "{url}"
secret = "s3cret"
'''


def gpu(host: str, celsius: float, index: int = 0) -> dict:
    return {"host": host, "index": index, "uuid": f"GPU-{host}-{index}",
            "name": "H100", "temperature_celsius": celsius}


def setup(fleet: Fleet, hook, flap: int = 6) -> None:
    write_config(fleet.cfg_path, HOT_GPU.format(url=hook.url, flap=flap))


def told(hook) -> list[tuple[str, str, str, str]]:
    return [(a["event"], a["rule"], a["host"], a["item"])
            for p in hook.payloads() for a in p["alerts"]]


def test_for_delays_firing_and_clear_holds_until_below(fleet, hook):
    setup(fleet, hook)
    fleet.poll({"gpu": [gpu("a", 95)]})            # pending
    fleet.poll({"gpu": [gpu("a", 96)]})            # 5 min: still pending
    assert hook.requests == []
    assert fleet.sql("SELECT state FROM alerts") == [("pending",)]
    fleet.poll({"gpu": [gpu("a", 97)]})            # 10 min: fires
    assert told(hook) == [("firing", "gpu_hot", "a", "0 / GPU-a-0")]
    fleet.poll({"gpu": [gpu("a", 88)]})            # below 90 but not below 85: holds
    fleet.poll({"gpu": [gpu("a", 86)]})
    assert len(hook.requests) == 1
    assert fleet.sql("SELECT state, value FROM alerts") == [("firing", "86")]
    fleet.poll({"gpu": [gpu("a", 80)]})            # cleared
    assert told(hook)[1] == ("resolved", "gpu_hot", "a", "0 / GPU-a-0")
    recovery = hook.payloads()[1]["alerts"][0]
    assert recovery["duration_s"] == 15 * 60 and recovery["value"] == "80"
    fleet.poll({"gpu": [gpu("a", 80)]})
    assert len(hook.requests) == 2
    # The signature is the HMAC-SHA256 of the exact body.
    for _, headers, body in hook.requests:
        want = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Onion-Signature"], want)


def test_a_pending_alert_that_stops_is_never_told(fleet, hook):
    setup(fleet, hook)
    fleet.poll({"gpu": [gpu("a", 95)]})
    fleet.poll({"gpu": [gpu("a", 70)]})
    fleet.poll({"gpu": [gpu("a", 95)]})
    fleet.poll({"gpu": [gpu("a", 70)]})
    assert hook.requests == []
    events = [r[0] for r in fleet.sql("SELECT event FROM alert_events ORDER BY ts")]
    assert events == ["pending", "cancelled", "pending", "cancelled"]


def test_one_message_per_run_for_many_hosts(fleet, hook):
    setup(fleet, hook)
    hosts = tuple(f"n{i:02d}" for i in range(10))
    for _ in range(3):
        fleet.poll({"gpu": [gpu(h, 99) for h in hosts]}, hosts=hosts)
    assert len(hook.requests) == 1
    payload = hook.payloads()[0]
    assert payload["firing"] == 10 and {a["host"] for a in payload["alerts"]} == set(hosts)
    assert "10 firing" in payload["subject"]


def test_flapping_is_told_once_then_held(fleet, hook):
    write_config(fleet.cfg_path, HOT_GPU.format(url=hook.url, flap=4).replace(
        'for = "10m"', 'for = "0s"'))
    for i in range(12):                             # hot, cool, hot, cool … every 5 min
        fleet.poll({"gpu": [gpu("a", 99 if i % 2 == 0 else 70)]})
    kinds = [t[0] for t in told(hook)]
    # Three changes are told as they happen; the fourth makes it flapping, told once;
    # the eight changes after that are not told.
    assert kinds == ["firing", "resolved", "firing", "flapping"]
    assert fleet.sql("SELECT held FROM alerts") == [(True,)]
    for _ in range(13):                             # stable (hot) for a whole window
        fleet.poll({"gpu": [gpu("a", 99)]})
    kinds = [t[0] for t in told(hook)]
    assert kinds == ["firing", "resolved", "firing", "flapping", "settled"]
    assert hook.payloads()[-1]["alerts"][0]["state"] == "firing"


def test_a_recovered_host_sends_one_recovery(fleet, hook):
    write_config(fleet.cfg_path, f'''
[alerts]
notifiers = ["hook"]
[notifiers.hook]
type = "webhook"
url = "{hook.url}"
''')
    hosts = ("a", "b", "c")
    fleet.poll(hosts=hosts)
    fleet.poll(hosts=hosts, down={"b": "unreachable"})      # one failed poll: pending
    assert hook.requests == []
    fleet.poll(hosts=hosts, down={"b": "unreachable", "c": "timeout"})  # b fires
    fleet.poll(hosts=hosts, down={"b": "unreachable", "c": "timeout"})  # c fires
    fleet.poll(hosts=hosts, down={"b": "unreachable", "c": "timeout"})
    fleet.poll(hosts=hosts)                                  # both back: one message
    fleet.poll(hosts=hosts)
    assert told(hook) == [("firing", "host_down", "b", ""), ("firing", "host_down", "c", ""),
                          ("resolved", "host_down", "b", ""),
                          ("resolved", "host_down", "c", "")]
    assert len(hook.requests) == 3
    assert hook.payloads()[2]["resolved"] == 2


def test_a_failing_notifier_delivers_once_it_is_back(fleet, hook):
    setup(fleet, hook)
    hook.status = 500
    for _ in range(3):
        report = fleet.poll({"gpu": [gpu("a", 99)]})
    assert report.failed == 1 and hook.requests == []
    status, attempts, error = fleet.sql(
        "SELECT status, attempts, last_error FROM alert_outbox")[0]
    assert (status, attempts) == ("pending", 1) and "HTTP 500" in error
    report = fleet.poll({"gpu": [gpu("a", 99)]})
    assert report.failed == 1
    hook.status = 200
    fleet.poll({"gpu": [gpu("a", 70)]})             # resolves while the hook is back
    assert told(hook) == [("firing", "gpu_hot", "a", "0 / GPU-a-0"),
                          ("resolved", "gpu_hot", "a", "0 / GPU-a-0")]
    assert fleet.sql("SELECT status, attempts FROM alert_outbox ORDER BY id") == \
        [("sent", 3), ("sent", 1)]
    fleet.poll({"gpu": [gpu("a", 70)]})
    assert len(hook.requests) == 2                   # nothing sent twice


def test_a_dead_notifier_never_fails_the_evaluation(fleet, tmp_path):
    write_config(fleet.cfg_path, '''
[alerts]
notifiers = ["hook"]
[notifiers.hook]
type = "webhook"
url = "http://127.0.0.1:9/nobody-listens"
timeout = 2.0
''')
    fleet.poll(down={"a": "timeout"})
    report = fleet.poll(down={"a": "timeout"})
    assert report.failed == 1 and not report.errors
    assert fleet.sql("SELECT state FROM alerts") == [("firing",)]


def test_replay_gives_the_firings_of_the_rounds(fleet, hook):
    setup(fleet, hook)
    temps = [95, 96, 97, 99, 88, 80, 95, 95, 95, 99, 70, 92, 70]
    for i, t in enumerate(temps):
        fleet.poll({"gpu": [gpu("a", t), gpu("b", temps[-1 - i])]}, hosts=("a", "b"))
    live = fleet.sql("SELECT ts, event, host, item FROM alert_events "
                     "WHERE event IN ('firing', 'resolved') ORDER BY ts, host")
    assert len(live) >= 4
    cfg = fleet.cfg()
    rule = {r.name: r for r in alert_config.check(cfg)}["gpu_hot"]
    import duckdb

    con = duckdb.connect(str(fleet.db), read_only=True)
    out = engine.replay(con, rule, fleet.now - dt.timedelta(days=2),
                        alert_config.policy(cfg.alerts), catalog.table_specs(con))
    con.close()
    replayed = sorted((e.ts, e.event, e.host, e.item) for e in out.events
                      if e.event in ("firing", "resolved"))
    assert replayed == sorted(live)
    result = CliRunner().invoke(main, ["alerts", "test", "gpu_hot", "--since", "30d",
                                       "--config", str(fleet.cfg_path), "--db", str(fleet.db)])
    assert result.exit_code == 0, result.output
    fired = sum(e == "firing" for _, e, _, _ in live)
    resolved = sum(e == "resolved" for _, e, _, _ in live)
    assert f"fired {fired} time(s), resolved {resolved}" in result.output
    assert f"{fired + resolved} alert notification(s) in {len(hook.requests)} run" \
        in result.output


IDLE_GPU = '''
[alerts]
notifiers = ["hook"]
disable = ["host_down"]
{rule}
[notifiers.hook]
type = "webhook"
url = "{url}"
'''


def test_an_idle_reservation_is_off_by_default_and_fires_after_an_hour_when_on(fleet, hook):
    def held(util: float | None) -> dict:
        return {**gpu("a", 40), "utilization_pct": util, "memory_used_bytes": 78 << 30,
                "memory_total_bytes": 80 << 30}

    write_config(fleet.cfg_path, IDLE_GPU.format(url=hook.url, rule=""))
    for _ in range(14):                                  # 70 minutes held, idle: off
        fleet.poll({"gpu": [held(0.0)]})
    assert hook.requests == [] and "gpu_idle_reserved" not in {
        r.name for r in alert_config.check(fleet.cfg())}
    write_config(fleet.cfg_path, IDLE_GPU.format(url=hook.url, rule=(
        '[[alerts.rules]]\nname = "gpu_idle_reserved"\nenabled = true\n')))
    for _ in range(12):                                  # 0 to 55 minutes: pending
        fleet.poll({"gpu": [held(1.0)]})
    assert hook.requests == []
    fleet.poll({"gpu": [held(2.0)]})                     # an hour: fires
    assert told(hook) == [("firing", "gpu_idle_reserved", "a", "0 / GPU-a-0")]
    fleet.poll({"gpu": [held(None)]})                    # MIG: no GPU-wide use, not judged idle
    fleet.poll({"gpu": [held(60.0)]})                    # busy again: resolved
    assert told(hook)[-1] == ("resolved", "gpu_idle_reserved", "a", "0 / GPU-a-0")
