"""Dataset loaders, tested on tiny files in the real on-disk formats, written here."""
from __future__ import annotations

import gzip
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import DATASETS, augment_batch, subset
from bench.errors import UserError

rng = np.random.default_rng(0)


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def write_mnist_like(folder: Path, n_train=6, n_test=4, gz=False):
    folder.mkdir(parents=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)
        arrays[prefix] = (images, labels)
    return arrays


def check(split, images, labels, chw_images=None):
    expect = torch.from_numpy(chw_images if chw_images is not None else images[:, None]).float() / 255
    assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
    assert torch.equal(split.x, expect)
    assert split.y.tolist() == [int(v) for v in labels]


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(tmp_path, gz):
    arrays = write_mnist_like(tmp_path / "MNIST" / "raw", gz=gz)
    train, test = DATASETS.get("mnist").load(root=str(tmp_path))
    check(train, *arrays["train"])
    check(test, *arrays["t10k"])


def test_fashion_mnist_from_data_root(tmp_path):
    arrays = write_mnist_like(tmp_path / "FashionMNIST" / "raw", gz=True)
    train, test = DATASETS.get("fashion-mnist").load(root=str(tmp_path))
    check(train, *arrays["train"])
    check(test, *arrays["t10k"])


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").exists(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_debian_package(tmp_path):
    train, test = DATASETS.get("fashion-mnist").load(root=str(tmp_path))
    assert train.x.shape == (60000, 1, 28, 28) and test.x.shape == (10000, 1, 28, 28)
    assert sorted(test.y.unique().tolist()) == list(range(10))


def _cifar_batch(n, label_key):
    data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
    labels = rng.integers(0, 100, n).tolist()
    return {b"data": data, label_key: labels}


def test_cifar10_reads_python_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = _cifar_batch(3, b"labels")
        (folder / name).write_bytes(pickle.dumps(batches[name]))
    train, test = DATASETS.get("cifar10").load(root=str(tmp_path))
    assert train.x.shape == (15, 3, 32, 32)
    first = batches["data_batch_1"]
    check(train.__class__(train.x[:3], train.y[:3]), None, first[b"labels"], first[b"data"].reshape(3, 3, 32, 32))
    check(test, None, batches["test_batch"][b"labels"], batches["test_batch"][b"data"].reshape(3, 3, 32, 32))


def test_cifar100_reads_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    tr, te = _cifar_batch(4, b"fine_labels"), _cifar_batch(2, b"fine_labels")
    tr[b"coarse_labels"] = [0] * 4
    (folder / "train").write_bytes(pickle.dumps(tr))
    (folder / "test").write_bytes(pickle.dumps(te))
    train, test = DATASETS.get("cifar100").load(root=str(tmp_path))
    check(train, None, tr[b"fine_labels"], tr[b"data"].reshape(4, 3, 32, 32))
    assert DATASETS.get("cifar100").num_classes == 100


def test_svhn_reads_mat_files_and_maps_label_10_to_0(tmp_path):
    from scipy.io import savemat

    expected = {}
    for split, n in (("train", 5), ("test", 3)):
        images = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        labels = np.array([[10], [1], [9], [10], [2]][:n], dtype=np.uint8)
        savemat(tmp_path / f"{split}_32x32.mat", {"X": images, "y": labels})
        expected[split] = (np.transpose(images, (3, 2, 0, 1)), labels.reshape(-1) % 10)
    train, test = DATASETS.get("svhn").load(root=str(tmp_path))
    check(train, None, expected["train"][1], expected["train"][0])
    assert test.y.tolist() == [0, 1, 9]


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100", "svhn"])
def test_missing_dataset_says_how_to_get_it(tmp_path, name):
    with pytest.raises(UserError, match=r"not found under .*--data-root DIR or set BENCH_DATA.*download: true"):
        DATASETS.get(name).load(root=str(tmp_path))


