"""The release, recorded in every saved model's meta.json."""
__version__ = "0.1.0"
