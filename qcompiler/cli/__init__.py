"""The `qcompiler` command: one module per command family, sharing model_args.py."""
from .commands import main  # noqa: F401  (the console script's entry point, qcompiler.cli:main)
