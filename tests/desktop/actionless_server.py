"""A notification server without actions, for `test_headless`: ``python actionless_server.py READY_FILE``.

It owns org.freedesktop.Notifications on the session bus and answers the
spec's methods, but its GetCapabilities has no "actions" (a server that cannot
show buttons); it writes READY_FILE once it owns the name and serves until
killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

INTERFACE = "org.freedesktop.Notifications"
INTROSPECTION = f"""<node><interface name="{INTERFACE}">
<method name="GetCapabilities"><arg direction="out" type="as"/></method>
<method name="GetServerInformation">
  <arg direction="out" type="s"/><arg direction="out" type="s"/>
  <arg direction="out" type="s"/><arg direction="out" type="s"/></method>
<method name="Notify">
  <arg direction="in" type="s"/><arg direction="in" type="u"/><arg direction="in" type="s"/>
  <arg direction="in" type="s"/><arg direction="in" type="s"/><arg direction="in" type="as"/>
  <arg direction="in" type="a{{sv}}"/><arg direction="in" type="i"/><arg direction="out" type="u"/></method>
<method name="CloseNotification"><arg direction="in" type="u"/></method>
<signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
<signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
</interface></node>"""

REPLIES = {
    "Introspect": ("s", [INTROSPECTION]),
    "GetCapabilities": ("as", [["body"]]),
    "GetServerInformation": ("ssss", ["actionless", "tests", "1.0", "1.2"]),
    "Notify": ("u", [1]),
    "CloseNotification": ("", []),
}


def answer(msg: Message) -> Message | None:
    if msg.message_type != MessageType.METHOD_CALL or msg.member not in REPLIES:
        return None
    signature, body = REPLIES[msg.member]
    return Message.new_method_return(msg, signature, body)


async def main(ready: Path) -> None:
    bus = await MessageBus().connect()
    bus.add_message_handler(answer)
    await bus.request_name(INTERFACE)
    ready.write_text("ok")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
