"""Each notifier against a real receiver on loopback."""

from __future__ import annotations

import datetime as dt
import email
import json
import socket
import ssl
import subprocess
import sys
import time
from email import policy

import pytest

from onion.alerts import messages
from onion.alerts.notifiers import NotifyError, configure, plugins
from onion.alerts.state import Event
from onion.core.errors import ConfigError

NOW = dt.datetime(2024, 5, 1, 12, 0)


def events() -> list[Event]:
    since = NOW - dt.timedelta(minutes=20)
    return [Event(NOW, 7, "gpu_hot", "gpu01", "0 / GPU-1", "firing", "firing", "critical",
                  "97", "GPU 0 at 97 °C", True, NOW, {"team": "hpc"}),
            Event(NOW, 7, "filesystem_full", "<script>x</script>", "/var", "resolved",
                  "resolved", "warning", "80", "/var is 80 % full", True, since)]


def message() -> messages.Message:
    return messages.render(events(), NOW)


def test_builtins_are_entry_points():
    assert {"smtp", "webhook", "command", "apprise"} <= set(plugins())


def test_message_lists_every_alert_and_escapes_html():
    m = message()
    assert "1 firing, 1 resolved" in m.subject and "\n" not in m.subject
    assert "gpu_hot on gpu01 (0 / GPU-1): 97" in m.text and "fired for 20m00s" in m.text
    assert "<script>" not in m.html and "&lt;script&gt;" in m.html
    assert m.short.splitlines() == ["FIRING gpu_hot gpu01 0 / GPU-1 97",
                                    "RESOLVED filesystem_full <script>x</script> /var 80"]


