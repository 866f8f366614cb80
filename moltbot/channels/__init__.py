"""Messaging channels: the contract (``base``), the supervisor (``manager``) and the channel clients."""
