"""The README's `dvc exp run -S ...` examples, applied as DVC applies them, give valid params."""
from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from dvc.utils.hydra import apply_overrides

from deeptrash.errors import UserError
from deeptrash.params import load_params
from deeptrash.scrape import engines

REPO = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    """Every `dvc exp run` command in the README's bash blocks, continuation lines joined."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [line.split("   #")[0].strip() for line in lines if "dvc exp run" in line and " -S " in line]


def overrides(command: str) -> list[str]:
    args = shlex.split(command)
    return [args[i + 1] for i, arg in enumerate(args) if arg in ("-S", "--set-param")]


COMMANDS = readme_commands()


def test_the_readme_has_examples():
    assert len(COMMANDS) >= 8 and any("scrape.engine=urls" in c for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_example_gives_valid_params(command, tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    apply_overrides(params, overrides(command))
    load_params(params)  # raises UserError (one line) if the example made them invalid


def test_readme_url_list_example_works_once_the_lists_exist(tmp_path, monkeypatch):
    command = next(c for c in COMMANDS if "scrape.engine=urls" in c)
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    apply_overrides(params, overrides(command))
    scrape = load_params(params).scrape
    assert scrape.engine == "urls"
    queries = {f"scrape.{kind}.{key}": value for kind in ("trash", "landscape")
               for key, value in getattr(scrape, kind).items()}
    monkeypatch.chdir(tmp_path)
    name, value = next(iter(queries.items()))
    with pytest.raises(UserError, match=f"^{re.escape(name)}: engine urls needs the path of a URL list"):
        engines.preflight(scrape, value, name=name)  # before the user wrote the list
    for name, value in queries.items():
        Path(value).parent.mkdir(parents=True, exist_ok=True)
        Path(value).write_text("https://example.org/a.jpg\n")
        engines.preflight(scrape, value, name=name)  # every query is now a usable URL list
