"""The `bench` command: run | report | check | gc | list | validate (bench.cli.run, bench.cli.results; the
arguments: bench.cli.arguments)."""
from __future__ import annotations

import sys

from bench.cli.arguments import parser
from bench.errors import UserError


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except UserError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `bench list attacks | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("bench: interrupted; finished cells are kept, re-run to resume", file=sys.stderr)
        return 130
