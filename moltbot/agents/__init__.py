"""The agent runtime: sessions, lanes, runs, model providers and tools."""
