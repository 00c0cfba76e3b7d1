"""The MQTT room: how the hub and the desktops talk.

One module per job, as Home Assistant's ``mqtt/`` integration keeps them apart:

* `edge.mqtt.topics`    the topic tree ``proactive/v1/<desktop>/<kind>`` and desktop names
* `edge.mqtt.payloads`  the schema-1 JSON payloads: builders, `decode`, `PayloadError`
* `edge.mqtt.relay`     the `Relay` protocol and its transport-independent core
                        (durable outbox, duplicate-dropping inbox, dispatch)
* `edge.mqtt.client`    the paho-backed relay and `probe_broker` (the only paho importer)
* `edge.mqtt.links`     the two roles: `HubLink`, `DesktopLink`, and `RelaySink`
* `edge.mqtt.broker`    the embedded amqtt broker (the only amqtt importer)
* `edge.mqtt.mosquitto` mosquitto password, ACL and config files

The outbox and inbox tables' SQL is in `edge.store.relay`. Importing this
package imports nothing heavy; import the module you need.
"""
