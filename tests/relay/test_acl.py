"""`proactive broker acl` files on a real mosquitto: a desktop reads and writes only its own topics."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edge.cli import cli
from edge.clock import SystemClock
from edge.errors import RelayError
from edge.mqtt.client import PahoRelay
from edge.mqtt.mosquitto import acl_text, pbkdf2_sha512_hash, write_mosquitto_files
from edge.mqtt.topics import HUB, topic
from edge.store import Store
from tests.relay.helpers import relay_settings

pytestmark = pytest.mark.integration


def _client(tmp: Path, port: int, user: str, password: str, role: str, name: str, cid: str) -> PahoRelay:
    s = relay_settings(port, username=user, password=password, client_id=cid)
    return PahoRelay(s, Store.open(tmp / f"{cid}.db"), role, name, SystemClock())


def _proposal(i: str, desktop: str) -> dict[str, Any]:
    now = time.time()
    return {"schema": 1, "id": i, "desktop": desktop, "task": "t", "created_at": now, "expires_at": now + 600}


@pytest.mark.parametrize("use_tool", [True, False], ids=["mosquitto_passwd", "own-pbkdf2"])
def test_acl_isolates_desktops(mosquitto: Any, tmp_path: Path, use_tool: bool) -> None:
    files = write_mosquitto_files(["alice", "bob"], tmp_path / "mq", use_tool=use_tool)
    if not use_tool:
        assert all(
            line.split(":", 1)[1].startswith("$7$101$") for line in files.passwd.read_text().splitlines()
        )
    m = mosquitto(password_file=files.passwd, acl_file=files.acl)
    pw = files.credentials
    hub = _client(tmp_path, m.port, "hub", pw["hub"], HUB, HUB, "hub")
    hub_got: list[tuple[str, str]] = []
    hub.subscribe(topic("+", "activity"), lambda d, k, p: hub_got.append((d, p["id"])))
    alice = _client(tmp_path, m.port, "alice", pw["alice"], "desktop", "alice", "alice")
    alice_got: list[str] = []
    alice.subscribe(topic("alice", "proposal"), lambda d, k, p: alice_got.append(p["id"]))
    # bob, logged in as bob, tries to read alice's proposals and to speak for alice
    spy = _client(tmp_path, m.port, "bob", pw["bob"], "desktop", "bob", "bob")
    spy_got: list[str] = []
    spy.subscribe(topic("alice", "proposal"), lambda d, k, p: spy_got.append(p["id"]))
    spy.subscribe(topic("bob", "proposal"), lambda d, k, p: spy_got.append(p["id"]))
    wrong = _client(tmp_path, m.port, "alice", "not-the-password", "desktop", "alice", "intruder")
    clients = [hub, alice, spy, wrong]
    for c in clients:
        c.start()
    try:
        assert hub.wait_connected(10) and alice.wait_connected(10) and spy.wait_connected(10)
        assert not wrong.wait_connected(1.5), "a wrong password must be refused"
        hub.publish(topic("alice", "proposal"), _proposal("for-alice", "alice"), peer="alice")
        hub.publish(topic("bob", "proposal"), _proposal("for-bob", "bob"), peer="bob")
        obs = {"text": "x", "time": "1"}
        spy.publish(
            topic("alice", "activity"), {"schema": 1, "id": "forged", "desktop": "alice", "observation": obs}
        )
        spy.publish(
            topic("bob", "activity"), {"schema": 1, "id": "bobs", "desktop": "bob", "observation": obs}
        )
        alice.publish(
            topic("alice", "activity"), {"schema": 1, "id": "alices", "desktop": "alice", "observation": obs}
        )
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for c in clients:
                c.pump(0.01)
        assert alice_got == ["for-alice"]
        assert spy_got == ["for-bob"], "bob must not read alice's proposals"
        assert sorted(hub_got) == [("alice", "alices"), ("bob", "bobs")], "bob must not publish as alice"
    finally:
        for c in clients:
            c.close()


def test_own_hash_matches_mosquitto_format() -> None:
    h = pbkdf2_sha512_hash("secret", salt=b"0123456789ab")
    _, seven, iters, salt, digest = h.split("$")
    assert seven == "7" and iters == "101"
    assert base64.b64decode(salt) == b"0123456789ab"
    assert base64.b64decode(digest) == hashlib.pbkdf2_hmac("sha512", b"secret", b"0123456789ab", 101, 64)


def test_broker_acl_command(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli, ["broker", "acl", "--desktops", "alice,bob", "--out", str(tmp_path), "--json"]
    )
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["users"] == ["alice", "bob", "hub"]
    acl = Path(info["acl"]).read_text()
    assert "user alice\ntopic write proactive/v1/alice/activity" in acl
    assert "topic read proactive/v1/bob/proposal" in acl and "topic readwrite proactive/v1/#" in acl
    assert oct(Path(info["passwd"]).stat().st_mode & 0o777) == "0o600"
    conf = Path(info["conf"]).read_text()
    assert "listener 1883 0.0.0.0\nuse_username_as_clientid true\n" in conf
    assert "listener 1884 127.0.0.1\n" in conf and "message_size_limit 262144\n" in conf
    creds = (tmp_path / "credentials.toml").read_text()
    assert '# hub\n[relay]\nbroker = "external"\nhost = "127.0.0.1"\nport = 1884\n' in creds


@pytest.mark.parametrize(
    "desktops",
    ["a/b", "alice,..", "alice,hub", "-x", "a" * 65, "été pc", " , ", "$SYS", "a+b", "proactive-hub-hub"],
)
def test_broker_acl_refuses_a_bad_desktop_name_and_writes_nothing(tmp_path: Path, desktops: str) -> None:
    out = tmp_path / "mq"
    bad = CliRunner().invoke(cli, ["broker", "acl", "--desktops", desktops, "--out", str(out)])
    assert bad.exit_code == 2, bad.output
    assert "Invalid value for '--desktops'" in bad.output and not out.exists()


@pytest.mark.parametrize("name", ["..", "hub", "-x", "a" * 300, "été pc", " ", "$SYS"])
def test_desktop_refuses_a_bad_name(name: str) -> None:
    bad = CliRunner().invoke(cli, ["desktop", "--name", name, "--max-seconds", "0"])
    assert bad.exit_code == 2 and "Invalid value for '--name'" in bad.output


def test_acl_generation_checks_names_itself() -> None:
    with pytest.raises(RelayError):
        acl_text(["alice", "été pc"])
    with pytest.raises(RelayError):
        write_mosquitto_files(["alice"], Path("/nonexistent"), port=1883, local_port=1883)
