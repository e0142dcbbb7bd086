"""Inputs given as URLs: a bucket on a local S3 server, file:// folders, and credentials that
never reach the outputs or the logs."""

import json
import logging
import sys

import pytest

from conftest import POKEMON, ROOT, needs_pokemon, outputs
from report.cli import main
from report.config import ConfigError, load_config
from report.discovery import discover
from report.decoding import PassingFailure, decode_result
from report.redaction import REDACTED, StorageOptions, redact

KEY = "AKIDH6TESTKEY0000001"
SECRET = "h6-secret-never-to-be-shown-7f3a9c"
BUCKET = "pokemon-images"


@pytest.fixture(scope="module")
def s3_endpoint():
    """A moto S3 server on a free loopback port, in this process."""
    server_module = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    requests_log = logging.getLogger("werkzeug")  # the server's line per request
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    requests_log.setLevel(level)


@pytest.fixture(scope="module")
def pokemon_bucket(s3_endpoint):
    """The Pokemon folder copied into a bucket under ``sprites/``."""
    if not POKEMON.is_dir():
        pytest.skip(f"{POKEMON} is not present")
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id=KEY,
                          aws_secret_access_key=SECRET, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    for path in sorted(POKEMON.iterdir()):
        client.upload_file(str(path), BUCKET, f"sprites/{path.name}")
    return s3_endpoint


