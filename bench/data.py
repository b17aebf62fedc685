"""Dataset registry. Every split is a pair of tensors: x float32 NCHW in [0,1], y int64.

- digits: scikit-learn's 8x8 handwritten digits (embedded, nothing downloaded); a fixed seeded split
  of 1297 train / 500 test images. Pixel values 0..16 are scaled to [0,1].
- fashion-mnist: from the data root (torchvision layout), else /usr/share/datasets/fashion-mnist, where
  Debian's package dataset-fashion-mnist puts {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (`make data`).
- mnist, svhn, cifar10, cifar100: read from the data root in the files' own formats (IDX, the CIFAR
  python pickles, SVHN's .mat), the layout torchvision downloads; ``download: true`` fetches them with
  torchvision first.

Default budgets (pixel units) per norm. MNIST 0.3 and CIFAR/SVHN 8/255 for Linf follow the papers
(certified-PR paper Table 6; TRADES/MART/MAIL/ADT). For digits, one grey level is 1/16 of the range, so
Linf 0.1 (1.6 grey levels) and L2 0.5 over 64 pixels; for fashion-mnist Linf 0.1 and L2 1.5, the values
used across the Fashion-MNIST robustness literature.
"""
from __future__ import annotations

import gzip
import math
import os
import pickle
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench.errors import UserError
from bench.registry import Registry


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # float32, N x C x H x W, values in [0, 1]
    y: torch.Tensor  # int64, N

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    eps: dict[str, float]  # default budget per norm: linf, l2
    loader: Callable[..., tuple[Split, Split]] = field(repr=False, compare=False)
    augment: str = "none"  # training augmentation the papers use: none | crop_flip | crop
    source: str = ""

    def load(self, root: str | None = None, download: bool = False) -> tuple[Split, Split]:
        return self.loader(root=root, download=download)


DATASETS: Registry[DatasetInfo] = Registry("dataset")
_LOOK: dict = {}  # dataset name -> (root -> whether its files are there), for check_installed


def data_root(root: str | None) -> Path:
    return Path(root or os.environ.get("BENCH_DATA") or "data").expanduser()


def _from_uint8(images: np.ndarray, labels, chw: bool = False) -> Split:
    x = torch.from_numpy(np.require(images, np.uint8, ["C", "W"])).float().div_(255.0)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    elif not chw:
        x = x.permute(0, 3, 1, 2).contiguous()
    return Split(x, torch.tensor(np.asarray(labels), dtype=torch.int64))


