"""Optional features whose packages the default install leaves out, imported only when used,
and the errors they can end a run with, importable without those packages.

Asking for one without its packages stops the run with one line naming the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .config import ConfigError

PACKAGE = "mean-image-report"


class MissingExtra(ConfigError):
    """The config asks for a feature whose optional packages are not installed."""


class ClusterError(RuntimeError):
    """The Dask cluster cannot be reached, or it lost the run's work beyond what retries
    cover."""


def install_hint(extra: str) -> str:
    """How to add an extra: the tool is installed from its checkout, so the hint names that."""
    return f"install the {extra} extra, pip install '.[{extra}]' in the {PACKAGE} checkout"


def require(module: str, extra: str, wanted_by: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` naming ``extra``.

    ``wanted_by`` says what needs it, naming the config key, for the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise MissingExtra(f"{wanted_by} needs {top}, which is not installed: "
                           f"{install_hint(extra)}") from None
