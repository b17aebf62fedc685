"""Counter-based random numbers: every value is a hash of (key, counter), so a draw needs no generator
state, any subset of rows can be drawn in one batched call in any order, and the values are the same on
every device (the hash is exact 64-bit integer arithmetic).

The hash is SplitMix64's output function (Steele, Lea and Flood 2014, "Fast splittable pseudorandom number
generators"): row r's stream is mix(key_r + n * GAMMA) for n = 0, 1, ..., as SplitMix64 with seed key_r.
Keys are themselves mixed from (seed, input, sample number), so streams of different rows start at
unrelated points of the 2^64 cycle. torch's int64 arithmetic wraps around, which the hash relies on
(tests/test_keyed.py checks it against a Python reference); the logical right shift is an arithmetic shift
and a mask.

``KeyedSource(keys)`` is a vicinity's source of randomness (bench.pr.vicinity): ``rand(shape, like)`` returns
U[0,1) values of ``shape`` whose first dimension indexes the rows of ``keys``; its c-th call reads the
counters c * 2^32 + column, so the calls of one vicinity draw never share values.
"""
from __future__ import annotations

import math

import torch

_M64 = (1 << 64) - 1


def _signed(c: int) -> int:
    return c - (1 << 64) if c >= 1 << 63 else c


GAMMA = _signed(0x9E3779B97F4A7C15)
_C1, _C2 = _signed(0xBF58476D1CE4E5B9), _signed(0x94D049BB133111EB)


def _shr(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 values."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def mix(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's finaliser on int64 tensors (wrapping arithmetic)."""
    z = (z ^ _shr(z, 30)) * _C1
    z = (z ^ _shr(z, 27)) * _C2
    return z ^ _shr(z, 31)


def row_keys(seed: int, inputs: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """The key of sample number ``samples`` of input ``inputs`` under ``seed`` (int64 tensors, broadcast)."""
    base = mix(torch.tensor(_signed(seed & _M64), dtype=torch.int64, device=inputs.device) + GAMMA)
    return mix(mix(base + inputs.to(torch.int64) * GAMMA) + samples.to(torch.int64) * GAMMA)


def uniform(bits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """U[0,1) from 64-bit hashes: the top m bits, m the dtype's significand width (24 for float32, 53 for
    float64, 11 for float16), so every value is exact in the dtype and below 1."""
    m = round(-math.log2(torch.finfo(dtype).eps)) + 1
    return _shr(bits, 64 - m).to(dtype) * 2.0 ** -m


class KeyedSource:
    """Uniform and normal draws for rows with the given int64 keys (see the module docstring)."""

    def __init__(self, keys: torch.Tensor):
        self.keys = keys
        self.calls = 0

    def rand(self, shape, like: torch.Tensor) -> torch.Tensor:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if shape[0] != len(self.keys):
            raise ValueError(f"a keyed draw of {shape[0]} rows from {len(self.keys)} keys")
        dev = like.device
        counter = self.calls * (1 << 32) + torch.arange(1, math.prod(shape[1:]) + 1, dtype=torch.int64, device=dev)
        self.calls += 1
        bits = mix(self.keys.to(dev)[:, None] + counter * GAMMA)
        return uniform(bits, like.dtype).view(shape)

    def randn(self, shape, like: torch.Tensor) -> torch.Tensor:
        """N(0,1) by Box-Muller from two uniform draws."""
        u1, u2 = 1.0 - self.rand(shape, like), self.rand(shape, like)  # u1 in (0, 1]: log is finite
        return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * math.pi * u2)
