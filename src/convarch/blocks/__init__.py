"""Named composite blocks (INCEPTION, RES, BOTTLENECK, DENSE, TRANSITION, SE, INVRES, ...) built from primitives.

Importing this package registers every block with the pattern language.
"""

from convarch.blocks.registry import BLOCKS, BlockDef, block, make_block

# Registering is a side effect of importing each block module.
from convarch.blocks import (  # noqa: F401  isort: skip
    dense,
    inception,
    inception_v4,
    inverted_residual,
    residual,
    squeeze_excite,
)

__all__ = ["BLOCKS", "BlockDef", "block", "make_block"]
