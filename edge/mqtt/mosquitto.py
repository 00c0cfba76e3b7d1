"""mosquitto files for a house with several desktops: passwords, a per-desktop ACL, a listener config.

`write_mosquitto_files` (``proactive broker acl``) writes them; the hub may do
everything under ``proactive/v1``, each desktop only its own topics.

Client ids are tied to users where the desktops connect: mosquitto lets any
authenticated client take over the connection of another client with the same
id, so the desktops' listener sets ``use_username_as_clientid true`` (the
broker replaces each client id with the user name: desktop a's login is
client ``a``, whatever id it asks for, and can disconnect no one else). The
hub's own machine gets a second listener on loopback (``local_port``) where
ids are not replaced, so the hub, its dashboard and ``proactive doctor``,
which share the hub's user, keep their own ids and do not evict each other.
Desktop names may not begin with ``proactive-``: that prefix is the hub
side's client ids'. Every listener refuses payloads over
`edge.mqtt.payloads.MAX_PAYLOAD` (``message_size_limit``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edge.errors import RelayError
from edge.mqtt.payloads import MAX_PAYLOAD
from edge.mqtt.topics import CLIENT_ID_PREFIX, HUB_STATUS, PREFIX, check_name, topic

LOCAL_PORT = 1884
"""The hub machine's loopback listener, where client ids are the clients' own."""


def pbkdf2_sha512_hash(password: str, salt: bytes | None = None, iterations: int = 101) -> str:
    """A mosquitto 2.x password hash (``$7$`` = PBKDF2-SHA512, as ``mosquitto_passwd`` writes)."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, dklen=64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_desktop_user(name: str) -> str:
    """``name`` if it can be a desktop's name and mosquitto user, else raise `RelayError`."""
    check_name(name)
    if name.startswith(CLIENT_ID_PREFIX):
        raise RelayError(
            f"Desktop name {name!r} begins with {CLIENT_ID_PREFIX!r}.",
            "That prefix is the hub side's MQTT client ids' (a desktop's user name is its client id); "
            "choose another name.",
        )
    return name


def conf_text(
    passwd: str,
    acl: str,
    port: int = 1883,
    bind: str = "0.0.0.0",
    local_port: int | None = LOCAL_PORT,
    header: str = "# proactive-edge: mosquitto with passwords, a per-desktop ACL and bounded messages\n",
) -> str:
    """The mosquitto configuration: the desktops' listener on ``bind:port`` ties client ids to users;
    the hub machine's own on ``127.0.0.1:local_port`` (None: none) keeps them (see the module doc)."""
    text = (
        header + "per_listener_settings false\n"
        "allow_anonymous false\n"
        f"password_file {passwd}\n"
        f"acl_file {acl}\n"
        f"# every proactive payload is under {MAX_PAYLOAD} bytes: refuse bigger ones\n"
        f"message_size_limit {MAX_PAYLOAD}\n"
        "\n"
        "# the desktops: each client id is replaced with the user name, so a desktop's login\n"
        "# cannot claim another client's id (and disconnect it), the hub's included\n"
        f"listener {port} {bind}\n"
        "use_username_as_clientid true\n"
    )
    if local_port:
        text += (
            "\n"
            "# the hub's machine (proactive run, tui, doctor: relay.host 127.0.0.1, relay.port "
            f"{local_port}):\n"
            "# loopback only; clients keep their own ids: the hub and its dashboard do not evict each other\n"
            f"listener {local_port} 127.0.0.1\n"
        )
    return text


def acl_text(desktops: list[str], hub_user: str = "hub") -> str:
    """The mosquitto ACL: the hub may do everything under proactive/v1; each desktop only its own topics.

    Raises `RelayError` for a desktop name that breaks the rule (`check_desktop_user`)."""
    for d in desktops:
        check_desktop_user(d)
    lines = [
        "# proactive-edge ACL (written by `proactive broker acl`). Anonymous clients get nothing.",
        f"user {hub_user}",
        f"topic readwrite {PREFIX}/#",
        "",
    ]
    for d in desktops:
        lines += [
            f"user {d}",
            *(f"topic write {topic(d, kind)}" for kind in ("activity", "feedback", "status")),
            *(f"topic read {topic(d, kind)}" for kind in ("proposal", "result")),
            f"topic read {HUB_STATUS}",
            "",
        ]
    return "\n".join(lines)


