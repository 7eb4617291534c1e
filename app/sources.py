"""Where a sample's image comes from, and which files may be served.

An audit is untrusted input: its ``source`` column can name any path, and its metadata
any folder. Image files are served only from inside one dataset root: the common folder of
the audit's own file paths, never the filesystem root or a home directory, unless the user
names another root on the command line (``--root``). Images that are not files come from
the audit's ``image`` column, read one row group at a time.
"""

from __future__ import annotations

import base64
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labelclean.auditfile import IMAGE_COLUMN

__all__ = [
    "Picture",
    "UnsafePathError",
    "audit_base",
    "dataset_root",
    "fetch_images",
    "file_stamp",
    "is_file_source",
    "picture",
    "resolve_source",
]

# labelclean writes "row N" (plus " (path)" or " (missing path)") for samples that are not files.
_ROW_SOURCE = re.compile(r"^row \d+( \(.*\))?$")
# What browsers show as they are; anything else is re-encoded as PNG.
_BROWSER_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


class UnsafePathError(ValueError):
    """A ``source`` that is not served: ``kind`` is ``"outside"`` (it resolves outside the
    dataset's root), ``"no-root"`` (the audit has no safe root), ``"missing"`` or ``"not-a-file"``;
    ``path`` is where it resolved to, when it got that far."""

    def __init__(self, message: str, kind: str = "outside", path: Path | None = None):
        super().__init__(message)
        self.kind = kind
        self.path = path


def is_file_source(source: str) -> bool:
    """Whether a ``source`` names a file (not a ``row N`` dataset / array row)."""
    return bool(source) and not _ROW_SOURCE.match(source)


def _file_sources(sources: pd.Series | Sequence[str]) -> pa.Array:
    array = pa.array(sources, type=pa.large_string())
    is_row = pc.match_substring_regex(array, _ROW_SOURCE.pattern)
    return pc.filter(array, pc.invert(pc.fill_null(is_row, True)))


def audit_base(path: Path, sources: pd.Series | Sequence[str]) -> Path:
    """The folder that relative sources are read against.

    labelclean stores paths as they were given to ``fit``, so relative paths are relative
    to where ``fit`` ran: the current folder when it holds them, else the audit's folder.
    """
    files = _file_sources(sources[:1000])
    probe = files[0].as_py() if len(files) else None
    if probe is not None and not Path(probe).is_absolute():
        for folder in (Path.cwd(), path.parent):
            if (folder / probe).exists():
                return folder
    return path.parent


def _has_parent_step(path: str) -> bool:
    return ".." in re.split(r"[/\\]", path)


def _too_wide(folder: Path) -> bool:
    """The filesystem root, a home directory, or a folder above one (``/home``)."""
    return folder == Path(folder.anchor) or Path.home().resolve().is_relative_to(folder)


def dataset_root(sources: pd.Series | Sequence[str], base: Path) -> tuple[Path | None, str]:
    """The folder that every image file must resolve into, and why it is that folder.

    The common folder of the file sources; sources with a ``..`` step do not count (one
    ``../../etc/passwd`` must not widen it), and the audit's metadata never does (it is as
    untrusted as the sources). Returns ``(None, reason)`` when the audit has no file
    sources or when that folder would be the filesystem root or a home directory.
    """
    files = _file_sources(sources)
    if len(files) == 0:
        return None, "no file sources"
    parents = pc.unique(pc.replace_substring_regex(files, r"[/\\][^/\\]*$", "")).to_pylist()
    parents = [p or "." for p in parents if not _has_parent_step(p)]
    if not parents:
        return None, "every file source steps out with '..'"
    absolute = [os.path.normpath(base / p) for p in parents]
    try:
        common = Path(os.path.commonpath(absolute)).resolve()
    except ValueError:  # different drives
        return None, "file sources on different drives"
    if _too_wide(common):
        return None, f"the file sources' common folder is {common}, too wide to serve; pass --root"
    return common, "the common folder of the file sources"


