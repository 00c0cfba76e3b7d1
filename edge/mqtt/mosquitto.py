"""mosquitto files for a house with several desktops: passwords, a per-desktop ACL, a listener config.

`write_mosquitto_files` (``proactive broker acl``) writes them; the hub may do
everything under ``proactive/v1``, each desktop only its own topics.
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
from edge.mqtt.topics import HUB_STATUS, PREFIX, check_name, topic


def pbkdf2_sha512_hash(password: str, salt: bytes | None = None, iterations: int = 101) -> str:
    """A mosquitto 2.x password hash (``$7$`` = PBKDF2-SHA512, as ``mosquitto_passwd`` writes)."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, dklen=64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def acl_text(desktops: list[str], hub_user: str = "hub") -> str:
    """The mosquitto ACL: the hub may do everything under proactive/v1; each desktop only its own topics."""
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
) -> MosquittoFiles:
    """Write ``passwd``, ``acl``, ``mosquitto.conf`` and ``credentials.toml`` into ``out``.

    Each user (the hub and every desktop) gets a random password unless
    ``passwords`` names one. Uses ``mosquitto_passwd`` when installed (and
    ``use_tool``), else writes the same PBKDF2-SHA512 format itself.
    Raises `RelayError` for a bad desktop name or an unwritable directory.
    """
    users = [hub_user, *(check_name(d) for d in desktops)]
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
            "# proactive-edge: mosquitto listener with passwords and per-desktop ACL\n"
            "per_listener_settings false\n"
            f"listener {port} {bind}\n"
            "allow_anonymous false\n"
            f"password_file {passwd.resolve()}\n"
            f"acl_file {acl.resolve()}\n"
            "persistence true\n"
            "# add certfile/keyfile/cafile lines here for TLS (port 8883), see firmware-notes/README.md\n",
            encoding="utf-8",
        )
        toml = ["# One [relay] block per machine: copy it into that machine's config.toml.", ""]
        for u in users:
            toml += [
                f"# {u}",
                "[relay]",
                'broker = "external"',
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
