"""When to speak: P(help now) from structured activity events, in milliseconds, per desktop.

`features` turns a window of structured events into struggle signals;
`model` is the trained linear model (``models/trigger.json``); `runtime`
applies it per desktop; `online` is the bounded, decaying offset the user's
answers move; `train` is the honest training procedure (numpy only). The
model card with every design tried is ``models/trigger.md``.
"""
