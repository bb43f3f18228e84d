"""Named composite blocks (INCEPTION, RES, BOTTLENECK, DENSE, TRANSITION, ...) built from primitives.

Importing this package registers every block with the pattern language.
"""

from convarch.blocks.registry import BLOCKS, BlockDef, block, make_block

__all__ = ["BLOCKS", "BlockDef", "block", "make_block"]
