"""Nothing leaks, nothing is templated: secrets in storage_options, user text in catalogs, anonymous reads.

* Secrets passed in ``storage_options`` never show in what gets displayed or saved into a notebook (repr,
  str, ``yaml()``, ``describe()``, HTML, log lines), yet still reach fsspec.
* User text that reaches the YAML catalog (custom column names, descriptions) is never rendered by
  intake's jinja2: it reads back exactly, and ``{{ env(...) }}`` never evaluates.
* Published catalogs open and read anonymously when no AWS credentials are configured.
"""

from __future__ import annotations

import logging
import warnings

import intake
import pandas as pd
import pytest
import s3fs
import yaml
from helpers import publish_fixture

import biodata_cache as bdc
from biodata_cache import config
from biodata_cache.catalog import CATALOG_FILE
from biodata_cache.intake_driver import BiodataParquetSource
from biodata_cache.store import CREDENTIAL_VARIABLES, _has_aws_credentials

SECRET = "s3cr3t-VALUE-do-not-show-7f3a"
NESTED_SECRET = "nested-s3cr3t-in-client-kwargs-91c2"
TOKEN = "session-t0ken-VALUE-4b8e"


@pytest.fixture(autouse=True)
def _quiet_intake_shell_warning():
    # intake 2.0.8 warns "Shell command not executed" for every str parameter value it sees.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Shell command not executed")
        yield


# -- item 11: secrets in storage_options --------------------------------------------------------------


def _shown(obj) -> str:
    """Everything a notebook could show or save of ``obj``."""
    parts = [repr(obj), str(obj)]
    for method in ("yaml", "describe", "_repr_html_"):
        if hasattr(obj, method):
            parts.append(str(getattr(obj, method)()))
    return "\n".join(parts)


def test_redacted_hides_credential_like_options_at_any_depth_and_keeps_the_rest():
    options = {
        "anon": False,
        "key": "AKIAEXAMPLE",
        "secret": SECRET,
        "token": TOKEN,
        "endpoint_url": "https://user:pa55word@minio.example.org:9000",
        "client_kwargs": {"region_name": "us-west-2", "aws_secret_access_key": NESTED_SECRET},
        "headers": [{"Authorization": "Bearer abc.def"}],
        "password": "hunter2",
        "profile": "lab",
    }
    shown = config.redacted(options)
    text = repr(shown)
    for value in ("AKIAEXAMPLE", SECRET, TOKEN, "pa55word", NESTED_SECRET, "abc.def", "hunter2"):
        assert value not in text
    assert shown["anon"] is False and shown["profile"] == "lab"
    assert shown["client_kwargs"]["region_name"] == "us-west-2"
    assert shown["endpoint_url"] == "https://<redacted>@minio.example.org:9000"
    assert options["secret"] == SECRET  # the original is untouched


def test_settings_repr_hides_secrets_but_keeps_them_for_fsspec():
    settings = config.resolve(root="s3://bucket/cache", storage_options={"key": "k", "secret": SECRET})
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert "storage_options" in repr(settings) and "'secret': '<redacted>'" in repr(settings)
    assert settings.storage_options["secret"] == SECRET


@pytest.mark.parametrize("where", ["top-level", "client_kwargs"])
def test_storage_option_secrets_show_nowhere_in_catalogs_entries_sources_or_logs(
    where, s3_root, monkeypatch, caplog
):
    publish_fixture(s3_root)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", s3_root)
    if where == "top-level":
        options = {"key": "testing", "secret": SECRET, "token": TOKEN}
    else:
        options = {"client_kwargs": {"aws_access_key_id": "testing", "aws_secret_access_key": NESTED_SECRET}}
    caplog.set_level(logging.DEBUG, logger="biodata_cache")
    s3fs.S3FileSystem.clear_instance_cache()

    cat = bdc.open_catalog(storage_options=options)
    entry = cat.qc
    configured = cat.qc(subject_id="692478")
    assert configured.read()["subject_id"].tolist() == ["692478", "692478"]  # the secrets reach fsspec
    top = intake.open_catalog(f"{s3_root}/{CATALOG_FILE}", storage_options=options)
    nested = top.latest
    nested_source = nested.asset_basics
    assert len(nested_source.read()) == 5
    settings = config.resolve(storage_options=options)
    shown = "\n".join(
        _shown(obj) for obj in (cat, entry, entry.entry, configured, nested, nested_source, settings)
    )
    shown += caplog.text
    for secret in (SECRET, TOKEN, NESTED_SECRET):
        assert secret not in shown
    assert "<redacted>" in configured.yaml() and "<redacted>" in nested.yaml()


