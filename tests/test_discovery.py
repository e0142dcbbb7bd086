"""Walking the input folder: junk, hidden files, patterns, links and odd names."""

import os

import pytest

from report.discovery import InputError, discover


def touch(path, content=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def rels(found):
    return [c.rel for c in found.candidates]


def test_junk_and_hidden_files_are_passed_over(tmp_path):
    for name in ("b.png", "a.jpg", "noext", ".DS_Store", "._a.jpg", ".hidden.png", "Thumbs.db",
                 "desktop.ini", "notes.txt", "data.json", "__MACOSX/._b.png"):
        touch(tmp_path / name)

    found = discover(tmp_path, recursive=True)

    assert rels(found) == ["a.jpg", "b.png", "noext"]
    assert found.non_images == 2
    assert found.ignored == 6
    assert found.skipped == []


def test_hidden_files_on_request_but_never_appledouble(tmp_path):
    for name in (".hidden.png", "._a.png", ".DS_Store", "a.png"):
        touch(tmp_path / name)
    assert rels(discover(tmp_path, hidden=True)) == [".hidden.png", "a.png"]


def test_recursion_and_patterns_use_relative_paths(tmp_path):
    for name in ("top.png", "sub/one.png", "sub/two.jpg", "sub/deeper/three.png"):
        touch(tmp_path / name)

    assert rels(discover(tmp_path)) == ["top.png"]
    assert rels(discover(tmp_path, recursive=True)) == [
        "sub/deeper/three.png", "sub/one.png", "sub/two.jpg", "top.png"]
    assert rels(discover(tmp_path, recursive=True, include=("*.png",),
                         exclude=("sub/deeper/*",))) == ["sub/one.png", "top.png"]


def test_same_names_in_subfolders_stay_apart(tmp_path):
    touch(tmp_path / "a/img.png")
    touch(tmp_path / "b/img.png")
    assert rels(discover(tmp_path, recursive=True)) == ["a/img.png", "b/img.png"]


def test_links_are_followed_once_and_loops_reported(tmp_path):
    touch(tmp_path / "real/pic.png")
    os.symlink(tmp_path / "real/pic.png", tmp_path / "alias.png")
    os.symlink(tmp_path / "real", tmp_path / "real/loop")
    os.symlink(tmp_path / "missing.png", tmp_path / "broken.png")

    found = discover(tmp_path, recursive=True)

    assert rels(found) == ["alias.png"]
    reasons = {s.rel: s.reason for s in found.skipped}
    assert "loop" in reasons["real/loop"]
    assert "broken symbolic link" in reasons["broken.png"]


def test_undecodable_name_is_shown_with_replacement_characters(tmp_path):
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9.png"
    with open(raw, "wb") as handle:
        handle.write(b"x")

    found = discover(tmp_path)

    assert rels(found) == ["caf\ufffd.png"]
    assert os.path.exists(found.candidates[0].path)


def test_missing_or_wrong_input_is_an_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        discover(tmp_path / "absent")
    with pytest.raises(InputError, match="not a folder"):
        discover(touch(tmp_path / "file.png"))
