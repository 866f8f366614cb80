"""Slack channel: ``api`` (Web API), ``socket`` (Socket Mode), ``http_events`` (Events API route),
``events`` (payloads → messages), ``format`` (mrkdwn), ``channel`` (the account)."""
