"""Browser control (issue 22): managed Chromium profiles driven over CDP, the control service on gateway
port + 2, the extension relay on + 3.

``cdp`` (the CDP client on trio-websocket), ``profiles`` (names, data dirs, CDP ports), ``manager`` (start
on use, restart on crash, stop when idle), ``pages``/``snapshot``/``actions`` (tabs, accessibility
snapshots with stable refs, input), ``ssrf`` (the navigation guard), ``service`` (the control API's
routes), ``server`` (the Runtime child serving it over HTTP) and ``relay`` (the extension relay).
"""
