"""Exact numerics shared by passes, executors and backends (numpy only)."""
