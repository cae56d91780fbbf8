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
import pytest
import s3fs
from helpers import publish_fixture

import biodata_cache as bdc
from biodata_cache import config
from biodata_cache.catalog import CATALOG_FILE

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
