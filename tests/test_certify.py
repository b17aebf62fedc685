"""Certifiers: the rules' boundaries, the batched engine against one-sample-at-a-time references, and
the `certify` evaluation's keys, names and rows."""
import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.stats import binom

from bench.certify.engine import Streams, certify, certify_many
from bench.certify.rules import CERTIFIERS, N0, make_rule
from bench.certify.rules.fixed import clopper_pearson
from bench.certify.rules.repeated_binomial import algorithm2
from bench.certify.rules.sequential import log_mixture
from bench.certify.rules.spike import SPIKE, log_spike_slab, slab_start
from bench.data import DATASETS
from bench.errors import UserError
from bench.evals import EVALS, EvalContext
from bench.suite.yamlio import Node

CAP = 600


@pytest.mark.parametrize("name", list(CERTIFIERS))
def test_rule_boundaries_are_consistent(name):
    r = make_rule(name, 0.05, 0.05, CAP, 300)
    w = np.arange(len(r.hi))
    assert len(r.lo) == len(r.hi) == r.cap + 1
    assert (r.lo < r.hi).all() and (r.lo >= -1).all() and (r.hi <= w + 1).all()
    decided = (r.hi <= w) | (r.lo >= 0)
    assert decided.any()


def test_paper_boundaries_match_direct_binomial_tests():
    r = make_rule("paper", 0.01, 0.01, 800, 0)
    for w in range(1, 801, 7):
        v = np.arange(w + 1)
        assert np.array_equal(v <= r.lo[w], binom.cdf(v, w, 0.99) < 0.01)
        assert np.array_equal(v >= r.hi[w], binom.sf(v - 1, w, 0.99) < 0.01)
    assert r.hi[458] == 459 and r.hi[459] == 459  # 0.99^459 < 0.01 < 0.99^458: first certificate at 459


def test_sprt_boundaries_match_the_mixture():
    r = make_rule("sprt", 0.01, 0.01, 2000, 0)
    for w in (50, 700, 1500):
        v = np.arange(w + 1)
        assert np.array_equal(v >= r.hi[w], log_mixture(v, w, 0.99, True) >= np.log(100))
        assert np.array_equal(v <= r.lo[w], log_mixture(v, w, 0.99, False) >= np.log(100))
    first = int(np.argmax(r.hi <= np.arange(len(r.hi))))
    assert 600 < first < 700 and r.n0 == N0


def _direct_spike_slab(v, w, p0, start):
    """M+ by numerical integration of the likelihood ratio over the slab, plus the spike."""
    ratio = lambda q: np.exp(v * np.log(q / p0) + (w - v) * np.log((1 - q) / (1 - p0)))
    slab = quad(ratio, start, 1, epsabs=0, epsrel=1e-10, points=[(start + 1) / 2])[0] / (1 - start)
    return SPIKE * (v == w) * p0 ** -w + (1 - SPIKE) * slab


def test_spike_mixture_is_a_unit_martingale_at_p0():
    """M+_0 = 1 and, at p = p0, E[M+_{w+1} | v, w] = M+_w (each factor's mean is 1): the normaliser and
    both parts are right, so Ville's inequality applies."""
    p0, start = 0.99, 0.993
    assert log_spike_slab(0, 0, p0, start) == pytest.approx(0.0, abs=1e-12)
    for v, w in ((0, 0), (5, 5), (300, 300), (298, 300), (900, 950)):
        now = log_spike_slab(v, w, p0, start)
        nxt = np.logaddexp(np.log(p0) + log_spike_slab(v + 1, w + 1, p0, start),
                           np.log1p(-p0) + log_spike_slab(v, w + 1, p0, start))
        assert nxt == pytest.approx(now, abs=1e-9)
        assert np.exp(now) == pytest.approx(_direct_spike_slab(v, w, p0, start), rel=1e-6)


def test_spike_boundaries_and_slab():
    r = make_rule("spike", 0.01, 0.01, 10000, 0)
    start = slab_start(0.99, 0.01, r.cap)
    assert 0.992 < start < 0.994  # the q whose Wald bound is the cap
    kl = start * np.log(start / 0.99) + (1 - start) * np.log((1 - start) / 0.01)
    assert r.cap * kl == pytest.approx(np.log(100))
    assert slab_start(0.99, 0.01, 400) == 0.99  # a cap below 459 cannot certify anything: the full range
    first = int(np.argmax(r.hi <= np.arange(len(r.hi))))  # all-agree certificate
    assert _direct_spike_slab(first, first, 0.99, start) >= 100 > _direct_spike_slab(first - 1, first - 1, 0.99, start)
    for w in (700, 3000):
        v = np.arange(w + 1)
        assert np.array_equal(v >= r.hi[w], log_spike_slab(v, w, 0.99, start) >= np.log(100))
    assert np.array_equal(r.lo, make_rule("sprt", 0.01, 0.01, 10000, 0).lo)  # not_certified: sprt's side


