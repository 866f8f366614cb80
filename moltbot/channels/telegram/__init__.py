"""Telegram Bot API channel: ``api`` (HTTP client), ``poller`` (getUpdates loop), ``channel`` (account)."""
