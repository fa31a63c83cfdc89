"""A set of 28x28 images as one image of tiles, and back: how a still-image format codes a whole set as
one file (one header, one set of tables), where one file per image would pay them per image.

The grid is square-ish (`mosaic_columns`: ceil(sqrt(n)) tiles a row) unless the caller asks for
another width (1: a column 28 pixels wide); the last row is padded with black tiles, which the
receiver drops: it needs only n and the width.
"""

from __future__ import annotations

import numpy as np

from bench.data.mnist import SIDE
from bench.errors import CorruptStreamError


def mosaic_columns(n: int) -> int:
    """Tiles per mosaic row for n images: ceil(sqrt(n)), so both sides grow as sqrt(n)."""
    return max(1, int(np.ceil(np.sqrt(n))))


def mosaic_shape(n: int, columns: int | None = None) -> tuple[int, int]:
    columns = columns or mosaic_columns(n)
    return -(-n // columns) * SIDE, columns * SIDE


def to_mosaic(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """(n, 28, 28) images -> one (rows * 28, columns * 28) image, row by row of tiles."""
    n = len(images)
    columns = columns or mosaic_columns(n)
    rows = -(-n // columns)
    tiles = np.zeros((rows * columns, SIDE, SIDE), images.dtype)
    tiles[:n] = images
    return tiles.reshape(rows, columns, SIDE, SIDE).transpose(0, 2, 1, 3).reshape(rows * SIDE, columns * SIDE)


def from_mosaic(mosaic: np.ndarray, n: int, columns: int | None = None, what: str = "mosaic") -> np.ndarray:
    """The n tiles of a mosaic made by `to_mosaic(images, columns)`; a mosaic of another shape than n
    and the width give is refused as corrupt (one line)."""
    columns = columns or mosaic_columns(n)
    rows = -(-n // columns)
    if mosaic.shape != (rows * SIDE, columns * SIDE):
        raise CorruptStreamError(f"{what} is {mosaic.shape}, its header says {n} images "
                                 f"{columns} a row (corrupt)")
    tiles = mosaic.reshape(rows, SIDE, columns, SIDE).transpose(0, 2, 1, 3).reshape(rows * columns, SIDE, SIDE)
    return np.ascontiguousarray(tiles[:n])