def resolve_source(source: str, root: Path | None, base: Path) -> Path:
    """The real path of a file ``source``, refusing anything that resolves outside ``root``.

    Symbolic links and ``..`` steps are followed first (``Path.resolve``), so neither a
    ``../../etc/passwd`` source nor a link inside the root that points elsewhere gets out.
    """
    if not is_file_source(source):
        raise UnsafePathError(f"{source!r} is not a file", "not-a-file")
    if root is None:
        raise UnsafePathError(f"refused: no dataset root to serve {source} from", "no-root")
    real = (base / source).resolve()
    real_root = root.resolve()
    if not real.is_relative_to(real_root):
        raise UnsafePathError(
            f"refused: {source} resolves to {real}, outside the dataset root {real_root}", "outside", real
        )
    if not real.is_file():
        raise UnsafePathError(f"missing file: {real}", "missing", real)
    return real


def file_stamp(path: str | os.PathLike) -> tuple[int, int]:
    """``(mtime_ns, size)`` of a file: a cache key that changes whenever the file does."""
    stat = Path(path).stat()
    return stat.st_mtime_ns, stat.st_size


# --- images ----------------------------------------------------------------------------------


def fetch_images(path: str | os.PathLike, rows: Iterable[int]) -> dict[int, bytes]:
    """The ``image`` bytes of the given file rows, reading only the row groups that hold them.

    Returns ``{row: png_bytes}``; empty when the audit has no ``image`` column.
    """
    rows = sorted({int(r) for r in rows})
    parquet = pq.ParquetFile(path)
    if not rows or IMAGE_COLUMN not in parquet.schema_arrow.names:
        return {}
    sizes = [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    groups = np.searchsorted(starts, rows, side="right") - 1
    images: dict[int, bytes] = {}
    for group in np.unique(groups):
        column = parquet.read_row_group(int(group), columns=[IMAGE_COLUMN]).column(0)
        for row in np.asarray(rows)[groups == group]:
            images[int(row)] = column[int(row - starts[group])].as_py()
    return images


@dataclass(frozen=True)
class Picture:
    """Image bytes a browser shows, with the size and format of the image they came from
    (turned upright) and whether they were shrunk from it."""

    data: bytes
    mime: str
    width: int
    height: int
    format: str
    shrunk: bool = False

    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


_EXIF_ORIENTATION = 0x0112
_TURNED_SIDEWAYS = {5, 6, 7, 8}  # EXIF orientations that swap width and height


def picture(data: bytes, max_side: int | None = None) -> Picture:
    """``data`` as the browser gets it: unchanged when the browser reads its format, it fits
    ``max_side`` and it is stored upright; else turned upright by its EXIF orientation (as
    phone cameras record it), shrunk to ``max_side`` and / or re-encoded (PNG, JPEG for JPEG).

    The grid asks for small pictures (``max_side=192``) and scales small images up in the
    browser, pixels kept sharp; the larger view asks for a bounded copy of a photo. Raises
    PIL's errors for data that is not an image.
    """
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as image:
        width, height, source_format = image.width, image.height, image.format or "?"
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        if orientation in _TURNED_SIDEWAYS:
            width, height = height, width
        too_big = max_side is not None and max(width, height) > max_side
        if source_format in _BROWSER_FORMATS and not too_big and orientation == 1:
            return Picture(data, _BROWSER_FORMATS[source_format], width, height, source_format)
        if too_big:
            image.draft(None, (max_side, max_side))  # JPEG: decode at a fraction of the size
        image.load()
        image = ImageOps.exif_transpose(image)
        if too_big:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        jpeg = source_format == "JPEG" and image.mode in ("RGB", "L")
        if not jpeg and image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        out = io.BytesIO()
        image.save(out, format="JPEG" if jpeg else "PNG", quality=90)
        mime = "image/jpeg" if jpeg else "image/png"
        return Picture(out.getvalue(), mime, width, height, source_format, shrunk=too_big)