@pytest.fixture(autouse=True)
def no_cloud_lookups(monkeypatch):
    """Credentials come from the configs alone: never from a metadata service or a profile."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)


def s3_options(endpoint):
    return {"endpoint_url": endpoint, "key": KEY, "secret": SECRET,
            "client_kwargs": {"region_name": "us-east-1"}}


def local_reference(write_config, tmp_path):
    config = write_config("local.toml", input={"path": str(POKEMON)},
                          output={"path": "local/report.html"})
    assert main([str(config), "-q"]) == 0
    return outputs(tmp_path / "local" / "report.html")


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_bucket_gives_the_folder_outputs_and_hides_credentials(
        pokemon_bucket, write_config, tmp_path, capfd, executor):
    if executor == "dask":
        pytest.importorskip("distributed")
    local = local_reference(write_config, tmp_path)
    url = f"s3://{BUCKET}/sprites"
    config = write_config(input={"path": url, "storage_options": s3_options(pokemon_bucket)},
                          output={"path": "s3/report.html"},
                          run={"executor": executor, "workers": 2})
    assert main([str(config), "-v"]) == 0  # every log of the tool, on stderr
    page, csv, document = outputs(tmp_path / "s3" / "report.html")

    assert csv == local[1]
    assert f"<code>{url}</code>".encode() in page
    settings = json.loads(document)["settings"]["input"]
    assert settings["path"] == url
    assert settings["storage_options"] == {
        "client_kwargs": REDACTED, "endpoint_url": REDACTED, "key": REDACTED,
        "secret": REDACTED}
    logs = capfd.readouterr()
    for text in (page, csv, document, logs.out.encode(), logs.err.encode()):
        assert SECRET.encode() not in text
        assert KEY.encode() not in text
    assert "WARNING" not in logs.err  # no file was skipped


@needs_pokemon
def test_a_file_url_gives_the_folder_outputs(write_config, tmp_path):
    pytest.importorskip("fsspec")
    local = local_reference(write_config, tmp_path)
    config = write_config(input={"path": POKEMON.as_uri()}, output={"path": "url/report.html"})
    assert main([str(config), "-q"]) == 0
    page, csv, document = outputs(tmp_path / "url" / "report.html")
    assert csv == local[1]
    assert json.loads(document)["records"] == json.loads(local[2])["records"]
    assert b"data-href" not in page  # a URL's files get no link to a local copy


def make_tree(folder):
    """Files a walk sorts into candidates, hidden and system files, and non-images."""
    image = (ROOT / "sample" / "noto-emoji").iterdir().__next__().read_bytes()
    for rel in ("b.png", "a/x.png", "a-c.png", "a/deeper/y.png", ".hidden/z.png",
                "a/.DS_Store", "notes.txt", "skip/me.png", "A.png"):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image)


@pytest.mark.parametrize("recursive", [False, True])
def test_a_listing_follows_the_rules_and_order_of_a_walk(tmp_path, recursive):
    pytest.importorskip("fsspec")
    from report.config import InputSettings
    from report.remote import discover_remote

    make_tree(tmp_path)
    exclude = ("skip/*",)
    walked = discover(tmp_path, recursive=recursive, exclude=exclude)
    settings = InputSettings(tmp_path.as_uri(), tmp_path, recursive=recursive, exclude=exclude)
    listed = discover_remote(settings, tmp_path / "run.toml")
    assert [c.rel for c in listed.candidates] == [c.rel for c in walked.candidates]
    assert (listed.ignored, listed.non_images) == (walked.ignored, walked.non_images)


def test_a_file_gone_from_the_store_is_skipped_as_passing(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    from report.config import PreprocessSettings
    from report.remote import RemoteFile

    fs = fsspec.filesystem("file")
    gone = RemoteFile(fs, str(tmp_path / "gone.png"), (tmp_path / "gone.png").as_uri())
    result = decode_result(gone, PreprocessSettings(), 96)
    assert isinstance(result, PassingFailure)
    assert result == "cannot be read: not found"
    assert "gone.png" in repr(gone)


def test_a_missing_folder_in_a_bucket_is_a_one_line_error(pokemon_bucket, write_config,
                                                          capsys):
    config = write_config(input={"path": f"s3://{BUCKET}/nothing-here",
                                 "storage_options": s3_options(pokemon_bucket)})
    assert main([str(config)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"input folder not found: s3://{BUCKET}/nothing-here" in error
    assert SECRET not in error


def test_without_s3fs_the_error_names_the_extra(write_config, monkeypatch, capsys):
    registry = pytest.importorskip("fsspec.registry")
    monkeypatch.setitem(sys.modules, "s3fs", None)
    # fsspec keeps the classes it has loaded; forget S3's, as on a machine without s3fs.
    monkeypatch.delitem(registry._registry, "s3", raising=False)
    config = write_config(input={"path": "s3://bucket/prefix"})
    assert main([str(config)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "pip install '.[s3]' in the mean-image-report checkout" in error
    assert "[input] path s3://bucket/prefix" in error


def test_without_fsspec_the_error_names_the_extra(write_config, monkeypatch, capsys):
    for name in ("fsspec", "fsspec.core"):
        monkeypatch.setitem(sys.modules, name, None)
    config = write_config(input={"path": "s3://bucket/prefix"})
    assert main([str(config)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "pip install '.[s3]' in the mean-image-report checkout" in error


def test_storage_options_are_never_shown(write_config):
    options = {"key": KEY, "secret": SECRET, "client_kwargs": {"region_name": "eu-west-1"}}
    config = load_config(write_config(input={"path": "s3://b/p", "storage_options": options}))
    assert config.input.storage_options.plain() == options
    for text in (repr(config), repr(config.input), json.dumps(config.settings()),
                 repr(config.input.storage_options)):
        assert SECRET not in text and KEY not in text
    assert config.title == "p"
    assert redact(f"refused {SECRET} for {KEY}", options) == f"refused {REDACTED} for {REDACTED}"
    assert StorageOptions(options) == config.input.storage_options


def test_storage_option_mistakes_name_the_key(write_config):
    with pytest.raises(ConfigError, match=r"\[input\] storage_options applies only to an input"):
        load_config(write_config(input={"path": "images", "storage_options": {"anon": True}}))
    with pytest.raises(ConfigError, match=r"\[input\] storage_options must be a table") as info:
        load_config(write_config(input={"path": "s3://b/p", "storage_options": SECRET}))
    assert SECRET not in str(info.value)
    with pytest.raises(ConfigError, match=r"\[input\] path must not hold a password") as info:
        load_config(write_config(input={"path": f"ftp://user:{SECRET}@host/images"}))
    assert SECRET not in str(info.value)


def test_a_url_on_the_command_line_is_kept_as_given(write_config, tmp_path):
    config = load_config(write_config(input={"path": "images"}), "s3://bucket/a//b")
    assert config.input.path == "s3://bucket/a//b" and config.input.remote
    local = load_config(write_config(input={"path": "images"}), "a//b/")
    assert local.input.path == "a/b" and not local.input.remote