# -- item 12: user text is never templated ----------------------------------------------------------

ENV_VALUE = "ENV-VALUE-that-must-never-appear-5d1e"
COLUMNS = [
    "{{ env('BDC_TEST_SECRET') }}",
    "{% if true %}block{% endif %}",
    "note {# a comment #} end",
    "{{ shell('hostname') }}",
]
DESCRIPTION = "Scores {{ env('BDC_TEST_SECRET') }} {% for x in [1] %}{{ x }}{% endfor %} {# c #}"


def _evil_frame() -> pd.DataFrame:
    return pd.DataFrame({name: [i, i + 1] for i, name in enumerate(COLUMNS)})


def test_catalog_text_escapes_only_templates_and_round_trips_through_jinja():
    from jinja2 import Environment

    from biodata_cache.catalog import from_catalog_text, to_catalog_text

    for text in [*COLUMNS, DESCRIPTION, "a\r\nb", "tail\n", "{{", "{{ '{' }}", "plain {single} braces"]:
        escaped = to_catalog_text(text)
        assert Environment().from_string(escaped).render({}) == text  # what intake renders
        assert from_catalog_text(escaped) == text  # what our reader shows
    assert to_catalog_text("plain {single} braces") == "plain {single} braces"
    assert to_catalog_text("Quality-control metrics") == "Quality-control metrics"


def test_custom_columns_and_description_are_never_templated(tmp_path, monkeypatch):
    monkeypatch.setenv("BDC_TEST_SECRET", ENV_VALUE)
    root = str(tmp_path / "store")
    publish_fixture(root)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    frame = _evil_frame()
    written = bdc.custom("scores", frame, description=DESCRIPTION)
    assert list(written.columns) == COLUMNS

    registry = bdc.get_cache_registry()["custom_scores"]  # the registry keeps the original text
    assert registry.column_names == COLUMNS and registry.description == DESCRIPTION
    assert list(bdc.custom("scores").columns) == COLUMNS
    assert list(bdc.open_catalog()["custom_scores"].read().columns) == COLUMNS

    version = config.version_folder()
    shown = []
    for url in (f"{root}/{CATALOG_FILE}", f"{root}/{version}/{CATALOG_FILE}"):
        cat = intake.open_catalog(url)
        cat = cat.latest if "latest" in cat else cat
        source = cat.custom_scores
        pd.testing.assert_frame_equal(source.read(), frame)
        assert [c["name"] for c in source.metadata["columns"]] == COLUMNS
        described = source.describe()
        assert [c["name"] for c in described["metadata"]["columns"]] == COLUMNS
        assert described["description"] == DESCRIPTION and source.description == DESCRIPTION
        assert source.discover()["shape"] == (2, len(COLUMNS))
        html = source._repr_html_()
        assert "{{ env(&#x27;BDC_TEST_SECRET&#x27;) }}" in html
        shown += [html, source.yaml(), repr(source), str(described), str(source.metadata)]
        shown.append(cat._repr_html_() if hasattr(cat, "_repr_html_") else "")
    shown.append(bdc.open_catalog()._repr_html_())
    shown.append(bdc.open_catalog().custom_scores._repr_html_())
    text = "\n".join(shown)
    assert ENV_VALUE not in text
    assert "{{ '{' }}" not in text  # nothing shows the escaped form


def test_text_jinja_would_change_or_reject_reads_back_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path))
    publish_fixture(str(tmp_path))
    columns = ["{{", "a\r\nb", "tail\n", "{% endraw %}"]
    frame = pd.DataFrame({name: [1.5] for name in columns})
    bdc.custom("odd", frame, description="two lines\n")
    source = intake.open_catalog(str(tmp_path / CATALOG_FILE)).latest.custom_odd
    pd.testing.assert_frame_equal(source.read(), frame)
    assert [c["name"] for c in source.metadata["columns"]] == columns
    assert list(bdc.custom("odd").columns) == columns


def test_catalog_yaml_holds_escaped_metadata_and_raw_description(tmp_path, monkeypatch):
    from biodata_cache.catalog import from_catalog_text

    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path))
    publish_fixture(str(tmp_path))
    bdc.custom("scores", _evil_frame(), description=DESCRIPTION)
    text = (tmp_path / config.version_folder() / CATALOG_FILE).read_text()
    entry = yaml.safe_load(text)["sources"]["custom_scores"]
    assert entry["description"] == DESCRIPTION  # intake never renders descriptions: kept readable
    names = [c["name"] for c in entry["metadata"]["columns"]]
    assert names[0] == "{{ '{' }}{{ '{' }} env('BDC_TEST_SECRET') }}"
    assert [from_catalog_text(n) for n in names] == COLUMNS


