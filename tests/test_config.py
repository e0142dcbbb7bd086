"""Config checking: every bad value stops the run with the file and key named."""

from pathlib import Path

import pytest

from report.config import ConfigError, load_config


def write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_paths_relative_to_the_config(tmp_path):
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub", '[input]\npath = "../pics"\n')

    config = load_config(path)

    assert config.input.folder == tmp_path / "sub" / "../pics"
    assert config.input.path == "../pics"
    assert config.title == "pics"
    assert config.preprocess.mode == "L"
    assert config.preprocess.size == (100, 100)
    assert config.preprocess.fit == "stretch"
    assert config.preprocess.background == (255, 255, 255)
    assert config.cluster_count == 4
    assert config.output.path == tmp_path / "sub" / "out" / "report.html"
    assert config.output.csv_path.name == "report.csv"
    assert config.output.json_path.name == "report.json"
    assert config.output.thumbnail_size == 96
    assert config.review.methods == ("quantile", "normalized", "kmeans")
    assert config.review.components == 20
    assert config.review.near_threshold == 5.0


def test_full_config_is_read(tmp_path):
    path = write(tmp_path, """
title = "Mine"
[input]
path = "images"
recursive = true
include = ["*.png"]
exclude = ["bad/*"]
hidden = true
[preprocess]
mode = "RGB"
size = [64, 32]
fit = "pad"
background = "#0f0"
[clusters]
count = 6
[output]
path = "r/x.html"
thumbnail_size = 128
""")
    config = load_config(path)

    assert config.title == "Mine"
    assert config.input.recursive and config.input.hidden
    assert config.input.include == ("*.png",) and config.input.exclude == ("bad/*",)
    assert config.preprocess.size == (64, 32)
    assert config.preprocess.background == (0, 255, 0)
    assert config.preprocess.background_hex == "#00ff00"
    assert config.cluster_count == 6
    assert config.output.path == tmp_path / "r" / "x.html"
    assert config.settings()["preprocess"]["fit"] == "pad"


def test_review_settings_are_read_and_saved(tmp_path):
    path = write(tmp_path, '[input]\npath = "i"\n[clusters]\nmethods = ["normalized", "quantile"]\n'
                           'components = 0\n[duplicates]\nnear_threshold = 0\n')
    config = load_config(path)
    assert config.review.methods == ("normalized", "quantile")
    assert config.review.components == 0 and config.review.near_threshold == 0.0
    assert config.settings()["clusters"] == {"count": 4, "methods": ["normalized", "quantile"],
                                             "components": 0}
    assert config.settings()["duplicates"] == {"near_threshold": 0.0}


def test_command_line_overrides_are_relative_to_the_current_folder(tmp_path):
    path = write(tmp_path, '[input]\npath = "images"\n')
    config = load_config(path, input_override=Path("elsewhere"), output_override=Path("o.html"))
    assert config.input.folder == Path("elsewhere")
    assert config.output.path == Path("o.html")


@pytest.mark.parametrize("text,fragments", [
    ('[input]\npath = "i"\nrecursve = true\n', ["[input] recursve", "did you mean 'recursive'"]),
    ('[input]\n', ["[input] path", "required"]),
    ('[input]\npath = 3\n', ["[input] path", "not a single whole number (3)"]),
    ('[input]\npath = "i"\n[preprocess]\nmode = "CMYK"\n', ["[preprocess] mode", '"L" or "RGB"']),
    ('[input]\npath = "i"\n[preprocess]\nsize = [100]\n', ["[preprocess] size", "[width, height]"]),
    ('[input]\npath = "i"\n[preprocess]\nsize = [0, 10]\n', ["[preprocess] size"]),
    ('[input]\npath = "i"\n[preprocess]\nsize = [true, 10]\n', ["[preprocess] size"]),
    ('[input]\npath = "i"\n[preprocess]\nfit = "zoom"\n', ["[preprocess] fit", '"crop"']),
    ('[input]\npath = "i"\n[preprocess]\nbackground = "white"\n',
     ["[preprocess] background", "#ffffff"]),
    ('[input]\npath = "i"\n[clusters]\ncount = 0\n', ["[clusters] count", "from 1 to"]),
    ('[input]\npath = "i"\n[clusters]\ncount = 2.5\n', ["[clusters] count", "whole number"]),
    ('[input]\npath = "i"\n[clusters]\ncount = true\n', ["[clusters] count", "a boolean"]),
    ('[input]\npath = "i"\n[clusters]\nmethods = ["kmeans", "quantile", "pca"]\n',
     ["[clusters] methods", '"normalized"', "'pca' is not one"]),
    ('[input]\npath = "i"\n[clusters]\nmethods = "kmeans"\n', ["[clusters] methods", "a list"]),
    ('[input]\npath = "i"\n[clusters]\nmethods = []\n', ["[clusters] methods", "empty"]),
    ('[input]\npath = "i"\n[clusters]\nmethods = ["kmeans"]\n',
     ["[clusters] methods", 'must include "quantile"']),
    ('[input]\npath = "i"\n[clusters]\nmethods = ["quantile", "quantile"]\n',
     ["[clusters] methods", "twice"]),
    ('[input]\npath = "i"\n[clusters]\ncomponents = 0\n',
     ["[clusters] components", '"kmeans"']),
    ('[input]\npath = "i"\n[clusters]\ncomponents = 1000\n', ["[clusters] components"]),
    ('[input]\npath = "i"\n[duplicates]\nnear_threshold = -1\n',
     ["[duplicates] near_threshold", "from 0 to 255"]),
    ('[input]\npath = "i"\n[duplicates]\nnear_threshold = true\n',
     ["[duplicates] near_threshold"]),
    ('[input]\npath = "i"\n[duplicates]\nnear_threshold = nan\n',
     ["[duplicates] near_threshold"]),
    ('[input]\npath = "i"\n[duplicates]\nnear_treshold = 2\n',
     ["[duplicates] near_treshold", "did you mean 'near_threshold'"]),
    ('[input]\npath = "i"\n[output]\npath = "r.csv"\n', ["[output] path", ".html"]),
    ('[input]\npath = "i"\n[output]\nthumbnail_size = 4\n', ["[output] thumbnail_size"]),
    ('[input]\npath = "i"\ninclude = "*.png"\n', ["[input] include", "list"]),
    ('titel = "x"\n[input]\npath = "i"\n', ["titel", "did you mean 'title'"]),
    ('title = " "\n[input]\npath = "i"\n', ["title", "non-empty"]),
    ('[inptu]\npath = "i"\n', ["inptu", "did you mean 'input'"]),
    ('input = "i"\n', ["input", "a table"]),
    ('[input\npath = "i"\n', ["not valid TOML"]),
])
def test_bad_values_name_file_and_key(tmp_path, text, fragments):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="folder"):
        load_config(tmp_path)
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'title = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)
