"""Params, results and event payloads, grouped by namespace."""
