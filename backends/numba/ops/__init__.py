"""How each op runs on the Numba backend: integer ops through kernels (`INTEGER_STEPS`),
pass-through ops on storage (`storage.prepare_storage_op`)."""
from .codebook import prepare_qcodebook_conv2d
from .convert import prepare_dequantize, prepare_qlut, prepare_quantize, prepare_requantize
from .dynamic_linear import prepare_dynamic_qlinear
from .elementwise import prepare_qadd, prepare_qmul
from .embedding import prepare_qembedding
from .ibert import prepare_ibert_gelu, prepare_ibert_layer_norm, prepare_ibert_softmax
from .grouped_products import on_weight_granularity, prepare_grouped_product, prepare_grouped_qconv
from .pool import prepare_qavg_pool2d, prepare_qglobal_avg_pool
from .products import prepare_qconv, prepare_qlinear, prepare_qmatmul
from .storage import prepare_storage_op
from .zero_channels import with_live_channels
from .zero_runs import prepare_zero_run_weight, with_sparse_taps

# integer op -> prepare(node) -> Step
INTEGER_STEPS = {
    "quantize": prepare_quantize,
    "dequantize": prepare_dequantize,
    "requantize": prepare_requantize,
    "qlut": prepare_qlut,
    "qadd": prepare_qadd,
    "qmul": prepare_qmul,
    "qconv1d": on_weight_granularity(with_sparse_taps(with_live_channels(prepare_qconv)), prepare_grouped_qconv),
    "qconv2d": on_weight_granularity(with_sparse_taps(with_live_channels(prepare_qconv)), prepare_grouped_qconv),
    "qcodebook_conv2d": prepare_qcodebook_conv2d,
    "qlinear": on_weight_granularity(prepare_qlinear, prepare_grouped_product),
    "qmatmul": on_weight_granularity(prepare_qmatmul, prepare_grouped_product),
    "qavg_pool2d": prepare_qavg_pool2d,
    "qglobal_avg_pool": prepare_qglobal_avg_pool,
    "qembedding": prepare_qembedding,
    "dynamic_qlinear": prepare_dynamic_qlinear,
    "ibert_softmax": prepare_ibert_softmax,
    "ibert_gelu": prepare_ibert_gelu,
    "ibert_layer_norm": prepare_ibert_layer_norm,
    "zero_run_weight": prepare_zero_run_weight,
}

__all__ = ["INTEGER_STEPS", "prepare_storage_op"]
