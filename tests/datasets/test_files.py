"""Tests of ovis.datasets.files: checksums, clear errors, download with and without internet."""
import hashlib
import io
import urllib.error
import urllib.request

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
