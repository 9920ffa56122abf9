"""Local data files: where they live, checksums, clear errors, optional download.

Every file-based data set lives in ``{data_root}/{folder}/``. A missing file raises
:class:`MissingDataError` naming the exact file names and that directory; a file whose
MD5 differs from the published checksum (or that cannot be parsed) raises
:class:`CorruptDataError`. ``download=True`` (``run.py --download``) fetches missing files from their public
address (a machine without internet gets an error that says so and where to put the files);
the environment variable ``OVIS_DATA_MIRROR=<url>`` fetches ``<url>/<folder>/<file>`` instead
(a local mirror, or the tests' server). Each download is written atomically
(:func:`ovis.runs.atomic_write`) and verified against the published MD5 where there is one.

:data:`DATA_FILES` lists the files of each file-based data set, so that a run can check them
(:func:`check_files`) before loading anything.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

from ..runs import atomic_write

__all__ = ["DataFile", "MissingDataError", "CorruptDataError", "md5sum", "locate", "verify", "DATA_FILES",
           "register_files", "check_files", "MIRROR_VARIABLE"]

#: the environment variable naming a mirror of the public sources (``<url>/<folder>/<file>``)
MIRROR_VARIABLE = "OVIS_DATA_MIRROR"

PathLike = Union[str, "os.PathLike[str]"]


class MissingDataError(FileNotFoundError):
    """A data file is not where the loader looks for it."""


class CorruptDataError(ValueError):
    """A data file exists but its checksum or content is wrong."""


@dataclass(frozen=True)
class DataFile:
    """A published data file.

    Attributes:
        name: file name as published, e.g. ``'t10k-images-idx3-ubyte.gz'``.
        md5: the published MD5 of that file, or ``None`` where no official checksum is known.
        url: where ``download=True`` fetches it from, or ``None``.
        alternatives: other accepted names (e.g. the decompressed ``'t10k-images-idx3-ubyte'``);
            their checksum is not verified (it is not published).
    """
    name: str
    md5: Optional[str] = None
    url: Optional[str] = None
    alternatives: Sequence[str] = ()


def md5sum(path: PathLike, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, file: DataFile) -> None:
    """Raise :class:`CorruptDataError` if ``path`` is the published file and its MD5 differs."""
    if file.md5 is not None and path.name == file.name:
        actual = md5sum(path)
        if actual != file.md5:
            raise CorruptDataError(
                f"{path} is corrupt: its MD5 is {actual}, the published file has {file.md5}. "
                f"Delete it and put a fresh copy of {file.name} in {path.parent}.")


def _source(file: DataFile, directory: Path) -> Optional[str]:
    mirror = os.environ.get(MIRROR_VARIABLE)
    if mirror and file.url is not None:
        return f"{mirror.rstrip('/')}/{directory.name}/{file.name}"
    return file.url


def _download(file: DataFile, directory: Path) -> Path:
    url = _source(file, directory)
    if url is None:
        raise MissingDataError(f"{file.name} has no public download address; put it in {directory}")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / file.name
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            atomic_write(str(target), lambda out: shutil.copyfileobj(response, out), binary=True)
    except OSError as err:  # URLError, timeouts and HTTP errors are OSErrors
        raise MissingDataError(
            f"could not download {file.name} from {url} ({err}). Without internet access, "
            f"download it elsewhere and put it in {directory}") from err
    try:
        verify(target, file)
    except CorruptDataError:
        target.unlink()
        raise
    return target


def locate(files: Sequence[DataFile], directory: PathLike, dataset: str, download: bool = False,
           hint: str = "", check_md5: bool = True) -> list:
    """Paths of ``files`` in ``directory`` (checksums verified), downloading missing ones if asked.

    ``check_md5=False`` skips the checksum of files found on disk (for re-compressed or
    derived copies); downloaded files are always verified.

    Raises:
        MissingDataError: naming every missing file and the directory to put them in.
        CorruptDataError: a file's MD5 differs from the published one.
    """
    directory = Path(directory)
    found, missing = [], []
    for file in files:
        path = next((directory / n for n in (file.name, *file.alternatives) if (directory / n).is_file()), None)
        if path is None and download:
            path = _download(file, directory)
        if path is None:
            missing.append(file)
        found.append(path)
    if missing:
        names = ", ".join(f.name for f in missing)
        extra = f" {hint}" if hint else ""
        urls = [str(_source(f, directory)) for f in missing]
        sources = "" if any(f.url is None for f in missing) else \
            f" from {urls[0] if len(urls) == 1 else os.path.commonprefix(urls).rpartition('/')[0] + '/'}"
        raise MissingDataError(
            f"data set {dataset!r}: missing file(s) {names} in {directory.resolve()}. Put them there, or "
            f"fetch them{sources} with run.py --download (download=True in Python) on a machine with "
            f"internet access.{extra}")
    if check_md5:
        for path, file in zip(found, files):
            verify(path, file)
    return found


#: data set name -> (its folder under the data root, its files): filled by the loaders' modules
DATA_FILES: Dict[str, Tuple[str, Tuple[DataFile, ...]]] = {}


def register_files(dataset: str, folder: str, files: Sequence[DataFile]) -> None:
    """Declare the files a data set's loader reads from ``{data_root}/{folder}/`` (see :func:`check_files`)."""
    DATA_FILES[dataset] = (folder, tuple(files))


def check_files(dataset: str, data_root: PathLike, download: bool = False,
                only: Optional[Sequence[str]] = None) -> None:
    """Check (or with ``download``, fetch) the files of ``dataset`` without loading them.

    Arguments:
        dataset: a data set name; one without registered files (embedded, toys) passes.
        data_root: the directory holding one folder per data set.
        download: fetch missing files first.
        only: names of the registered files to check (default: all), e.g. the test file alone
            for ``test_only_split``.

    Raises:
        MissingDataError: as :func:`locate`. CorruptDataError: a published checksum differs.
    """
    if dataset in DATA_FILES:
        folder, files = DATA_FILES[dataset]
        if only is not None:
            files = [f for f in files if f.name in only]
        locate(files, Path(data_root) / folder, dataset, download)
