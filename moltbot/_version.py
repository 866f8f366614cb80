"""The package version, in a module of its own so that the subpackages can name it without importing
``moltbot/__init__`` (which imports the gateway and the client lazily: importing it from them would tie
every package into one import circle)."""

__version__ = "0.4.0"
