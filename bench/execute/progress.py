"""Progress of a run that a batch job can read.

In a terminal, training shows tqdm bars (bench.execute.train) and nothing here prints to it. When stderr is not a
terminal (a log file, CI, a cluster job), the active ``Board`` prints plain lines to stderr:

    [bench 12:03:04] epoch 3/10 fashion-mnist/pgdt/s0: loss 0.8123 acc 0.7012 41.2s | cell ETA 4m48s | run ETA 31m
    [bench 12:07:52] done train 2/4 fashion-mnist/pgdt/s0 in 412.0s (train acc 0.731) | run ETA 26m
    [bench 12:09:13] eval fashion-mnist/pgdt/s0 attack:AutoAttack: 1m30s, 412,160 inputs through the model
    [bench 12:09:20] eval fashion-mnist/pgdt/s0 attack:AutoAttack: robust accuracy after APGD-CE: 61.20% ...
    [bench 12:14:02] eval fashion-mnist/pgdt/s0 attack:AutoAttack: AutoAttack eps 0.1: robust accuracy 52.80% of
                     all 500 inputs (the table's number); 60.00% of the 440 clean-correct inputs it was given, ...

    [bench 12:20:41] chunk 3/10 cifar10/pgdt/s0 attack:AutoAttack in 412.3s | cell ETA 48m06s | run ETA 3h12m
    [bench 12:31:02] resuming cifar10/pgdt/s0 at epoch 37/100

one line per epoch (cell, epoch, mean loss and accuracy over the epoch, the epoch's seconds, the ETA of
the cell and of the run), one per finished cell, one per finished chunk of an eval cell in chunks (the
cell's ETA at its own seconds per chunk), one when a cell or a training resumes, and for long evaluations (AutoAttack, certification,
smoothing: anything that runs the model for over ``HEARTBEAT`` seconds) a line every ``HEARTBEAT``
seconds counting the inputs that went through the model, plus AutoAttack's own per-component log (whose
percentages count only the clean-correct inputs AutoAttack is given) and bench's line after it with both numbers.
``bench run --log FILE`` writes the same lines, and every Python warning, to FILE as well (also with
--quiet, which silences stderr).

The run's ETA adds the current cell's ETA (at its own seconds per epoch), the other training cells'
epochs at the mean seconds per epoch measured so far (so a cheap recipe trained first makes it low) and the
chunks of the evaluation cells not yet done at the mean seconds of the chunks finished (a cell of one chunk
counts as one; "+ N evals" while none has finished).

The board is module state (``active()``), set by ``bench run`` for the length of the run, so the training
loop and the executor report through a function call without new parameters; with no board, every call
is a no-op.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from pathlib import Path

import torch

HEARTBEAT = 30.0  # seconds between progress lines of a long evaluation
# loggers whose records a long evaluation's lines include: AutoAttack's own, and bench's evaluations' (the
# line after AutoAttack's that gives robust accuracy over all inputs too)
FORWARDED = ("auto-attack", "bench.evals")


def duration(seconds: float) -> str:
    """4s, 3m07s, 2h05m."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Board:
    """Where progress lines go: stderr (when ``lines``) and an optional log file."""

    def __init__(self, lines: bool, log_file: Path | None = None, stream=None, clock=time.perf_counter):
        self.lines = lines
        self.stream = stream if stream is not None else sys.stderr
        self.file = open(log_file, "a", encoding="utf-8") if log_file else None
        self.clock = clock
        self.epochs_left: dict[str, int] = {}  # train label -> epochs not yet trained (cells still to run)
        self.chunks_left: dict[str, int] = {}  # eval label -> chunks not yet computed (cells still to run)
        self.epoch_seconds: list[float] = []
        self.chunk_seconds: dict[str, list[float]] = {}  # eval label -> seconds of its finished chunks
        self.cell_start: dict[str, float] = {}
        self.current: tuple[str | None, float] = (None, 0.0)  # the training cell running, its ETA in seconds

    # -- output ------------------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        line = f"[bench {time.strftime('%H:%M:%S')}] {text}"
        if self.lines:
            print(line, file=self.stream, flush=True)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file:
            self.file.close()
            self.file = None

    # -- plan and ETA ------------------------------------------------------------------------------------
    def begin(self, trains, evals, train_done, eval_done) -> None:
        """The cells still to run (``train_done(cell)`` / ``eval_done(cell)`` say which are finished)."""
        self.epochs_left = {c.label: c.epochs for c in trains if not train_done(c)}
        self.chunks_left = {getattr(c, "label", c): getattr(c, "n_chunks", 1) for c in evals if not eval_done(c)}
        self.say(f"run: {len(self.epochs_left)} model cells and {len(self.chunks_left)} eval cells to run")

    def run_eta(self) -> str:
        """The current cell's ETA, plus the other training cells' epochs at the mean seconds per epoch so far,
        plus the eval cells left at the mean seconds of those finished."""
        per_epoch = sum(self.epoch_seconds) / len(self.epoch_seconds) if self.epoch_seconds else None
        left = sum(n for label, n in self.epochs_left.items() if label != self.current[0])
        if left and per_epoch is None:
            return "?"
        seconds = (per_epoch or 0.0) * left + self.current[1]
        chunks = [s for times in self.chunk_seconds.values() for s in times]
        if self.chunks_left and not chunks:
            return f"{duration(seconds)} + {len(self.chunks_left)} evals"
        if chunks:
            seconds += sum(self.chunks_left.values()) * sum(chunks) / len(chunks)
        return duration(seconds)

    def epoch(self, label: str, epoch: int, epochs: int, loss: float, acc: float, elapsed: float,
              first: int = 0) -> None:
        """Epoch ``epoch`` (1-based) of ``epochs`` finished, ``elapsed`` seconds after this process started
        training at epoch ``first`` + 1 (a resumed training starts after its last saved epoch)."""
        seconds = elapsed - self.cell_start.get(label, 0.0)
        self.cell_start[label] = elapsed
        self.epoch_seconds.append(seconds)
        self.epochs_left[label] = epochs - epoch
        cell_eta = elapsed / max(1, epoch - first) * (epochs - epoch)
        self.current = (label, cell_eta)
        self.say(f"epoch {epoch}/{epochs} {label}: loss {loss:.4f} acc {acc:.4f} {seconds:.1f}s | "
                 f"cell ETA {duration(cell_eta)} | run ETA {self.run_eta()}")

    def cell_done(self, kind: str, label: str, i: int, n: int, seconds: float, summary: str = "") -> None:
        """A cell finished: ``kind`` eval, or what a model cell did (train, load)."""
        if kind != "eval":
            self.epochs_left.pop(label, None)
            self.cell_start.pop(label, None)
            self.current = (None, 0.0)
        else:
            # the cell's entry (or, for a label the board was not told about, any one: the count is what matters)
            self.chunks_left.pop(label if label in self.chunks_left else next(iter(self.chunks_left), None), None)
            if label not in self.chunk_seconds:  # a cell of one chunk
                self.chunk_seconds[label] = [seconds]
        extra = f" ({summary})" if summary else ""
        self.say(f"done {kind} {i}/{n} {label} in {seconds:.1f}s{extra} | run ETA {self.run_eta()}")

    def chunk_done(self, label: str, k: int, n: int, seconds: float, where: str = "") -> None:
        """Chunk ``k`` (1-based) of the ``n`` of eval cell ``label`` finished in ``seconds``."""
        times = self.chunk_seconds.setdefault(label, [])
        times.append(seconds)
        self.chunks_left[label] = max(0, n - k)  # chunks 1..k are done (kept from a killed run, or computed)
        cell_eta = sum(times) / len(times) * self.chunks_left[label]
        self.say(f"chunk {k}/{n} {label} in {seconds:.1f}s{where} | cell ETA {duration(cell_eta)} | "
                 f"run ETA {self.run_eta()}")

    # -- long evaluations --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def evaluating(self, label: str, interval: float | None = None):
        """While an evaluation runs: a line every ``interval`` seconds counting the inputs that went
        through any model (a global forward hook that counts outermost calls only), and the log lines of
        AutoAttack (its 'auto-attack' logger at DEBUG) and of bench's evaluations (``FORWARDED``)."""
        interval = HEARTBEAT if interval is None else interval
        start = last = self.clock()
        depth, count = [0], [0]

        def pre(module, args):
            depth[0] += 1

        def post(module, args, output):
            nonlocal last
            depth[0] -= 1
            if depth[0] == 0 and args and isinstance(args[0], torch.Tensor):
                count[0] += len(args[0])
                now = self.clock()
                if now - last >= interval:
                    last = now
                    self.say(f"eval {label}: {duration(now - start)}, {count[0]:,} inputs through the model")

        handles = [torch.nn.modules.module.register_module_forward_pre_hook(pre),
                   torch.nn.modules.module.register_module_forward_hook(post, always_call=True)]
        forward = _Forward(self, label)
        loggers = [logging.getLogger(name) for name in FORWARDED]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.addHandler(forward)
            lg.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.removeHandler(forward)
                lg.setLevel(level)
            for h in handles:
                h.remove()