def test_user_templates_override(tmp_path):
    (tmp_path / "subject.txt").write_text("{{ alerts|length }} things happened")
    m = messages.render(events(), NOW, str(tmp_path))
    assert m.subject == "2 things happened" and "gpu_hot" in m.text
    (tmp_path / "subject.txt").write_text("{{ nonsense.field }}")  # broken: built-ins used
    assert "1 firing" in messages.render(events(), NOW, str(tmp_path)).subject


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cert(tmp_path):
    """A self-signed certificate for 127.0.0.1, made with cryptography (asyncssh's dep)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(dt.datetime(2020, 1, 1)).not_valid_after(dt.datetime(2100, 1, 1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crt, pem = tmp_path / "cert.pem", tmp_path / "key.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


@pytest.fixture
def smtp_server(tmp_path):
    aiosmtpd = pytest.importorskip("aiosmtpd")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    del aiosmtpd
    crt, key = _cert(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)

    class Handler:
        def __init__(self):
            self.mails = []

        async def handle_DATA(self, server, session, envelope):
            self.mails.append((envelope.mail_from, envelope.rcpt_tos, envelope.content,
                               session.authenticated))
            return "250 OK"

    def auth(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"onion" and auth_data.password == b"pw"
        return AuthResult(success=ok)

    handler = Handler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=ctx,
                            require_starttls=True, authenticator=auth, auth_require_tls=True)
    controller.start()
    yield handler, port, crt
    controller.stop()


def test_smtp_starttls_with_login(smtp_server, tmp_path):
    handler, port, crt = smtp_server
    (tmp_path / "pw").write_text("pw\n")
    n = configure("mail", {"type": "smtp", "host": "127.0.0.1", "port": port,
                           "username": "onion", "password_file": str(tmp_path / "pw"),
                           "ca_file": str(crt), "from_addr": "onion@example.org",
                           "to": ["ops@example.org", "hpc@example.org"]}, 5.0)
    n.send(message())
    assert len(handler.mails) == 1
    sender, rcpts, content, authenticated = handler.mails[0]
    assert sender == "onion@example.org" and rcpts == ["ops@example.org", "hpc@example.org"]
    assert authenticated
    mail = email.message_from_bytes(content, policy=policy.default)
    assert "1 firing, 1 resolved" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert "gpu_hot on gpu01" in text
    assert "&lt;script&gt;" in mail.get_body(("html",)).get_content()


def test_smtp_wrong_password_and_untrusted_cert_fail(smtp_server):
    handler, port, crt = smtp_server
    bad = configure("mail", {"type": "smtp", "host": "127.0.0.1", "port": port,
                             "username": "onion", "password": "nope", "ca_file": str(crt),
                             "to": ["ops@example.org"]}, 2.0)
    # aiosmtpd answers a refused login slowly; any failure will do, within the timeout.
    with pytest.raises(NotifyError, match=r"127\.0\.0\.1"):
        bad.send(message())
    untrusted = configure("mail", {"type": "smtp", "host": "127.0.0.1", "port": port,
                                   "to": ["ops@example.org"]}, 5.0)
    with pytest.raises(NotifyError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        untrusted.send(message())
    assert handler.mails == []


def test_smtp_down_is_a_notify_error():
    n = configure("mail", {"type": "smtp", "host": "127.0.0.1", "port": _free_port(),
                           "security": "none", "to": ["x@example.org"]}, 2.0)
    with pytest.raises(NotifyError, match=r"127\.0\.0\.1"):
        n.send(message())


def test_webhook_signature_and_errors(hook):
    n = configure("hook", {"type": "webhook", "url": hook.url, "secret": "k",
                           "headers": {"X-Team": "hpc"}}, 5.0)
    n.send(message())
    path, headers, body = hook.requests[0]
    from onion.alerts.notifiers.webhook import sign
    assert path == "/hook" and headers["X-Onion-Signature"] == sign(body, "k")
    assert headers["X-Team"] == "hpc" and headers["Content-Type"] == "application/json"
    assert json.loads(body)["alerts"][0]["labels"] == {"team": "hpc"}
    hook.status = 500
    with pytest.raises(NotifyError, match="HTTP 500"):
        n.send(message())
    hook.status = 302
    with pytest.raises(NotifyError, match="HTTP 302"):
        n.send(message())


def test_webhook_timeout():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)  # accepts the connection, never answers
    try:
        n = configure("hook", {"type": "webhook", "timeout": 0.5,
                               "url": f"http://127.0.0.1:{srv.getsockname()[1]}/"}, 5.0)
        t0 = time.monotonic()
        with pytest.raises(NotifyError):
            n.send(message())
        assert time.monotonic() - t0 < 5
    finally:
        srv.close()


def test_apprise_json_url_reaches_local_server(hook):
    pytest.importorskip("apprise")
    n = configure("chat", {"type": "apprise", "short": True,
                           "urls": [f"json://127.0.0.1:{hook.port}/chat"]}, 5.0)
    n.send(message())
    path, _, body = hook.requests[0]
    got = json.loads(body)
    assert path == "/chat" and "1 firing" in got["title"]
    assert got["message"].startswith("FIRING gpu_hot gpu01")
    hook.status = 500
    with pytest.raises(NotifyError, match="apprise"):
        n.send(message())


def test_command_gets_env_and_json_without_a_shell(tmp_path):
    out = tmp_path / "out.json"
    script = tmp_path / "hook.py"
    script.write_text("import json, os, sys\n"
                      "data = json.load(sys.stdin)\n"
                      "env = {k: v for k, v in os.environ.items() if k.startswith('ONION_')}\n"
                      "with open(sys.argv[1], 'a') as f:\n"
                      "    f.write(json.dumps({'env': env, 'stdin': data}) + '\\n')\n")
    n = configure("run", {"type": "command", "argv": [sys.executable, str(script), str(out)],
                          "env": {"ONION_EXTRA": "1"}}, 5.0)
    n.send(message())
    (got,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert got["env"]["ONION_COUNT"] == "2" and got["env"]["ONION_FIRING"] == "1"
    assert got["env"]["ONION_HOSTS"] == "<script>x</script> gpu01"
    assert got["env"]["ONION_EXTRA"] == "1" and "ONION_RULE" not in got["env"]
    assert got["stdin"]["alerts"][0]["rule"] == "gpu_hot"
    out.unlink()
    per = configure("run", {"type": "command", "per_alert": True,
                            "argv": [sys.executable, str(script), str(out)]}, 5.0)
    per.send(message())
    runs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["env"]["ONION_RULE"] for r in runs] == ["gpu_hot", "filesystem_full"]
    assert runs[1]["env"]["ONION_HOST"] == "<script>x</script>"  # data, never a shell word


def test_command_failure_and_timeout(tmp_path):
    fail = configure("run", {"type": "command", "argv": [sys.executable, "-c",
                             "import sys; sys.stderr.write('no pager'); sys.exit(3)"]}, 5.0)
    with pytest.raises(NotifyError, match="exited 3: no pager"):
        fail.send(message())
    slow = configure("run", {"type": "command", "timeout": 0.5,
                             "argv": [sys.executable, "-c", "import time; time.sleep(30)"]}, 5)
    with pytest.raises(NotifyError, match="no exit within"):
        slow.send(message())
    with pytest.raises(NotifyError):
        configure("run", {"type": "command", "argv": ["/nonexistent/pager"]}, 5.0).send(
            message())


@pytest.mark.parametrize("table, error", [
    ({"type": "smtp"}, "to = "),
    ({"type": "smtp", "to": ["a@b"], "security": "ssl"}, "security"),
    ({"type": "smtp", "to": ["a@b"], "port": "25"}, "port must be int"),
    ({"type": "webhook", "url": "file:///etc/passwd"}, "http"),
    ({"type": "webhook", "url": "http://x/", "secret": "a", "secret_file": "b"}, "not both"),
    ({"type": "command", "argv": "page me"}, "argv must be list"),
    ({"type": "pigeon"}, "type must be one of"),
    ({"type": "webhook", "url": "http://x/", "colour": "red"}, "unknown setting 'colour'"),
])
def test_bad_notifier_settings(table, error):
    with pytest.raises(ConfigError, match=error):
        configure("n", table, 5.0)


def test_command_runs_without_shell_interpolation(tmp_path):
    marker = tmp_path / "pwned"
    n = configure("run", {"type": "command",
                          "argv": ["/bin/echo", f"$(touch {marker})"]}, 5.0)
    n.send(message())
    assert not marker.exists()
    assert subprocess.run(["true"]).returncode == 0
