import gzip
import re
import shutil

import numpy as np
import pytest

from bench.data import mnist as data
from bench.data.mnist import load_split
from bench.errors import DataError

TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
#: Where the loader finds the real gzipped files on this machine (the tests copy and damage them).
ORIGINALS = {name: data._find(name, data.search_dirs()) for name in TEST_FILES}


def test_splits_have_the_published_sizes():
    test = load_split("test")
    assert test.images.shape == (10_000, 28, 28) and test.images.dtype == np.uint8
    assert test.labels.shape == (10_000,) and set(np.unique(test.labels)) == set(range(10))
    everything = load_split("all")
    assert len(everything) == 70_000
    assert np.array_equal(everything.images[60_000:], test.images)
    assert len(load_split("all", limit=60_005)) == 60_005
    assert len(load_split("train", limit=10)) == 10


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A data folder of our own, with the project's copy and the cache out of sight."""
    monkeypatch.setattr(data, "SHARED_MNIST_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("MNIST_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.delenv("MNIST_MIRRORS", raising=False)
    data._load_pair.cache_clear()
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in TEST_FILES:
        shutil.copy(ORIGINALS[name], folder)
    yield folder
    data._load_pair.cache_clear()


def test_loads_from_data_dir_and_plain_files(isolated):
    (isolated / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress((isolated / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    (isolated / "t10k-labels-idx1-ubyte.gz").unlink()
    assert len(load_split("test", data_dir=isolated)) == 10_000


def test_mnist_dir_environment_variable(isolated, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(isolated))
    assert len(load_split("test")) == 10_000


def test_truncated_file_names_the_file(isolated):
    path = isolated / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: truncated or not a valid gzip"):
        load_split("test", data_dir=isolated)


def test_wrong_checksum_names_the_file(isolated):
    path = isolated / "t10k-images-idx3-ubyte.gz"
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[5000] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: SHA-256 mismatch"):
        load_split("test", data_dir=isolated)


def test_missing_file_without_mirrors_is_one_clear_error(isolated, monkeypatch):
    (isolated / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setattr(data, "SHARED_MNIST_DIR", isolated)
    monkeypatch.setattr(data, "MIRRORS", ())
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: not found in"):
        load_split("test")


@pytest.fixture
def mirror(isolated, tmp_path, monkeypatch):
    """The labels file moved from the data folder to a local mirror."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    shutil.move(isolated / "t10k-labels-idx1-ubyte.gz", folder)
    monkeypatch.setenv("MNIST_MIRRORS", f"file://{tmp_path}/unreachable/,file://{folder}/")
    return folder


def test_missing_file_is_downloaded_into_the_cache(isolated, mirror, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SHARED_MNIST_DIR", isolated)
    assert len(load_split("test")) == 10_000
    assert (tmp_path / "cache" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_failed_download_says_what_was_tried(isolated, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SHARED_MNIST_DIR", isolated)
    (isolated / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("MNIST_MIRRORS", f"file://{tmp_path}/unreachable/")
    with pytest.raises(DataError, match="download failed.*unreachable"):
        load_split("test")


def test_a_named_folder_is_the_only_place_searched(isolated, mirror, tmp_path, monkeypatch):
    # The files are in the cache and on a mirror, but the folder the user named lacks one: an error.
    monkeypatch.setattr(data, "SHARED_MNIST_DIR", ORIGINALS[TEST_FILES[0]].parent)
    with pytest.raises(DataError, match=re.escape(f"t10k-labels-idx1-ubyte: not found in {isolated} (from --data-dir")):
        load_split("test", data_dir=isolated)
    monkeypatch.setenv("MNIST_DIR", str(isolated))
    with pytest.raises(DataError, match=re.escape(f"t10k-labels-idx1-ubyte: not found in {isolated} (from $MNIST_DIR")):
        load_split("test")
    assert not (tmp_path / "cache").exists()  # nothing downloaded


@pytest.mark.parametrize("how", ["--data-dir", "$MNIST_DIR"])
def test_a_named_folder_that_does_not_exist_is_refused(isolated, tmp_path, monkeypatch, how):
    monkeypatch.setattr(data, "SHARED_MNIST_DIR", ORIGINALS[TEST_FILES[0]].parent)  # would be found here
    missing = tmp_path / "no-such-folder"
    if how == "$MNIST_DIR":
        monkeypatch.setenv("MNIST_DIR", str(missing))
    with pytest.raises(DataError, match=re.escape(f"MNIST folder {missing} (from {how}) does not exist")):
        load_split("test", data_dir=missing if how == "--data-dir" else None)


def test_data_dir_wins_over_mnist_dir(isolated, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "no-such-folder"))
    assert len(load_split("test", data_dir=isolated)) == 10_000


def test_a_changed_mnist_dir_is_searched_again(isolated, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(isolated))
    assert len(load_split("test")) == 10_000
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "no-such-folder"))
    with pytest.raises(DataError, match="does not exist"):
        load_split("test")


def test_bad_split_and_limit():
    with pytest.raises(DataError, match="unknown split"):
        load_split("validation")
    with pytest.raises(DataError, match="positive"):
        load_split("test", limit=0)
