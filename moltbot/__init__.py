"""moltbot: a Trio gateway for messaging channels and agents, wire-compatible with the Moltbot gateway."""

__version__ = "0.1.0"

__all__ = ["__version__"]