def test_corrupt_idx_is_one_clear_error(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    write_mnist_like(folder)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09\x01")
    with pytest.raises(UserError, match="header says"):
        DATASETS.get("mnist").load(root=str(tmp_path))


def test_digits_split_is_fixed_and_in_range():
    train, test = DATASETS.get("digits").load()
    assert (len(train), len(test)) == (1297, 500)
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    again, _ = DATASETS.get("digits").load()
    assert torch.equal(train.y, again.y)


def test_subset_is_seeded_sorted_and_stable():
    _, test = DATASETS.get("digits").load()
    idx_a, sub = subset(test, 50, seed=1)
    idx_b, _ = subset(test, 50, seed=1)
    idx_c, _ = subset(test, 50, seed=2)
    assert torch.equal(idx_a, idx_b) and not torch.equal(idx_a, idx_c)
    assert idx_a.tolist() == sorted(idx_a.tolist()) and len(sub) == 50
    assert torch.equal(sub.x, test.x[idx_a])
    idx_all, _ = subset(test, 10_000, seed=1)
    assert len(idx_all) == 500


def test_crop_flip_augmentation_is_a_shifted_copy():
    x = torch.rand(16, 3, 32, 32)
    out = augment_batch(x, "crop", torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(16):  # each output is some 32x32 window of the zero-padded input
        assert any(torch.equal(out[i], padded[i, :, dy:dy + 32, dx:dx + 32]) for dy in range(9) for dx in range(9))
    assert torch.equal(augment_batch(x, "none"), x)


def test_edge_padded_crop_repeats_the_border_as_torchvision_edge_padding():
    """crop: {pad: 2, mode: edge} (Shi et al.'s CIFAR crops): out[i, j] = x[clamp(i + dy - 2), clamp(j + dx - 2)]."""
    x = torch.arange(9.0).reshape(1, 1, 3, 3).repeat(400, 1, 1, 1)
    out = augment_batch(x, "crop", torch.Generator().manual_seed(0), pad=2, mode="edge")
    crops = {}
    for dy in range(5):
        for dx in range(5):
            crops[(dy, dx)] = torch.tensor([[3 * min(max(i + dy - 2, 0), 2) + min(max(j + dx - 2, 0), 2)
                                             for j in range(3)] for i in range(3)], dtype=torch.float32)
    seen = set()
    for img in out[:, 0]:
        match = [k for k, c in crops.items() if torch.equal(img, c)]
        assert match, img
        seen.update(match)
    assert seen == set(crops)  # every one of the 25 offsets occurs, none reaches outside the 2-pixel border
    zeros = augment_batch(x, "crop", torch.Generator().manual_seed(0), pad=2)
    assert (zeros == 0).sum() > (x == 0).sum()  # the default pads with zeros


def test_a_planted_cifar_batch_cannot_run_code(tmp_path):
    """CIFAR batches are pickles: a restricted unpickler takes only what the format holds."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "owned"

    class Planted:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": Planted(), b"labels": [0]}))
    with pytest.raises(UserError, match=r"data_batch_1: not a CIFAR batch file \(refused global"):
        DATASETS.get("cifar10").load(root=str(tmp_path))
    assert not marker.exists()
    (folder / "data_batch_1").write_bytes(b"\x80\x04truncated")
    with pytest.raises(UserError, match="data_batch_1: not a CIFAR batch file"):
        DATASETS.get("cifar10").load(root=str(tmp_path))


def test_digits_train_and_test_are_disjoint_and_cover_every_image():
    """digits is the dataset whose split bench makes: each of the 1797 images is in exactly one split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    train, test = DATASETS.get("digits").load()
    everything = np.concatenate([d.images.reshape(len(d.target), -1) / 16.0, d.target[:, None]], 1)
    split = torch.cat([torch.cat([s.x.flatten(1), s.y[:, None].float()], 1) for s in (train, test)]).double().numpy()
    assert len(split) == 1797
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731 - rows sorted as tuples
    np.testing.assert_array_equal(order(split), order(everything))


def test_a_planted_cifar_batch_cannot_ask_for_a_huge_array(tmp_path):
    """A batch whose array asks numpy for 2^34 elements is one line, and nothing is allocated."""
    from numpy._core.multiarray import _reconstruct  # what numpy's own pickles name

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    class Huge:
        def __reduce__(self):
            return (_reconstruct, (np.ndarray, (2 ** 34,), b"b"))

    class Called:
        def __reduce__(self):
            return (np.ndarray, ((2 ** 34,), "b"))

    for planted, why in ((Huge(), "an array of shape (17179869184,)"), (Called(), "not callable")):
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            (folder / name).write_bytes(pickle.dumps({b"data": planted, b"labels": [0]}))
        with pytest.raises(UserError, match=r"data_batch_1: not a CIFAR batch file \(.*" + re.escape(why)):
            DATASETS.get("cifar10").load(root=str(tmp_path))
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}  # a real one still reads
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(batch))
    assert len(DATASETS.get("cifar10").load(root=str(tmp_path))[0]) == 10
