"""Discord bot channel: ``rest`` (HTTP API, rate limits), ``gateway`` (the WebSocket session),
``policy`` (who is answered where), ``channel`` (the account)."""
