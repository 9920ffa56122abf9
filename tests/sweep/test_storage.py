import json
import os

import pytest
from tinydb import TinyDB

from ovis.sweep.storage import AtomicJSONStorage, QueueCorruptError, read_json_file


def test_round_trip_and_no_temporary_files_left(tmp_path):
    path = str(tmp_path / "sub" / "queue.json")
    db = TinyDB(path, storage=AtomicJSONStorage)
    db.table("jobs").insert_multiple({"i": i} for i in range(5))
    db.table("jobs").update({"i": -1}, doc_ids=[2])
    assert [d["i"] for d in TinyDB(path, storage=AtomicJSONStorage).table("jobs").all()] == [0, -1, 2, 3, 4]
    assert os.listdir(tmp_path / "sub") == ["queue.json"]
    assert json.loads(open(path).read())["jobs"]["2"] == {"i": -1}


def test_missing_file_reads_as_empty_and_is_not_created(tmp_path):
    path = str(tmp_path / "queue.json")
    assert TinyDB(path, storage=AtomicJSONStorage).table("jobs").all() == []
    assert not os.path.exists(path)


@pytest.mark.parametrize("content,words", [
    (b"", ["is empty"]),
    (b"  \n", ["is empty"]),
    (b'{"jobs": {"1": {"state": "que', ["not valid JSON", "maybe truncated"]),
    (b"\xff\xfe garbage", ["not valid JSON"]),
    (b"[1, 2]", ["not a TinyDB document", "list"]),
    (b'{"jobs": [1]}', ["not a TinyDB document"]),
])
def test_corrupt_file_raises_and_is_never_overwritten(tmp_path, content, words):
    path = tmp_path / "queue.json"
    path.write_bytes(content)
    db = TinyDB(str(path), storage=AtomicJSONStorage)
    with pytest.raises(QueueCorruptError) as err:
        db.table("jobs").insert({"i": 1})
    message = str(err.value)
    assert str(path) in message and "left untouched" in message
    for word in words:
        assert word in message
    assert path.read_bytes() == content
    with pytest.raises(QueueCorruptError):
        read_json_file(str(path))


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / "queue.json")
    storage = AtomicJSONStorage(path)
    storage.write({"jobs": {"1": {"a": 1}}})

    def boom(*args):
        raise OSError("disk full")
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        storage.write({"jobs": {}})
    assert storage.read() == {"jobs": {"1": {"a": 1}}}
    assert os.listdir(tmp_path) == ["queue.json"]
