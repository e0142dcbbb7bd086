"""Shared test set-up: every test gets a cache folder of its own, never the user's; helpers
for the tests that write their own configs."""

import json
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder / "mean-image-report"


ROOT = Path(__file__).resolve().parents[1]
POKEMON = ROOT.parent / "shared" / "data" / "pokemon"
needs_pokemon = pytest.mark.skipif(not POKEMON.is_dir(), reason=f"{POKEMON} is not present")


def toml_text(value, table=""):
    """A small TOML writer for the configs these tests make: strings, numbers, booleans,
    lists and nested tables."""
    def scalar(item):
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, (int, float)):
            return repr(item)
        if isinstance(item, list):
            return "[" + ", ".join(scalar(x) for x in item) + "]"
        return json.dumps(item)

    lines = [f"[{table}]"] if table else []
    lines += [f"{key} = {scalar(item)}" for key, item in value.items()
              if not isinstance(item, dict)]
    for key, item in value.items():
        if isinstance(item, dict):
            lines += ["", toml_text(item, f"{table}.{key}" if table else key)]
    return "\n".join(lines)


@pytest.fixture()
def write_config(tmp_path):
    """Write a config from nested dictionaries; returns its path."""
    def write(name="run.toml", **sections):
        path = tmp_path / name
        path.write_text(toml_text(sections) + "\n", encoding="utf-8")
        return path
    return write


def outputs(report):
    """The bytes of a report page and of the CSV and JSON beside it."""
    return [Path(report).with_suffix(suffix).read_bytes() for suffix in (".html", ".csv", ".json")]
