"""Executors for the IR: the numpy reference interpreter and the torch executor."""