# -- item 13: anonymous reads when no credentials are configured -----------------------------------


@pytest.fixture
def no_credentials(s3_root, monkeypatch, tmp_path):
    """A store published with credentials in a publicly readable bucket; afterwards botocore finds none."""
    import json

    import boto3

    publish_fixture(s3_root)
    bucket = s3_root.split("/")[2]
    # As on the production bucket, anyone may list and read (moto checks a HEAD as "s3:HeadObject").
    read = ["s3:GetObject", "s3:HeadObject"]
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": read, "Resource": f"arn:aws:s3:::{bucket}/*"},
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:ListBucket"],
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ],
    }
    boto3.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read))
    for name in CREDENTIAL_VARIABLES:  # every variable botocore could find credentials through
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    s3fs.S3FileSystem.clear_instance_cache()
    assert not _has_aws_credentials(), "botocore still finds credentials: the test would prove nothing"
    return s3_root


def test_top_catalog_opened_with_anon_reads_nested_catalogs_and_entries_anonymously(no_credentials):
    cat = intake.open_catalog(f"{no_credentials}/{CATALOG_FILE}", storage_options={"anon": True})
    assert cat.latest.qc(subject_id="692478").read()["subject_id"].tolist() == ["692478", "692478"]
    assert len(cat.latest.qc.read()) == 4
    assert len(cat["bdc-v0.1"].asset_basics.read()) == 5
    assert len(cat.latest.qc(subject_id="692478").to_dask().compute()) == 2


def test_one_liners_and_open_catalog_read_anonymously_without_options(no_credentials, monkeypatch):
    monkeypatch.setenv("BIODATA_CACHE_ROOT", no_credentials)
    cat = bdc.open_catalog()
    assert cat.qc(subject_id="828418").read()["name"].tolist() == ["licks"]
    assert len(cat.asset_basics.read()) == 5
    assert bdc.qc("828418")["name"].tolist() == ["licks"]
    from biodata_cache.production import ProductionCatalog

    assert len(ProductionCatalog().latest.unique_subject_ids.read()) == 2


def test_our_drivers_fall_back_to_anonymous_reads_without_credentials(no_credentials):
    # intake opens the first file itself (no fallback there), but our drivers do fall back:
    cat = intake.open_catalog(f"{no_credentials}/{CATALOG_FILE}", driver="biodata_catalog")
    assert cat.latest.qc(subject_id="692478").read()["subject_id"].tolist() == ["692478", "692478"]
    assert len(cat.latest.asset_basics.read()) == 5
    version = config.version_folder()
    from biodata_cache.registry import read_registry
    from biodata_cache.store import Store

    path = read_registry(Store(no_credentials), version)["asset_basics"].path  # named by its build
    source = BiodataParquetSource(f"{no_credentials}/{version}/{path}")
    assert len(source.read()) == 5
    from botocore.exceptions import NoCredentialsError

    with pytest.raises(
        NoCredentialsError
    ):  # intake's own first read: what docs/how-to/read-from-s3.md explains
        intake.open_catalog(f"{no_credentials}/{CATALOG_FILE}")


def test_explicit_credentials_disable_the_anonymous_fallback(no_credentials):
    from biodata_cache.store import filesystem_options

    assert filesystem_options("s3://b/k", None)["anon"] is True
    assert filesystem_options("s3://b/k", {"anon": False})["anon"] is False
    chosen = ({"key": "k", "secret": "s"}, {"profile": "lab"}, {"client_kwargs": {"aws_access_key_id": "k"}})
    for given in chosen:
        assert "anon" not in filesystem_options("s3://b/k", given)
    assert "anon" not in filesystem_options("/local/folder", None)
    assert "anon" not in filesystem_options("https://mirror/x", {})


def test_errors_and_reprs_of_a_root_with_a_password_in_its_url_do_not_show_it(monkeypatch):
    import socket

    from biodata_cache.store import Store

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connections are refused
    root = f"http://reader:hunter2-secret@127.0.0.1:{port}/store"
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    assert "hunter2-secret" not in repr(Store(root))
    with pytest.raises(bdc.BiodataCacheError) as raised:
        bdc.unique_project_names()
    assert "hunter2-secret" not in str(raised.value)
    assert "127.0.0.1" in str(raised.value)
