"""Static analyses of a graph: operation counts and storage sizes."""
from .macs import macs
from .size import element_bits, storage_bytes, stored_bytes, type_label

__all__ = ["macs", "element_bits", "storage_bytes", "stored_bytes", "type_label"]
