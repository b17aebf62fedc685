"""Counter-based random numbers (bench.pr.keyed): the hash against a Python SplitMix64, the laws of the draws,
independence between rows, and device independence."""
import numpy as np
import pytest
import torch
from scipy import stats

from bench.pr.keyed import KeyedSource, mix, row_keys

M64 = (1 << 64) - 1


def splitmix_finaliser(z: int) -> int:
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def test_mix_equals_splitmix64_in_wrapping_int64():
    values = [0, 1, 2, 12345, -1, -(1 << 63), (1 << 63) - 1, 0x9E3779B97F4A7C15 - (1 << 64)]
    got = mix(torch.tensor(values, dtype=torch.int64)).tolist()
    assert [g & M64 for g in got] == [splitmix_finaliser(v) for v in values]


def _source(rows, seed=0, sample=0):
    return KeyedSource(row_keys(seed, torch.arange(rows), torch.full((rows,), sample)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_uniform_law(dtype):
    u = _source(1000).rand((1000, 100), torch.empty(0, dtype=dtype))
    assert u.dtype == dtype and u.shape == (1000, 100)
    assert u.min() >= 0 and u.max() < 1
    u = u.double()
    assert stats.kstest(u.flatten().numpy(), "uniform").pvalue > 1e-3
    assert abs(u.mean().item() - 0.5) < 0.005 and abs(u.var().item() - 1 / 12) < 0.002


def test_normal_law():
    z = _source(500).randn((500, 200), torch.empty(0)).flatten().double().numpy()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1) < 0.02


def test_rows_calls_and_sample_numbers_are_uncorrelated():
    like = torch.empty(0)
    a = _source(20000).rand((20000, 5), like)
    src = _source(20000)
    first, second = src.rand((20000, 5), like), src.rand((20000, 5), like)
    later = _source(20000, sample=1).rand((20000, 5), like)
    other_seed = _source(20000, seed=1).rand((20000, 5), like)
    assert torch.equal(a, first)  # the same key and call: the same values
    pairs = [(a[:-1], a[1:]), (a[:, :-1], a[:, 1:]), (first, second), (a, later), (a, other_seed)]
    for p, q in pairs:  # neighbouring rows, columns, calls, sample numbers, seeds
        r = np.corrcoef(p.flatten().numpy(), q.flatten().numpy())[0, 1]
        assert abs(r) < 0.01, r


def test_a_draw_must_have_one_row_per_key():
    with pytest.raises(ValueError, match="keyed draw of 3 rows from 4 keys"):
        _source(4).rand((3, 2), torch.empty(0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_same_values_on_cpu_and_cuda():
    cpu = _source(64).rand((64, 10), torch.empty(0))
    keys = row_keys(0, torch.arange(64, device="cuda"), torch.zeros(64, dtype=torch.int64, device="cuda"))
    gpu = KeyedSource(keys).rand((64, 10), torch.empty(0, device="cuda"))
    assert torch.equal(cpu, gpu.cpu())
