"""Named composite blocks (INCEPTION, RES, BOTTLENECK, DENSE, TRANSITION, ...) built from primitives.

Importing this package registers every block with the pattern language.
"""

from convarch.blocks.registry import BLOCKS, BlockDef, block, make_block

# Registering is a side effect of importing each block module.
from convarch.blocks import dense, inception, inception_v4, residual  # noqa: F401  isort: skip

__all__ = ["BLOCKS", "BlockDef", "block", "make_block"]
