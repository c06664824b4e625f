"""Datasets: the real offline sets, the shared split and token ids, and the online loaders over loopback HTTP."""

import gzip
import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from harness.batching import epoch_batches, padded_chunks
from suites.data import offline, online
from suites.data.download import DownloadError, RemoteFile, fetch
from suites.data.registry import load_dataset
from suites.data.text import OOV_ID, PAD_ID, TEXT_LEN, TEXT_VOCAB, TFIDF_FEATURES, build_vocab, encode
from suites.registry import get_workload


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "cache"))


def test_mnist5k_is_real_and_stratified():
    d = load_dataset("mnist5k", 0, 0.2)
    assert d.x_train.shape == (4000, 28, 28, 1) and d.x_test.shape == (1000, 28, 28, 1)
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert np.bincount(d.y_test, minlength=10).tolist() == [100] * 10


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = (load_dataset("rowmnist5k", s, 0.2) for s in (0, 0, 1))
    assert np.array_equal(a.x_test, b.x_test) and not np.array_equal(a.x_test, c.x_test)


def test_rotten_tomatoes_ids_and_tfidf():
    ids = load_dataset("rotten_tomatoes", 0, 0.2)
    assert ids.x_train.shape[1] == 48 and ids.x_train.dtype == np.int32
    assert ids.x_train.max() < 8000 and len(ids.x_train) + len(ids.x_test) == 12808
    tfidf = load_dataset("rotten_tomatoes_tfidf", 0, 0.2)
    assert tfidf.x_train.shape[1] == 1000
    assert np.array_equal(ids.y_test, tfidf.y_test)  # the same split


def test_text_sizes_have_one_definition_that_loaders_and_workloads_share():
    assert (offline.TEXT_LEN, offline.TEXT_VOCAB, online.TEXT_LEN, online.TEXT_VOCAB) == (TEXT_LEN, TEXT_VOCAB) * 2
    for name in ("text_cnn", "text_transformer"):
        model = get_workload(name).model
        assert model.input_shape == (TEXT_LEN,) and model.layers[0].vocab_size == TEXT_VOCAB
    assert get_workload("tfidf_mlp").model.input_shape == (TFIDF_FEATURES,) == (offline.TFIDF_FEATURES,)


def test_diabetes_is_standardised_on_train():
    d = load_dataset("diabetes", 0, 0.2)
    assert d.y_train.shape == (353, 1)
    assert abs(float(d.x_train.mean())) < 1e-6 and abs(float(d.y_train.std()) - 1) < 1e-5


def test_vocabulary_and_encoding():
    vocab = build_vocab(["a b b", "c b a"], size=4)
    assert vocab == {"b": 2, "a": 3}
    assert encode(["b a c", ""], vocab, 4).tolist() == [[2, 3, OOV_ID, PAD_ID], [PAD_ID] * 4]


def test_batch_order_is_shared_and_fixed_shape():
    a, b = epoch_batches(10, 3, 0, 0), epoch_batches(10, 3, 0, 0)
    assert a.shape == (3, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, epoch_batches(10, 3, 0, 1))
    assert epoch_batches(5, 100, 0, 0).shape == (1, 5)  # a batch above the data size is full-batch
    chunks = list(padded_chunks(5, 2))
    assert [len(i) for i, _ in chunks] == [2, 2, 2] and [r for _, r in chunks] == [2, 2, 1]


# ---- online loaders, served from this machine -------------------------------------------------------------


@pytest.fixture()
def served(tmp_path, monkeypatch):
    root = tmp_path / "mirror"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("BENCH_DATA_MIRROR", f"http://127.0.0.1:{server.server_address[1]}")
    yield root
    server.shutdown()


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def _tar(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_mnist_full_downloads_verifies_and_parses(served, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = {"train_x": rng.integers(0, 256, (6, 28, 28)), "train_y": np.arange(6) % 10,
              "test_x": rng.integers(0, 256, (2, 28, 28)), "test_y": np.array([3, 4])}
    files = {}
    for key, remote in online.MNIST_FILES.items():
        _idx(served / remote.filename, arrays[key])
        files[key] = RemoteFile(remote.filename, "http://invalid.example/unused", _sha(served / remote.filename))
    monkeypatch.setattr(online, "MNIST_FILES", files)
    d = load_dataset("mnist", 0, 0.2)
    assert d.x_train.shape == (6, 28, 28, 1) and d.y_test.tolist() == [3, 4]
    assert np.allclose(d.x_train[..., 0] * 255, arrays["train_x"])


def test_cifar10_parses_python_batches(served, monkeypatch):
    rng = np.random.default_rng(1)
    def batch(n):
        return pickle.dumps({b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8), b"labels": list(range(n))})
    _tar(served / "cifar-10-python.tar.gz", {"cifar-10-batches-py/data_batch_1": batch(4),
                                             "cifar-10-batches-py/test_batch": batch(2)})
    monkeypatch.setattr(online, "CIFAR10_FILE", RemoteFile("cifar-10-python.tar.gz", "x",
                                                           _sha(served / "cifar-10-python.tar.gz")))
    d = load_dataset("cifar10", 0, 0.2)
    assert d.x_train.shape == (4, 32, 32, 3) and d.y_test.tolist() == [0, 1]


def test_imdb_and_newsgroups_text_trees(served, monkeypatch):
    _tar(served / "aclImdb_v1.tar.gz", {"aclImdb/train/pos/1.txt": b"great film", "aclImdb/train/neg/2.txt": b"bad",
                                        "aclImdb/test/pos/3.txt": b"great", "aclImdb/train/unsup/4.txt": b"x"})
    monkeypatch.setattr(online, "IMDB_FILE", RemoteFile("aclImdb_v1.tar.gz", "x", _sha(served / "aclImdb_v1.tar.gz")))
    imdb = load_dataset("imdb", 0, 0.2)
    assert sorted(imdb.y_train.tolist()) == [0, 1] and imdb.y_test.tolist() == [1]
    _tar(served / "20news-bydate.tar.gz", {"20news-bydate-train/sci.space/1": b"orbit",
                                           "20news-bydate-train/alt.atheism/2": b"god",
                                           "20news-bydate-test/sci.space/3": b"moon"})
    monkeypatch.setattr(online, "NEWSGROUPS_FILE",
                        RemoteFile("20news-bydate.tar.gz", "x", _sha(served / "20news-bydate.tar.gz")))
    ng = load_dataset("20newsgroups", 0, 0.2)
    assert ng.num_classes == 2 and ng.y_test.tolist() == [1]


def test_checksum_mismatch_is_refused_and_not_cached(served, tmp_path):
    (served / "f.bin").write_bytes(b"tampered")
    with pytest.raises(DownloadError, match="failed its checksum"):
        fetch(RemoteFile("f.bin", "x", "sha256:" + "0" * 64), "t")
    assert not list((tmp_path / "cache" / "t").iterdir())


def test_file_url_and_cache_reuse(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "g.bin").write_bytes(b"data")
    monkeypatch.setenv("BENCH_DATA_MIRROR", src.as_uri())
    remote = RemoteFile("g.bin", "x", _sha(src / "g.bin"))
    first = fetch(remote, "t")
    (src / "g.bin").unlink()  # a second fetch must come from the cache
    assert fetch(remote, "t") == first and first.read_bytes() == b"data"


def test_unreachable_mirror_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_MIRROR", (tmp_path / "missing").as_uri())
    with pytest.raises(DownloadError, match="BENCH_DATA_MIRROR"):
        fetch(RemoteFile("h.bin", "x", "sha256:" + "0" * 64), "t")
