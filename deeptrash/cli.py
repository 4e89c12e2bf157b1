"""What every stage script shares: the --params option, logging set-up and one-line errors."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Callable

from deeptrash.errors import UserError


def add_params_argument(parser: argparse.ArgumentParser,
                        help: str = "params file (default: %(default)s)") -> argparse.ArgumentParser:
    """The `--params FILE` option every stage takes (default params.yaml), as a Path."""
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), metavar="FILE", help=help)
    return parser


def setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("DEEPTRASH_LOG", "INFO"),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )


def run_stage(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Run a stage's `main(argv)`; a UserError becomes `error: ...` and exit status 2."""
    setup_logging()
    try:
        main(argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
