"""Op definitions, one module per family; importing this package registers them all."""
from . import builtin  # noqa: F401
from . import elementwise  # noqa: F401
from . import shape_ops  # noqa: F401
from . import creation  # noqa: F401
from . import indexing  # noqa: F401
from . import reduce  # noqa: F401
from . import resize  # noqa: F401
from . import activation  # noqa: F401
from . import conv  # noqa: F401
from . import linear  # noqa: F401
from . import norm  # noqa: F401
from . import pool  # noqa: F401
from . import quant_ops  # noqa: F401
from . import quant_conv  # noqa: F401
from . import quant_elementwise  # noqa: F401
from . import quant_pool  # noqa: F401
from . import quant_codebook  # noqa: F401
