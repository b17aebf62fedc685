"""Batched certification: many inputs at once, a chunk of vicinity samples per input per round, and the
certifier's per-sample stopping rule replayed on the counts, so each input stops exactly where the
one-sample-at-a-time rule would and wastes at most one chunk's tail.

Random streams: sample j of input i is drawn from counter-based random values keyed by (seed, id of i, j)
alone (``Streams``, bench.pr.keyed; the id is the input's index in the test split when given, else its
position), and each round draws the next chunk of every running input in one
batched vicinity call. A decision therefore depends only on the model, the input and the seed: not on
which other inputs are certified alongside it, the chunk, the batch size or the device (up to float
rounding of the vicinity's arithmetic); the one-at-a-time reference
(bench.certify.rules.repeated_binomial.algorithm2) reads the same stream one sample at a time and reaches
the same decisions (tests/test_certify.py).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from bench.certify.rules import Rule
from bench.pr.keyed import KeyedSource, row_keys
from bench.pr.vicinity import draw

CODES = np.array(["running", "certified", "not_certified", "undecided"], dtype=object)
_TIE = 1 << 32  # majority key: count * _TIE - first-seen sample number (ties: the class seen first)


class Streams:
    """Per-input vicinity samples: sample j of input i comes from keyed values of (seed, ids[i], j);
    ids default to the positions 0..B-1."""

    def __init__(self, x: torch.Tensor, vicinity: str, radius: float, seed: int, device, ids=None):
        self.x, self.vicinity, self.radius, self.seed = x.to(device), vicinity, radius, seed
        self.ids = torch.arange(len(x)) if ids is None else torch.as_tensor(ids, dtype=torch.int64).cpu()
        self._ahead: dict[int, tuple[torch.Tensor, int, int]] = {}  # one(): block, position, block's first number

    def draw(self, inputs: torch.Tensor, start: torch.Tensor, n: int) -> torch.Tensor:
        """Samples start .. start+n-1 of each of ``inputs`` (int64, CPU): (len(inputs) * n, C, H, W),
        input-major."""
        dev = self.x.device
        numbers = start[:, None] + torch.arange(n)
        keys = row_keys(self.seed, self.ids[inputs, None].to(dev), numbers.to(dev)).flatten()
        rows = self.x[inputs.to(dev)].repeat_interleave(n, dim=0)
        return draw(self.vicinity, rows, self.radius, KeyedSource(keys))

    def one(self, i: int, prefetch: int = 64) -> torch.Tensor:
        """The next single sample of input i: (C, H, W), served from a block of the next ``prefetch``
        samples (the same values as drawing them one by one, without a hash per call)."""
        blk, pos, first = self._ahead.get(i, (None, 0, 0))
        if blk is None or pos == len(blk):
            first += 0 if blk is None else len(blk)
            blk, pos = self.draw(torch.tensor([i]), torch.tensor([first]), prefetch), 0
        self._ahead[i] = (blk, pos + 1, first)
        return blk[pos]


@torch.no_grad()
def _predict_rounds(model, streams: Streams, active: torch.Tensor, start: torch.Tensor, chunk: int,
                    batch_size: int) -> torch.Tensor:
    """Predictions of samples start .. start+chunk-1 of each active input: (A, chunk) int64 on the CPU."""
    xs = streams.draw(active, start, chunk)
    preds = [model(xs[j:j + batch_size]).argmax(1) for j in range(0, len(xs), batch_size)]
    return torch.cat(preds).cpu().view(len(active), chunk)


def _majority(counts: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    return (counts * _TIE - first).argmax(-1)


class _Run:
    """One rule's per-input state: the tested class and its test count (n0 > 0), and the outcome."""

    def __init__(self, rule: Rule, b: int):
        self.rule = rule
        self.lo, self.hi = torch.from_numpy(rule.lo), torch.from_numpy(rule.hi)
        self.sel = torch.full((b,), -1, dtype=torch.int64)  # tested class (n0 > 0)
        self.tv = torch.zeros(b, dtype=torch.int64)  # test samples agreeing with sel
        self.code = np.zeros(b, dtype=np.int64)
        self.samples = np.zeros(b, dtype=np.int64)
        self.pred = np.zeros(b, dtype=np.int64)

    def advance(self, a: torch.Tensor, p, cum, t, drawn, first) -> None:
        """Replay the rule over one chunk of the inputs ``a`` (all still running under it): p (A, c)
        predictions, cum (A, c, K) class counts after each sample, t (A, c) sample numbers, drawn (A,)
        samples before the chunk, first (A, K) where each class first appeared."""
        rule, chunk = self.rule, p.shape[1]
        if rule.n0 == 0:  # Algorithm 2: test the running majority against all samples
            v, w = cum.max(-1).values, t.clamp(max=rule.cap)
            valid = torch.ones_like(t, dtype=torch.bool)
        else:
            at = (rule.n0 - drawn - 1).clamp(0, chunk - 1)  # chunk position of the n0-th sample
            picked = _majority(cum[torch.arange(len(a)), at], first)
            sel = self.sel[a]
            s = torch.where((sel < 0) & (drawn < rule.n0) & (drawn + chunk >= rule.n0), picked, sel)
            self.sel[a] = s
            valid = t > rule.n0
            v = self.tv[a, None] + ((p == s[:, None]) & valid).cumsum(1)
            w = (t - rule.n0).clamp(0, rule.cap)
            self.tv[a] = v[:, -1]
        lo, hi = self.lo, self.hi
        stop = valid & ((v <= lo[w]) | (v >= hi[w]) | (w >= rule.cap))
        any_stop = stop.any(1)
        j = stop.to(torch.int64).argmax(1)  # first stopping position
        rows = torch.arange(len(a))
        vj, wj = v[rows, j], w[rows, j]
        dec = torch.where(vj <= lo[wj], 2, torch.where(vj >= hi[wj], 1, 3))
        done = any_stop.numpy()
        idx = a.numpy()[done]
        self.code[idx] = dec[any_stop].numpy()
        self.samples[idx] = t[rows, j][any_stop].numpy()
        self.pred[idx] = _majority(cum[rows, j], first)[any_stop].numpy()

    def result(self) -> dict[str, np.ndarray]:
        return {"pred": self.pred, "decision": CODES[self.code], "samples": self.samples}