def test_fixed_is_clopper_pearson_at_n():
    r = make_rule("fixed", 0.01, 0.01, None, 1000)
    assert r.cap == 1000 and (r.hi[:1000] == np.arange(1, 1001)).all() and (r.lo[:1000] == -1).all()
    lower, upper = clopper_pearson(np.array([r.hi[1000] - 1, r.hi[1000]]), 1000, 0.01)
    assert lower[0] <= 0.99 < lower[1]
    lower, upper = clopper_pearson(np.array([r.lo[1000], r.lo[1000] + 1]), 1000, 0.01)
    assert upper[0] < 0.99 <= upper[1]


class Tiny(torch.nn.Module):
    """A fixed linear classifier on 1x4x4 inputs, 3 classes: inputs near its boundary are uncertain."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(16, 3, generator=g))

    def forward(self, x):
        return x.flatten(1) @ self.w


def _inputs(n=24):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 4, 4, generator=g)


def _one_at_a_time(model, rule, stream):
    """A plain per-sample loop over Rule.decide (tested class: majority of the first n0)."""
    counts, sel, v, w = {}, None, 0, 0
    for t in range(1, rule.max_samples + 1):
        s = int(model(stream()[None]).argmax(1))
        counts[s] = counts.get(s, 0) + 1
        if t == rule.n0:
            sel = max(counts, key=counts.get)
        elif t > rule.n0:
            w, v = w + 1, v + (s == sel)
            d = rule.decide(v, w)
            if d:
                return max(counts, key=counts.get), d, t
    raise AssertionError("no decision at the cap")


@pytest.mark.parametrize("chunk", [7, 64])
def test_batched_paper_equals_algorithm2_one_sample_at_a_time(chunk):
    model, x = Tiny(), _inputs()
    rule = make_rule("paper", 0.05, 0.05, 300, 0)
    out = certify(model, x, rule, "linf", 0.3, 3, seed=3, chunk=chunk, batch_size=100)
    streams = Streams(x, "linf", 0.3, 3, "cpu")
    ref = [algorithm2(model, lambda i=i: streams.one(i), 0.05, 0.05, 300) for i in range(len(x))]
    assert [r[1] for r in ref] == list(out["decision"])
    assert [r[2] for r in ref] == list(out["samples"])
    assert [r[0] for r in ref] == list(out["pred"])
    assert {"certified", "not_certified", "undecided"} <= set(out["decision"])  # all three paths covered


def test_decisions_do_not_depend_on_chunk_batch_size_or_the_other_inputs():
    model, x = Tiny(), _inputs()
    rule = make_rule("sprt", 0.05, 0.05, 400, 0)
    runs = [certify(model, x, rule, "linf", 0.3, 3, seed=4, chunk=c, batch_size=b) for c, b in ((5, 7), (64, 1000))]
    part = [3, 10, 11, 17, 21]  # these inputs without the others, under their ids in x
    alone = certify(model, x[part], rule, "linf", 0.3, 3, seed=4, ids=part, chunk=16)
    for key in ("pred", "decision", "samples"):
        assert np.array_equal(runs[0][key], runs[1][key]), key
        assert np.array_equal(alone[key], runs[0][key][part]), key
    assert len(set(runs[0]["decision"])) >= 2
    assert len(set(runs[0]["samples"][part])) >= 3  # the inputs' streams differ: ids are not ignored


@pytest.mark.parametrize("vicinity", ["linf", "gaussian", "affine"])
def test_stream_samples_are_a_function_of_input_and_sample_number(vicinity):
    x = _inputs(5)
    streams, zero = Streams(x, vicinity, 0.3, 9, "cpu"), torch.zeros(5, dtype=torch.int64)
    whole = streams.draw(torch.arange(5), zero, 6).view(5, 6, -1)
    late = streams.draw(torch.tensor([3, 1]), torch.tensor([2, 0]), 4).view(2, 4, -1)  # another order and blocks
    assert torch.equal(late[0], whole[3, 2:6]) and torch.equal(late[1], whole[1, :4])
    singles = Streams(x, vicinity, 0.3, 9, "cpu")
    assert torch.equal(torch.stack([singles.one(2, prefetch=4).flatten() for _ in range(6)]), whole[2])
    other_seed = Streams(x, vicinity, 0.3, 10, "cpu").draw(torch.arange(5), zero, 6).view(5, 6, -1)
    assert not torch.equal(other_seed, whole)


@pytest.mark.parametrize("name", ["sprt", "fixed"])
def test_batched_selection_rules_equal_one_at_a_time(name):
    model, x = Tiny(), _inputs()
    rule = make_rule(name, 0.05, 0.05, 400, 150)
    out = certify(model, x, rule, "linf", 0.3, 3, seed=2, chunk=16, batch_size=64)
    streams = Streams(x, "linf", 0.3, 2, "cpu")
    ref = [_one_at_a_time(model, rule, lambda i=i: streams.one(i)) for i in range(len(x))]
    assert [r[1] for r in ref] == list(out["decision"])
    assert [r[2] for r in ref] == list(out["samples"])
    assert [r[0] for r in ref] == list(out["pred"])
    assert len(set(out["decision"])) >= 2


class Counting(Tiny):
    """Tiny that counts the samples it classifies."""

    seen = 0

    def forward(self, x):
        self.seen += len(x)
        return super().forward(x)


def test_many_rules_share_one_stream_and_equal_each_rule_alone():
    x = _inputs()
    rules = [make_rule("sprt", k, a, 400, 0) for k, a in ((0.05, 0.05), (0.01, 0.05), (0.2, 0.05), (0.05, 0.001))]
    rules += [make_rule("paper", 0.05, 0.05, 300, 0), make_rule("fixed", 0.05, 0.05, None, 150)]
    model = Counting()
    together = certify_many(model, x, rules, "linf", 0.3, 3, seed=3, chunk=16, batch_size=64)
    alone_cost = []
    for rule, out in zip(rules, together):
        single = Counting()
        alone = certify(single, x, rule, "linf", 0.3, 3, seed=3, chunk=16, batch_size=64)
        alone_cost.append(single.seen)
        for key in ("pred", "decision", "samples"):
            assert list(out[key]) == list(alone[key]), (rule.name, key)
    longest = np.max([-(-o["samples"] // 16) * 16 for o in together], axis=0)  # per input, in whole chunks
    assert model.seen == longest.sum() < sum(alone_cost) / 2  # each input sampled once, for its longest rule
    assert len({tuple(o["decision"]) for o in together}) > 1  # the points differ


def test_decisions_do_not_depend_on_the_other_inputs():
    model, x = Tiny(), _inputs()
    rule = make_rule("sprt", 0.05, 0.05, 400, 0)
    full = certify(model, x, rule, "linf", 0.3, 3, seed=4)
    alone = certify(model, x[:1], rule, "linf", 0.3, 3, seed=4)
    assert full["decision"][0] == alone["decision"][0] and full["samples"][0] == alone["samples"][0]


def _resolve(**opts):
    node = Node(opts)
    node.file, node.line = "s.yaml", 3
    return EVALS.get("certify").resolve("linf", node, DATASETS.get("digits"), "s.yaml:3")


def test_resolve_defaults_and_sweep_names():
    name, p = _resolve()
    assert name == "certify:linf" and p["eps"] == [0.1] and p["points"] == [[0.01, 0.01]]
    assert p["certifier"] == "spike" and p["max_samples"] == 10000
    _, p = _resolve(kappa=[0.001, 0.01, 0.1], alpha=[0.05, 0.01, 0.001], certifier="paper")
    assert p["points"] == [[0.001, 0.01], [0.01, 0.01], [0.1, 0.01], [0.01, 0.05], [0.01, 0.001]]
    from bench.evals.certify import point_name
    assert point_name("certify:linf", 0.1, 0.01, 0.01) == "certify:linf@0.1"
    assert point_name("certify:rotation", 35, 0.1, 0.01) == "certify:rotation@35[kappa=0.1,alpha=0.01]"


@pytest.mark.parametrize("opts,msg", [
    ({"certifer": "paper"}, "did you mean 'certifier'"),
    ({"certifier": "papr"}, "did you mean 'paper'"),
    ({"kappa": 0}, "must be > 0"),
    ({"alpha": 0.7}, "must be <= 0.5"),
    ({"eps": -1}, ">= 0"),
])
def test_resolve_errors(opts, msg):
    with pytest.raises(UserError, match=msg):
        _resolve(**opts)


def test_resolve_unknown_vicinity_and_bad_radius():
    info = DATASETS.get("digits")
    with pytest.raises(UserError, match="did you mean 'rotation'"):
        EVALS.get("certify").resolve("rotaton", {}, info, "s.yaml:1")
    with pytest.raises(UserError, match="must be < 1"):
        EVALS.get("certify").resolve("scale", {"eps": 1.2}, info, "s.yaml:1")


def test_run_rows_and_notes():
    model, x = Tiny(), _inputs(10)
    y = torch.zeros(10, dtype=torch.int64)
    ctx = EvalContext(info=DATASETS.get("digits"), device=torch.device("cpu"), batch_size=64, seed=0, notes={})
    ctx.info = type("I", (), {"num_classes": 3})()
    _, p = _resolve(eps=[0.1, 0.3], kappa=[0.05, 0.1], alpha=0.05, certifier="paper", max_samples=300)
    cols = EVALS.get("certify")("certify:linf", p).run(model, x, y, ctx)
    names = list(dict.fromkeys(cols["evaluation"]))
    assert names == ["certify:linf@0.1[kappa=0.05,alpha=0.05]", "certify:linf@0.1[kappa=0.1,alpha=0.05]",
                     "certify:linf@0.3[kappa=0.05,alpha=0.05]", "certify:linf@0.3[kappa=0.1,alpha=0.05]"]
    assert len(cols["pred"]) == 40 and set(cols["decision"]) <= {"certified", "not_certified", "undecided"}
    assert np.array_equal(cols["correct"], cols["pred"] == 0)
    assert set(cols["kappa"]) == {0.05, 0.1} and set(cols["eps"]) == {0.1, 0.3}
    note = ctx.notes["certify"][names[0]]
    block = cols["decision"][:10] == "certified"
    assert note["certified_robust_accuracy"] == pytest.approx((block & cols["correct"][:10]).mean())
