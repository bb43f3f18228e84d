"""Reading one image file into a tensor, whatever its mode: grey, RGB, RGBA, palette, 16-bit or float.

Every failure (zero bytes, not an image, truncated data) becomes a ``BadImage`` with the reason, so a
dataset can skip the file and list it in its report instead of stopping a run in the middle of an epoch.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"})


class BadImage(Exception):
    """An image that cannot be used; ``str()`` says why."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_image(path: str | Path, *, uint8: bool = False) -> torch.Tensor:
    """The image at ``path`` as a float tensor ``(C, H, W)`` in [0, 1], C = 1 for grey and 3 for colour.

    ``uint8=True`` keeps 8-bit images (grey, RGB, palette, ...) as uint8 in [0, 255], in the channels-last
    layout PIL decodes to, which torch's uint8 resize reads fastest; 16-bit and float images stay float.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise BadImage("it is a directory; give the image files in it")
    if not path.is_file():
        raise BadImage("no such file")
    try:
        if path.stat().st_size == 0:
            raise BadImage("empty file (0 bytes)")
        with warnings.catch_warnings():
            # Pillow warns between MAX_IMAGE_PIXELS and twice that: a large photo, still decoded. Beyond it,
            # Image.open raises DecompressionBombError before decoding anything, handled below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()  # decode now: a truncated file fails here, not later in a worker
                return _to_tensor(image, uint8)
    except BadImage:
        raise
    except Image.DecompressionBombError as error:
        pixels = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(pixels.group(1)):,} pixels" if pixels else "too many pixels"
        raise BadImage(
            f"too large to decode safely: {size}, over Pillow's decompression-bomb limit of "
            f"{2 * (Image.MAX_IMAGE_PIXELS or 0):,}; downscale it"
        ) from None
    except UnidentifiedImageError:
        raise BadImage("not an image PIL can read") from None
    except (OSError, ValueError, SyntaxError) as error:  # PIL reports truncation and corrupt data this way
        raise BadImage(f"unreadable ({error})") from None


def _to_tensor(image, uint8: bool = False) -> torch.Tensor:  # type: ignore[no-untyped-def]
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grey: PIL's convert("L") would clip at 255, so scale the full range ourselves.
        pixels = np.asarray(image, dtype=np.float32)
        top = 65535.0 if mode != "I" or pixels.max() > 255 else 255.0
        return torch.from_numpy(np.clip(pixels / top, 0.0, 1.0)).unsqueeze(0)
    if mode == "F":
        pixels = np.asarray(image, dtype=np.float32)
        top = float(pixels.max()) if pixels.max() > 1.0 else 1.0
        return torch.from_numpy(np.clip(pixels / top, 0.0, 1.0)).unsqueeze(0)
    if mode in ("1", "L", "LA"):
        grey = torch.from_numpy(np.asarray(image.convert("L"), dtype=np.uint8).copy()).unsqueeze(0)
        return grey if uint8 else grey.float().div_(255.0)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # PIL asks for this step; the alpha is dropped just below
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)  # RGBA, palette, CMYK, YCbCr: RGB
    pixels = torch.from_numpy(rgb.copy()).permute(2, 0, 1)
    return pixels if uint8 else pixels.float().div_(255.0)