def certify_many(model, x: torch.Tensor, rules: Sequence[Rule], vicinity: str, radius: float, num_classes: int, *,
                 seed: int = 0, ids=None, chunk: int = 64, batch_size: int = 1024, device="cpu"
                 ) -> list[dict[str, np.ndarray]]:
    """Certify every input of x under each of ``rules`` (a kappa/alpha sweep, several certifiers) from one
    stream of predictions: an input is sampled while any rule is still running on it, so the model's
    cost is that of the longest-running rule, not the sum. Each rule's result equals ``certify`` with
    that rule alone: pred (majority over the samples it drew), decision (certified | not_certified |
    undecided) and samples (drawn until its decision)."""
    model.eval()
    b, k = len(x), num_classes
    streams = Streams(x, vicinity, radius, seed, device, ids)
    counts = torch.zeros(b, k, dtype=torch.int64)  # per class, over all samples drawn
    first = torch.full((b, k), _TIE - 1, dtype=torch.int64)  # sample number where each class first appeared
    drawn = torch.zeros(b, dtype=torch.int64)
    runs = [_Run(rule, b) for rule in rules]
    steps = torch.arange(1, chunk + 1)
    while (active := np.flatnonzero(np.any([r.code == 0 for r in runs], axis=0))).size:
        a = torch.from_numpy(active)
        p = _predict_rounds(model, streams, a, drawn[a], chunk, batch_size)  # (A, c)
        onehot = F.one_hot(p, k)
        cum = counts[a, None, :] + onehot.cumsum(1)  # (A, c, K): counts after each sample
        t = drawn[a, None] + steps  # sample number of each
        seen = onehot.sum(1) > 0
        new_first = drawn[a, None] + (onehot.argmax(1) + 1)  # first occurrence in this chunk
        first[a] = torch.where((first[a] == _TIE - 1) & seen, new_first, first[a])
        for run in runs:
            m = torch.from_numpy(run.code[active] == 0)
            if m.any():
                run.advance(a[m], p[m], cum[m], t[m], drawn[a][m], first[a][m])
        counts[a] = cum[:, -1]
        drawn[a] += chunk
    return [run.result() for run in runs]


def certify(model, x: torch.Tensor, rule: Rule, vicinity: str, radius: float, num_classes: int, *,
            seed: int = 0, ids=None, chunk: int = 64, batch_size: int = 1024, device="cpu") -> dict[str, np.ndarray]:
    """Certify every input of x under ``rule``. Returns pred (majority over the samples drawn), decision
    (certified | not_certified | undecided) and samples (drawn until the decision)."""
    return certify_many(model, x, [rule], vicinity, radius, num_classes, seed=seed, ids=ids, chunk=chunk,
                        batch_size=batch_size, device=device)[0]


class ShareModel(torch.nn.Module):
    """A stand-in classifier whose vicinity samples agree with class 0 independently with probability p,
    for measuring certifiers through the engine (``at_share``): on 1x1x1 inputs it predicts class 0 when
    the pixel is below p, else class 1. At x = 0.5 the linf vicinity of radius 0.5 draws the pixel from
    U(0, 1), so P(class 0) = p up to the keyed uniforms' float32 resolution."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hit = x.flatten(1)[:, 0] < self.p
        return torch.stack([hit, ~hit], 1).float()


def at_share(rules: Sequence[Rule], p: float, inputs: int, *, seed: int = 0, chunk: int = 256
             ) -> list[dict[str, np.ndarray]]:
    """Each rule's results on ``inputs`` inputs whose samples agree with their class with probability p
    (``ShareModel``), all rules on one stream: certify_many's output."""
    x = torch.full((inputs, 1, 1, 1), 0.5)
    return certify_many(ShareModel(p), x, rules, "linf", 0.5, 2, seed=seed, chunk=chunk, batch_size=1 << 20)