@dataclass
class MosquittoFiles:
    passwd: Path
    acl: Path
    conf: Path
    credentials: dict[str, str]
    used_mosquitto_passwd: bool


def _write_private(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def write_mosquitto_files(
    desktops: list[str],
    out: Path,
    port: int = 1883,
    bind: str = "0.0.0.0",
    hub_user: str = "hub",
    passwords: dict[str, str] | None = None,
    use_tool: bool = True,
    local_port: int | None = LOCAL_PORT,
) -> MosquittoFiles:
    """Write ``passwd``, ``acl``, ``mosquitto.conf`` and ``credentials.toml`` into ``out``.

    Each user (the hub and every desktop) gets a random password unless
    ``passwords`` names one. Uses ``mosquitto_passwd`` when installed (and
    ``use_tool``), else writes the same PBKDF2-SHA512 format itself. The
    configuration is `conf_text`'s: desktops on ``bind:port`` (client id =
    user name), the hub's machine on ``127.0.0.1:local_port``.
    Raises `RelayError` for a bad desktop or hub user name, clashing ports, or
    an unwritable directory; nothing is written then.
    """
    if not desktops:
        raise RelayError("No desktop names given.", "Pass --desktops alice-pc,bob-laptop.")
    if hub_user != "hub":
        check_desktop_user(hub_user)
    if local_port == port:
        raise RelayError(
            f"The hub's loopback listener cannot share port {port} with the desktops' listener.",
            "Choose another --local-port (1884 by default), or 0 for none.",
        )
    users = [hub_user, *(check_desktop_user(d) for d in desktops)]
    if len(set(users)) != len(users):
        raise RelayError(
            "Desktop names must be distinct and not the hub's user.", f"Got: {', '.join(desktops)}"
        )
    creds = {u: (passwords or {}).get(u) or secrets.token_urlsafe(18) for u in users}
    try:
        out.mkdir(parents=True, exist_ok=True)
        passwd, acl, conf = out / "passwd", out / "acl", out / "mosquitto.conf"
        tool = shutil.which("mosquitto_passwd") if use_tool else None
        if tool:
            passwd.unlink(missing_ok=True)
            for i, u in enumerate(users):
                create = ["-c"] if i == 0 else []
                cmd = [tool, *create, "-b", str(passwd), u, creds[u]]
                subprocess.run(cmd, check=True, capture_output=True, timeout=30)
        else:
            _write_private(passwd, "".join(f"{u}:{pbkdf2_sha512_hash(creds[u])}\n" for u in users))
        passwd.chmod(0o600)
        acl.write_text(acl_text(list(desktops), hub_user), encoding="utf-8")
        conf.write_text(
            conf_text(str(passwd.resolve()), str(acl.resolve()), port, bind, local_port)
            + "persistence true\n"
            "# add certfile/keyfile/cafile lines to the desktops' listener for TLS (port 8883), "
            "see firmware-notes/README.md\n",
            encoding="utf-8",
        )
        toml = ["# One [relay] block per machine: copy it into that machine's config.toml.", ""]
        for u in users:
            if u == hub_user and local_port:
                where = ['host = "127.0.0.1"', f"port = {local_port}"]
            else:
                where = ['# host = "<the broker\'s address>"', f"port = {port}"]
            toml += [
                f"# {u}",
                "[relay]",
                'broker = "external"',
                *where,
                f'username = "{u}"',
                f'password = "{creds[u]}"',
                "",
            ]
        _write_private(out / "credentials.toml", "\n".join(toml))
    except (OSError, subprocess.SubprocessError) as e:
        raise RelayError(
            f"Cannot write the mosquitto files in {out}: {e}", "Check the directory is writable."
        ) from e
    return MosquittoFiles(passwd, acl, conf, creds, bool(tool))
