"""What every stage script shares: logging set-up and one-line errors."""
from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from deeptrash.errors import UserError


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
