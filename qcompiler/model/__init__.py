"""A compiled model: CompiledModel (what cm(x) runs and refuses: input_checks.py), its
files on disk (saving.py writes them, load_compiled.py reads them back) and the import
of a source model from a torch module, an ONNX or .qir file, or a factory (loading.py)."""
