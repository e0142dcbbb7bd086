"""Read a run's TOML config and check every value before any work starts."""

from __future__ import annotations

import difflib
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .redaction import StorageOptions

MODES = ("L", "RGB")
FITS = ("stretch", "pad", "crop")
PLOTLY_DELIVERY = ("inline", "directory", "cdn")
THUMBNAIL_DELIVERY = ("inline", "files")
LAYOUTS = ("auto", "full", "large")
METHODS = ("quantile", "normalized", "kmeans")
EXECUTORS = ("local", "dask")
MAX_SIDE = 4096
MAX_CLUSTERS = 100
MAX_COMPONENTS = 100

_KEYS = {
    "": ("title", "input", "preprocess", "clusters", "duplicates", "output", "run", "cache"),
    "input": ("path", "recursive", "include", "exclude", "hidden", "storage_options"),
    "preprocess": ("mode", "size", "fit", "background", "draft"),
    "clusters": ("count", "methods", "components"),
    "duplicates": ("near_threshold",),
    "output": ("path", "thumbnail_size", "plotly_js", "site", "thumbnails", "layout"),
    "run": ("workers", "executor", "scheduler"),
    "cache": ("path",),
}
MAX_WORKERS = 256
_HEX_COLOUR = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
# A URL that fsspec opens (s3://, gs://, file://, ...); a scheme of two letters or more, so a
# Windows drive letter is never taken for one.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(text: str) -> bool:
    """True for an input given as a URL rather than as a local folder."""
    return _URL.match(text) is not None


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the key at fault."""


@dataclass(frozen=True)
class InputSettings:
    path: str
    folder: Path
    recursive: bool = False
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    hidden: bool = False
    from_command_line: bool = False
    storage_options: StorageOptions = field(default_factory=StorageOptions, repr=False)

    @property
    def remote(self) -> bool:
        """Whether the input is a URL, read through fsspec, rather than a local folder."""
        return is_url(self.path)

    def describe(self) -> str:
        """Where the folder was given, for messages: the option or the config key."""
        return "--input" if self.from_command_line else "[input] path"


@dataclass(frozen=True)
class PreprocessSettings:
    mode: str = "L"
    size: tuple[int, int] = (100, 100)
    fit: str = "stretch"
    background: tuple[int, int, int] = (255, 255, 255)
    draft: bool = True

    @property
    def background_hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.background)


@dataclass(frozen=True)
class ReviewSettings:
    """What the report computes to judge the grouping, beyond the distance-quantile cut.

    ``components`` principal components feed k-means, the silhouette scores, the map and the
    near-duplicate search; 0 leaves all of those out. ``near_threshold`` is a root-mean-square
    difference per pixel value, on the 0-255 scale, measured in that component space.
    """

    methods: tuple[str, ...] = METHODS
    components: int = 20
    near_threshold: float = 5.0


@dataclass(frozen=True)
class OutputSettings:
    path: Path
    thumbnail_size: int = 96
    plotly_js: str = "inline"
    site: Path | None = None
    thumbnails: str = "inline"
    layout: str = "auto"

    @property
    def csv_path(self) -> Path:
        return self.path.with_suffix(".csv")

    @property
    def json_path(self) -> Path:
        return self.path.with_suffix(".json")


@dataclass(frozen=True)
class Config:
    """Everything a run needs, with paths already made relative to the right folder."""

    title: str
    input: InputSettings
    preprocess: PreprocessSettings
    cluster_count: int
    output: OutputSettings
    source: Path
    workers: int = 1
    cache: Path | None = None
    executor: str = "local"
    scheduler: str | None = None
    review: ReviewSettings = ReviewSettings()

    def settings(self) -> dict[str, Any]:
        """The settings that shaped the result, as shown in the report and saved in the JSON.

        Storage options appear by name only: their values may be credentials.
        """
        settings = {
            "title": self.title,
            "input": {
                "path": self.input.path,
                "recursive": self.input.recursive,
                "include": list(self.input.include),
                "exclude": list(self.input.exclude),
                "hidden": self.input.hidden,
            },
            "preprocess": {
                "mode": self.preprocess.mode,
                "size": list(self.preprocess.size),
                "fit": self.preprocess.fit,
                "background": self.preprocess.background_hex,
                "draft": self.preprocess.draft,
            },
            "clusters": {
                "count": self.cluster_count,
                "methods": list(self.review.methods),
                "components": self.review.components,
            },
            "duplicates": {"near_threshold": self.review.near_threshold},
            "output": {"thumbnail_size": self.output.thumbnail_size},
        }
        if self.input.remote and self.input.storage_options:
            settings["input"]["storage_options"] = self.input.storage_options.shown()
        return settings


class _Reader:
    """Takes typed values out of one TOML table and remembers where they came from."""

    def __init__(self, source: Path, section: str, table: Any):
        self.source = source
        self.section = section
        if not isinstance(table, dict):
            raise self.error(None, f"must be a table, not {_describe(table)}")
        self.table = table
        unknown = sorted(set(table) - set(_KEYS[section]))
        if unknown:
            key = unknown[0]
            hint = difflib.get_close_matches(key, _KEYS[section], n=1)
            known = ", ".join(_KEYS[section])
            advice = f"did you mean '{hint[0]}'? " if hint else ""
            raise self.error(key, f"is not a known key ({advice}known keys: {known})")

    def error(self, key: str | None, message: str) -> ConfigError:
        where = f"[{self.section}]" if self.section else "top level"
        if key is not None:
            key = key if key.isprintable() else repr(key)
            where = f"{where} {key}" if self.section else key
        return ConfigError(f"{self.source}: {where} {message}")

    def get(self, key: str, kind: type, default: Any, allowed: str) -> Any:
        if key not in self.table:
            return default
        value = self.table[key]
        # bool is a subclass of int in Python but never a valid count or size here.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(key, f"must be {allowed}, not {_describe(value)}")
        return value

    def path(self, key: str, default: str | None, what: str) -> str | None:
        value = self.get(key, str, default, f"{what} (a string)")
        if value is not None and (value == "" or "\0" in value):
            raise self.error(key, f"must be {what}, not {value!r}")
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(key, list, list(default), "a list of glob patterns (strings)")
        if not all(isinstance(item, str) and item for item in value):
            raise self.error(key, f"must be a list of non-empty strings, not {value!r}")
        return tuple(value)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        allowed = " or ".join(f'"{c}"' for c in choices)
        value = self.get(key, str, default, allowed)
        if value not in choices:
            raise self.error(key, f"must be {allowed}, not {value!r}")
        return value

    def integer(self, key: str, low: int, high: int, default: int) -> int:
        allowed = f"a whole number from {low} to {high}"
        value = self.get(key, int, default, allowed)
        if not low <= value <= high:
            raise self.error(key, f"must be {allowed}, not {value}")
        return value


def _describe(value: Any) -> str:
    names = {bool: "a boolean", int: "a single whole number", float: "a decimal number",
             str: "a string", list: "a list", dict: "a table"}
    return f"{names.get(type(value), type(value).__name__)} ({value!r})"


def _parse_colour(reader: _Reader, key: str, default: str) -> tuple[int, int, int]:
    text = reader.get(key, str, default, 'a colour like "#ffffff"')
    if not _HEX_COLOUR.fullmatch(text):
        raise reader.error(key, f'must be a colour like "#ffffff" or "#fff", not {text!r}')
    digits = text[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))


def _parse_size(reader: _Reader) -> tuple[int, int]:
    allowed = f"two whole numbers [width, height], each from 1 to {MAX_SIDE}"
    value = reader.get("size", list, [100, 100], allowed)
    ok = len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIDE for v in value
    )
    if not ok:
        raise reader.error("size", f"must be {allowed}, not {value!r}")
    return (value[0], value[1])


def load_config(
    path: str | Path,
    input_override: str | Path | None = None,
    output_override: str | Path | None = None,
) -> Config:
    """Read and check the config at ``path``.

    Paths inside the file are relative to the file's folder; the overrides come from the
    command line and so are relative to the current directory.
    """
    source = Path(path)
    try:
        # utf-8-sig: a byte-order mark, as some Windows editors write, is not an error.
        data = tomllib.loads(source.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a folder, not a config file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read: {exc.strerror}") from None

    base = source.parent
    top = _Reader(source, "", data)
    sections = {
        name: _Reader(source, name, top.get(name, dict, {}, "a table"))
        for name in ("input", "preprocess", "clusters", "duplicates", "output", "run", "cache")
    }

    reader = sections["input"]
    if input_override is not None:
        # A URL is kept as given; a folder is tidied as a path ("a//b/" reads "a/b").
        input_text = str(input_override)
        input_text = input_text if is_url(input_text) else str(Path(input_text))
        input_folder = Path(input_text)
    else:
        if "path" not in reader.table:
            raise reader.error("path", "is required: the folder of images to read")
        input_text = reader.path("path", None, "a folder path")
        input_folder = Path(input_text) if is_url(input_text) else base / input_text
    if is_url(input_text) and urlsplit(input_text).password is not None:
        message = "must not hold a password; give credentials in [input] storage_options"
        if input_override is not None:
            raise ConfigError(f"--input: {message}")
        raise reader.error("path", message)
    inputs = InputSettings(
        path=input_text,
        folder=input_folder,
        recursive=reader.get("recursive", bool, False, "true or false"),
        include=sections["input"].strings("include", ("*",)),
        exclude=sections["input"].strings("exclude", ()),
        hidden=reader.get("hidden", bool, False, "true or false"),
        from_command_line=input_override is not None,
        storage_options=_parse_storage_options(reader, is_url(input_text)),
    )

    reader = sections["preprocess"]
    preprocess = PreprocessSettings(
        mode=reader.choice("mode", MODES, "L"),
        size=_parse_size(reader),
        fit=reader.choice("fit", FITS, "stretch"),
        background=_parse_colour(reader, "background", "#ffffff"),
        draft=reader.get("draft", bool, True, "true or false"),
    )

    count = sections["clusters"].integer("count", 1, MAX_CLUSTERS, 4)
    review = _parse_review(sections["clusters"], sections["duplicates"])

    reader = sections["output"]
    if output_override is not None:
        output_path = Path(output_override)
        if output_path.suffix.lower() not in (".html", ".htm"):
            raise ConfigError(f"--output {output_path}: must name an .html file")
    else:
        output_text = reader.path("path", "out/report.html", "a file path")
        output_path = base / output_text
        if output_path.suffix.lower() not in (".html", ".htm"):
            raise reader.error("path", f"must name an .html file, not {output_text!r}")
    site_text = reader.path("site", None, "a folder path")
    output = OutputSettings(
        path=output_path,
        thumbnail_size=reader.integer("thumbnail_size", 16, 512, 96),
        plotly_js=reader.choice("plotly_js", PLOTLY_DELIVERY, "inline"),
        site=None if site_text is None else base / site_text,
        thumbnails=reader.choice("thumbnails", THUMBNAIL_DELIVERY, "inline"),
        layout=reader.choice("layout", LAYOUTS, "auto"),
    )
    reader = sections["run"]
    workers = reader.integer("workers", 1, MAX_WORKERS, default_workers())
    executor = reader.choice("executor", EXECUTORS, "local")
    scheduler = reader.path("scheduler", None, 'a scheduler address like "tcp://host:8786"')
    if scheduler is not None and executor != "dask":
        raise reader.error("scheduler", 'is used only with executor = "dask"')
    cache_text = sections["cache"].path("path", None, "a folder path")
    cache = default_cache_folder() if cache_text is None else base / cache_text

    default_title = input_folder.name or input_folder.resolve().name or "images"
    title = top.get("title", str, default_title, "a string")
    if not title.strip() or "\0" in title:
        raise top.error("title", f"must be non-empty text without NUL characters, not {title!r}")
    return Config(title, inputs, preprocess, count, output, source, workers, cache, executor,
                  scheduler, review)


def _parse_storage_options(reader: _Reader, remote: bool) -> StorageOptions:
    """The options passed to fsspec for a URL input; never shown, as they may be credentials."""
    options = reader.table.get("storage_options", {})
    if not isinstance(options, dict):
        # The value itself is not echoed: it may be a credential put in the wrong place.
        raise reader.error("storage_options", "must be a table of options for fsspec, not "
                           f"{_describe(options).split(' (')[0]}")
    own_path = reader.table.get("path")
    # A local folder in the config itself cannot use them; a local --input just leaves them.
    if options and not remote and isinstance(own_path, str) and not is_url(own_path):
        raise reader.error("storage_options", "applies only to an input given as a URL "
                           "(such as s3://bucket/prefix)")
    return StorageOptions(options)


def _parse_review(clusters: _Reader, duplicates: _Reader) -> ReviewSettings:
    allowed = "a list of methods from " + ", ".join(f'"{m}"' for m in METHODS)
    methods = clusters.get("methods", list, list(METHODS), allowed)
    if not methods:
        raise clusters.error("methods", f"must be {allowed}, not an empty list")
    unknown = [m for m in methods if not (isinstance(m, str) and m in METHODS)]
    if unknown:
        raise clusters.error("methods", f"must be {allowed}: {unknown[0]!r} is not one")
    if len(set(methods)) != len(methods):
        raise clusters.error("methods", f"names a method twice: {methods!r}")
    if "quantile" not in methods:
        raise clusters.error("methods", 'must include "quantile", the cut the ranking shows')
    components = clusters.integer("components", 0, MAX_COMPONENTS, 20)
    if components == 0 and "kmeans" in methods:
        raise clusters.error("components", 'must be at least 1 when methods include "kmeans"')

    allowed = "a number from 0 to 255 (0 turns the near-duplicate search off)"
    threshold = duplicates.get("near_threshold", (int, float), 5.0, allowed)
    if isinstance(threshold, bool) or not 0 <= threshold <= 255:
        raise duplicates.error("near_threshold", f"must be {allowed}, not {threshold!r}")
    # Methods keep the config's order, which is the order the report shows them in; adding 0.0
    # turns a -0.0 into 0.0.
    return ReviewSettings(tuple(methods), components, float(threshold) + 0.0)


def default_workers() -> int:
    """One worker per processor this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def default_cache_folder() -> Path:
    """The user's cache folder (XDG on Linux, the usual places elsewhere), never the input."""
    if sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        root = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "mean-image-report"