def _load_digits(root=None, download=False) -> tuple[Split, Split]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
    y = torch.tensor(d.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    test, train = perm[:500], perm[500:]
    return Split(x[train], y[train]), Split(x[test], y[test])


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or raw."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError("not an IDX file of unsigned bytes", str(path))
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise UserError(f"IDX file holds {data.size} values, header says {dims}", str(path))
    return data.reshape(dims)


def _idx_files(folder: Path, prefix: str) -> tuple[Path, Path] | None:
    for ext in (".gz", ""):
        images = folder / f"{prefix}-images-idx3-ubyte{ext}"
        labels = folder / f"{prefix}-labels-idx1-ubyte{ext}"
        if images.exists() and labels.exists():
            return images, labels
    return None


def _idx_pair(folder: Path, prefix: str) -> Split | None:
    files = _idx_files(folder, prefix)
    return None if files is None else _from_uint8(read_idx(files[0]), read_idx(files[1]))


def _missing(name: str, root: Path, how: str) -> UserError:
    return UserError(f"dataset {name!r} not found under {root}: {how}")


def _download(cls_name: str, base: Path) -> None:
    """Fetch a dataset into the data root with torchvision (only when the suite says `download: true`)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    if cls_name == "SVHN":
        for s in ("train", "test"):
            cls(str(base), split=s, download=True)
    else:
        cls(str(base), train=True, download=True)


# The only globals a CIFAR batch file names: numpy's array reconstruction (numpy 1 and 2 module paths).
_PICKLE_GLOBALS = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")} \
    | {(m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")} | {("numpy", "ndarray"), ("numpy", "dtype")}


_NDARRAY = ("numpy.ndarray",)  # what a pickle gets for numpy.ndarray: an argument of _reconstruct, not callable


def _bounded(reconstruct, size: int):
    """numpy's ``_reconstruct`` for arrays no larger than the file (``size`` bytes) that holds them: a planted
    file cannot ask for a huge array (numpy's own pickles ask for an empty one and fill it)."""
    def checked(subtype, shape, dtype):
        n = math.prod(shape) if isinstance(shape, tuple) else shape
        if subtype is not _NDARRAY or not isinstance(n, int) or n * np.dtype(dtype).itemsize > size:
            raise pickle.UnpicklingError(f"an array of shape {str(shape)[:40]} in a file of {size} bytes")
        return reconstruct(np.ndarray, shape, dtype)
    return checked


def _unpickle(path: Path) -> dict:
    """A CIFAR batch file through a restricted unpickler: dicts, lists, bytes, numbers and numpy arrays
    only, so a planted file cannot run code (pickle.load would call whatever the file names)."""
    size = Path(path).stat().st_size

    class Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in _PICKLE_GLOBALS:
                raise pickle.UnpicklingError(f"refused global {module}.{name}")
            if (module, name) == ("numpy", "ndarray"):
                return _NDARRAY
            found = super().find_class(module, name)
            return _bounded(found, size) if name == "_reconstruct" else found

    try:
        with open(path, "rb") as f:
            d = Restricted(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, MemoryError) as e:
        raise UserError(f"{path}: not a CIFAR batch file ({str(e)[:200] or type(e).__name__})") from None
    if not isinstance(d, dict) or b"data" not in d:
        raise UserError(f"{path}: not a CIFAR batch file (no data)")
    if isinstance(d[b"data"], np.ndarray) and d[b"data"].dtype == object:
        raise UserError(f"{path}: not a CIFAR batch file (object array)")
    return d


def _cifar_split(files: list[Path], label_key: bytes) -> Split:
    images, labels = [], []
    for f in files:
        d = _unpickle(f)
        try:
            images.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(d[label_key])
        except (KeyError, ValueError, TypeError) as e:
            raise UserError(f"{f}: not a CIFAR batch file ({type(e).__name__}: {e})") from None
    return _from_uint8(np.concatenate(images), labels, chw=True)


# Each reader returns None when the files are missing, and with ``look`` True instead of the splits when they
# are there, without reading them (``check_installed``).
def _read_mnist(base: Path, look: bool = False) -> tuple[Split, Split] | None:
    folder = base / "MNIST" / "raw"
    if look:
        return bool(_idx_files(folder, "train") and _idx_files(folder, "t10k"))
    train, test = _idx_pair(folder, "train"), _idx_pair(folder, "t10k")
    return (train, test) if train is not None and test is not None else None


def _read_cifar10(base: Path, look: bool = False) -> tuple[Split, Split] | None:
    folder = base / "cifar-10-batches-py"
    files = [folder / f"data_batch_{i}" for i in range(1, 6)]
    if not all(f.exists() for f in files + [folder / "test_batch"]):
        return None
    if look:
        return True
    return _cifar_split(files, b"labels"), _cifar_split([folder / "test_batch"], b"labels")


def _read_cifar100(base: Path, look: bool = False) -> tuple[Split, Split] | None:
    folder = base / "cifar-100-python"
    if not ((folder / "train").exists() and (folder / "test").exists()):
        return None
    if look:
        return True
    return _cifar_split([folder / "train"], b"fine_labels"), _cifar_split([folder / "test"], b"fine_labels")


def _read_svhn(base: Path, look: bool = False) -> tuple[Split, Split] | None:
    from scipy.io import loadmat

    files = [base / "train_32x32.mat", base / "test_32x32.mat"]
    if not all(f.exists() for f in files):
        return None
    if look:
        return True
    out = []
    for f in files:
        m = loadmat(f)
        images = np.transpose(m["X"], (3, 2, 0, 1))  # H x W x C x N -> N x C x H x W
        labels = m["y"].astype(np.int64).reshape(-1) % 10  # SVHN stores digit 0 as label 10
        out.append(_from_uint8(images, labels, chw=True))
    return tuple(out)


_LAYOUT = {
    "mnist": ("MNIST", "DATA_ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"),
    "cifar10": ("CIFAR10", "DATA_ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch}"),
    "cifar100": ("CIFAR100", "DATA_ROOT/cifar-100-python/{train,test}"),
    "svhn": ("SVHN", "DATA_ROOT/{train,test}_32x32.mat"),
}


def _from_root(name: str, reader):
    """A loader that reads the dataset's own on-disk format (the one torchvision downloads) from the
    data root, downloading with torchvision first only when asked."""
    _LOOK[name] = lambda root: reader(data_root(root), look=True)

    def load(root=None, download=False) -> tuple[Split, Split]:
        base = data_root(root)
        found = reader(base)
        if found is None and download:
            _download(_LAYOUT[name][0], base)
            found = reader(base)
        if found is None:
            raise _missing(
                name, base,
                f"expected {_LAYOUT[name][1]}; pass --data-root DIR or set BENCH_DATA, or set "
                "`download: true` on the dataset in the suite (needs internet)",
            )
        return found

    return load


def _fashion_folders(root) -> tuple[Path, ...]:
    base = data_root(root)
    return base / "FashionMNIST" / "raw", base / "fashion-mnist", Path("/usr/share/datasets/fashion-mnist")


def _load_fashion(root=None, download=False) -> tuple[Split, Split]:
    base = data_root(root)
    for folder in _fashion_folders(root):
        train, test = _idx_pair(folder, "train"), _idx_pair(folder, "t10k")
        if train is not None and test is not None:
            return train, test
    if download:
        _download("FashionMNIST", base)
        return _load_fashion(root, download=False)
    raise _missing(
        "fashion-mnist", base,
        "run `make data` (installs Debian's dataset-fashion-mnist into /usr/share/datasets/fashion-mnist), "
        "or put the IDX files in DATA_ROOT/FashionMNIST/raw",
    )


def _add(name, shape, classes, mean, std, linf, l2, loader, augment="none", source=""):
    DATASETS.add(name, DatasetInfo(name, shape, classes, mean, std, {"linf": linf, "l2": l2}, loader, augment, source))


_add("digits", (1, 8, 8), 10, (0.5,), (0.5,), 0.1, 0.5, _load_digits, source="scikit-learn load_digits")
_add("fashion-mnist", (1, 28, 28), 10, (0.2860,), (0.3530,), 0.1, 1.5, _load_fashion, source="Xiao et al. 2017")
_add("mnist", (1, 28, 28), 10, (0.1307,), (0.3081,), 0.3, 2.0, _from_root("mnist", _read_mnist), source="LeCun et al. 1998")
_add("svhn", (3, 32, 32), 10, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), 8 / 255, 0.5,
     _from_root("svhn", _read_svhn), augment="crop", source="Netzer et al. 2011")
_add("cifar10", (3, 32, 32), 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 8 / 255, 0.5,
     _from_root("cifar10", _read_cifar10), augment="crop_flip", source="Krizhevsky 2009")
_add("cifar100", (3, 32, 32), 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 8 / 255, 0.5,
     _from_root("cifar100", _read_cifar100), augment="crop_flip", source="Krizhevsky 2009")


_LOOK["fashion-mnist"] = lambda root: any(_idx_files(f, "train") and _idx_files(f, "t10k")
                                          for f in _fashion_folders(root))


def check_installed(name: str, root: str | None = None, download: bool = False) -> None:
    """The loader's one-line error when a dataset's files are not where it looks; the files are not read
    (`bench validate`, `--dry-run`). A dataset a suite downloads (``download: true``), digits (embedded) and
    datasets without a file check (a plugin's) pass."""
    look = _LOOK.get(name)
    if not download and look is not None and not look(root):
        DATASETS.get(name).load(root=root, download=False)  # finds nothing: raises the loader's error


@lru_cache(maxsize=4)
def splits(name: str, root: str | None = None, download: bool = False) -> tuple[Split, Split]:
    """A dataset's (train, test) splits, cached per process (the cells of a run share one copy)."""
    return DATASETS.get(name).load(root=root, download=download)


def subset(split: Split, n: int | None, seed: int) -> tuple[torch.Tensor, Split]:
    """A fixed, seeded subset of n samples (all when n is None or >= len). Returns the indices too."""
    if n is None or n >= len(split):
        idx = torch.arange(len(split))
    else:
        idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return idx, Split(split.x[idx], split.y[idx])


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator | None = None, pad: int = 4,
                  mode: str = "zeros") -> torch.Tensor:
    """Batched training augmentation: a random crop of the image padded by ``pad`` pixels (``mode`` zeros, or
    edge: the border pixels repeated, as torchvision's RandomCrop(padding_mode='edge')), and for crop_flip a
    horizontal flip with probability 1/2."""
    if kind == "none":
        return x
    n, _, h, w = x.shape
    torch_mode = {"zeros": "constant", "edge": "replicate", "reflect": "reflect"}[mode]
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode=torch_mode)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device="cpu").to(x.device)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device="cpu").to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # n x h
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # n x w
    out = padded[torch.arange(n, device=x.device)[:, None, None, None],
                 torch.arange(x.shape[1], device=x.device)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
    if kind == "crop_flip":
        flip = torch.rand(n, generator=generator, device="cpu").to(x.device) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return out
