"""Durable delivery: the outbox of outbound messages and the receipts of inbound ones (SQLite).

``store`` is the SQLite file and its schema (blocking, one connection, used from one worker thread at a
time); ``outbox`` sends queued messages through any channel account with retry, backoff and dead letters;
``receipts`` deduplicates inbound messages across restarts and dead-letters the ones that fail.
"""