class _Forward(logging.Handler):
    """Sends AutoAttack's log records (running apgd-ce, robust accuracy after ...) and bench's evaluations'
    to the board."""

    def __init__(self, board: Board, label: str):
        super().__init__(logging.DEBUG)
        self.board, self.label = board, label

    def emit(self, record):
        self.board.say(f"eval {self.label}: {record.getMessage()}")


_ACTIVE: Board | None = None


def active() -> Board | None:
    return _ACTIVE


def epoch(label: str, epoch_: int, epochs: int, loss: float, acc: float, elapsed: float, first: int = 0) -> None:
    if _ACTIVE:
        _ACTIVE.epoch(label, epoch_, epochs, loss, acc, elapsed, first)


def chunk_done(label: str, k: int, n: int, seconds: float, where: str = "") -> None:
    if _ACTIVE:
        _ACTIVE.chunk_done(label, k, n, seconds, where)


def begin(trains, evals, train_done, eval_done) -> None:
    if _ACTIVE:
        _ACTIVE.begin(trains, evals, train_done, eval_done)


def say(text: str) -> None:
    """One line on the active board (the Ray executor's per-cell lines: its tasks run elsewhere)."""
    if _ACTIVE:
        _ACTIVE.say(text)


def cell_done(kind: str, label: str, i: int, n: int, seconds: float, summary: str = "") -> None:
    if _ACTIVE:
        _ACTIVE.cell_done(kind, label, i, n, seconds, summary)


def evaluating(label: str):
    return _ACTIVE.evaluating(label) if _ACTIVE else contextlib.nullcontext()


@contextlib.contextmanager
def board(lines: bool, log_file: Path | None = None):
    """Make a Board the active one for a run; warnings raised meanwhile also go to its log file."""
    global _ACTIVE
    b = Board(lines, log_file)
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if b.file:
            b.file.write(f"[bench {time.strftime('%H:%M:%S')}] warning: {filename}:{lineno}: "
                         f"{category.__name__}: {message}\n")
            b.file.flush()
        shown(message, category, filename, lineno, file, line)

    previous, _ACTIVE = _ACTIVE, b
    warnings.showwarning = show
    try:
        yield b
    finally:
        warnings.showwarning = shown
        _ACTIVE = previous
        b.close()
