"""`qcompiler compile`'s ONNX export options (--export-onnx, --onnx-form, --export-opset,
--onnx-layout), checked before anything compiles."""
from __future__ import annotations

import argparse

from .model_args import UsageError

FORMS = ("qoperator", "qdq", "integer")
# --onnx-layout: the `channels_last` argument of CompiledModel.export_onnx it stands for
LAYOUTS = {"auto": None, "channels-last": True, "channels-first": False}


def add_export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--export-onnx", metavar="PATH", help="also write the compiled model as ONNX")
    p.add_argument("--onnx-form", default="qoperator", choices=FORMS,
                   help="form of the ONNX export (default: qoperator)")
    p.add_argument("--export-opset", type=int, metavar="N",
                   help="default-domain opset of the ONNX export (default: the source model's, raised to what the "
                        "form needs: per-channel Q/DQ 13, FLOAT8 19, INT4 or blocked 21)")
    p.add_argument("--onnx-layout", choices=tuple(LAYOUTS), default="auto",
                   help="layout of the qoperator export's 2-D convolutions: auto (default: channels-last where "
                        "ONNX Runtime then runs no Transpose), channels-last (wherever they can, Transposes at "
                        "the edges) or channels-first")


def check_export_args(args) -> None:
    """Options that need an export, or another form, than the command line gives: refused
    before compiling."""
    if not args.export_onnx:
        for option, given in (("--export-opset", args.export_opset is not None),
                              ("--onnx-layout", args.onnx_layout != "auto")):
            if given:
                raise UsageError(f"{option} is given without --export-onnx: there is no export to apply it to")
        return
    if args.onnx_layout == "channels-last" and args.onnx_form != "qoperator":
        raise UsageError(f"--onnx-layout channels-last applies to --onnx-form qoperator, not {args.onnx_form}: "
                         f"the {args.onnx_form} form's convolutions are standard ONNX, channels-first only")
    if args.export_opset is not None:
        import onnx

        from ..backends.onnx.opsets import MIN_OPSET

        newest = onnx.defs.onnx_opset_version()
        if not MIN_OPSET <= args.export_opset <= newest:
            raise UsageError(f"--export-opset {args.export_opset}: the exporter writes opsets {MIN_OPSET} to "
                             f"{newest}")


def channels_last(args):
    """--onnx-layout as export_onnx's `channels_last` (None, True or False)."""
    return LAYOUTS[args.onnx_layout]
