"""Tests of ovis.datasets.files: checksums, clear errors, download with and without internet."""
import hashlib
import io
import os
from pathlib import Path
import urllib.error
import urllib.request

import numpy as np
import pytest

from ovis.datasets.files import CorruptDataError, DataFile, MissingDataError, locate, md5sum


def test_md5sum(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"ovis" * 1000)
    assert md5sum(path) == hashlib.md5(b"ovis" * 1000).hexdigest()


def test_locate_verifies_published_checksums(tmp_path):
    (tmp_path / "a.gz").write_bytes(b"content")
    good = DataFile("a.gz", hashlib.md5(b"content").hexdigest())
    bad = DataFile("a.gz", "0" * 32)
    assert locate([good], tmp_path, "toy") == [tmp_path / "a.gz"]
    with pytest.raises(CorruptDataError, match=r"a.gz is corrupt: its MD5 is [0-9a-f]{32}, the published"):
        locate([bad], tmp_path, "toy")
    assert locate([bad], tmp_path, "toy", check_md5=False) == [tmp_path / "a.gz"]


def test_alternative_names_are_not_checksummed(tmp_path):
    (tmp_path / "a").write_bytes(b"decompressed")
    assert locate([DataFile("a.gz", "0" * 32, alternatives=("a",))], tmp_path, "toy") == [tmp_path / "a"]


def test_missing_lists_every_file_and_the_directory(tmp_path):
    files = [DataFile("a.gz"), DataFile("b.mat")]
    with pytest.raises(MissingDataError, match=rf"'toy': missing file\(s\) a.gz, b.mat in {tmp_path}"):
        locate(files, tmp_path, "toy")


def test_download_without_internet_says_so(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    file = DataFile("a.gz", None, "https://example.invalid/a.gz")
    with pytest.raises(MissingDataError, match="could not download a.gz from https://example.invalid/a.gz.*put it in"):
        locate([file], tmp_path / "toy", "toy", download=True)
    assert list((tmp_path / "toy").iterdir()) == []  # no partial file left behind


@pytest.mark.parametrize("md5_ok", [True, False])
def test_download_verifies_the_checksum(tmp_path, monkeypatch, md5_ok):
    payload = b"published bytes"
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(payload))
    md5 = hashlib.md5(payload).hexdigest() if md5_ok else "f" * 32
    file = DataFile("a.gz", md5, "https://example.invalid/a.gz")
    if md5_ok:
        assert locate([file], tmp_path, "toy", download=True)[0].read_bytes() == payload
    else:
        with pytest.raises(CorruptDataError, match="MD5"):
            locate([file], tmp_path, "toy", download=True)
        assert not (tmp_path / "a.gz").exists()


def test_no_download_address(tmp_path):
    with pytest.raises(MissingDataError, match="no public download address"):
        locate([DataFile("a.gz")], tmp_path, "toy", download=True)


# ---------------------------------------------------------------------- downloads from a local server
import functools
import gzip as _gzip
import http.server
import subprocess
import sys
import threading

from ovis.datasets.files import MIRROR_VARIABLE, DataFile, check_files, md5sum
from .formats import idx_bytes, random_images, write_amat, write_chardata


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path/served`` (as a mirror: <folder>/<file>)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_writes_the_file_and_verifies_its_checksum(server, tmp_path):
    served, url = server
    (served / "t10k-images-idx3-ubyte.gz").write_bytes(_gzip.compress(idx_bytes(random_images(5, 0))))
    good = DataFile("t10k-images-idx3-ubyte.gz", md5sum(served / "t10k-images-idx3-ubyte.gz"),
                    f"{url}/t10k-images-idx3-ubyte.gz")
    (path,) = locate([good], tmp_path / "mnist", "mnist", download=True)
    assert path.read_bytes() == (served / good.name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == [good.name]  # no temporary file left
    bad = DataFile(good.name, "0" * 32, good.url)
    with pytest.raises(CorruptDataError, match="MD5"):
        locate([bad], tmp_path / "other", "mnist", download=True)
    assert list((tmp_path / "other").iterdir()) == []  # the corrupt download is removed
    with pytest.raises(MissingDataError, match="could not download"):
        locate([DataFile("absent.gz", None, f"{url}/absent.gz")], tmp_path / "x", "mnist", download=True)


def test_the_mirror_serves_every_downloadable_data_set(server, tmp_path, monkeypatch):
    served, url = server
    monkeypatch.setenv(MIRROR_VARIABLE, url)
    write_chardata(served / "omniglot" / "chardata.mat", random_images(3, 1) / 255.0, random_images(2, 2) / 255.0)
    check_files("omniglot", tmp_path / "data", download=True)  # no published checksum: fetched as served
    assert (tmp_path / "data" / "omniglot" / "chardata.mat").read_bytes() == \
        (served / "omniglot" / "chardata.mat").read_bytes()
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        (served / "fashion").mkdir(exist_ok=True)
        (served / "fashion" / name).write_bytes(_gzip.compress(idx_bytes(random_images(4, 3))))
    with pytest.raises(CorruptDataError, match="published file has"):  # tiny files: not the published ones
        check_files("fashion", tmp_path / "data", download=True)
    assert list((tmp_path / "data" / "fashion").iterdir()) == []


def test_run_py_download_fetches_binmnist_and_trains(server, tmp_path):
    served, url = server
    rng = np.random.RandomState(0)
    for split, n in (("train", 40), ("valid", 10), ("test", 10)):
        write_amat(served / "binmnist" / f"binarized_mnist_{split}.amat", rng.randint(0, 2, size=(n, 784)))
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, str(root / "run.py"), "--dataset", "binmnist", "--download", "--data_root",
           str(tmp_path / "data"), "--root", str(tmp_path / "runs"), "--N", "4", "--nsteps", "2", "--bs", "10",
           "--iw", "2", "--iw_valid", "2", "--iw_test", "2", "--grad_samples", "0", "--silent", "--threads", "1"]
    out = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
                         env={**os.environ, MIRROR_VARIABLE: url})
    assert out.returncode == 0, out.stderr
    assert "test L_" in out.stdout  # --silent keeps the summary
    assert sorted(p.name for p in (tmp_path / "data" / "binmnist").iterdir()) == [
        "binarized_mnist_test.amat", "binarized_mnist_train.amat", "binarized_mnist_valid.amat"]
