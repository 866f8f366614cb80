"""Cron: scheduled jobs, their store and run history (the original's files), and the service that runs them.

``schedule`` computes when a schedule runs next (pure), ``jobs`` moves a job through its life (pure),
``store`` keeps ``jobs.json`` and the run logs, ``host`` says what a run does in the gateway around it,
and ``service`` is the one task that sleeps until the next job is due. The gateway wires the service
into the Runtime (``moltbot.gateway.cron``).
"""
