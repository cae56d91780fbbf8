import json
import subprocess
import sys


def test_import_loads_no_client_and_no_heavy_library():
    code = (
        "import sys, biodata_cache;"
        "heavy = [m for m in ('s3fs', 'botocore', 'aiobotocore', 'pandas', 'pyarrow', 'intake', 'fsspec')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_import_configures_no_logging_handler():
    code = "import logging, biodata_cache; print(len(logging.getLogger().handlers))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "0"


def test_the_one_liner_on_a_local_store_imports_neither_intake_nor_fsspec_nor_pandas(tmp_path):
    from helpers import publish_fixture

    publish_fixture(str(tmp_path))
    code = (
        "import sys, json, biodata_cache as bdc; names = bdc.unique_project_names();"
        "loaded = [m for m in ('intake', 's3fs', 'aiobotocore', 'botocore', 'aiohttp', 'fsspec', 'pandas',"
        " 'pyarrow.dataset') if m in sys.modules]; print(json.dumps([names, loaded]))"
    )
    environment = {"PATH": "/usr/bin:/bin", "BIODATA_CACHE_ROOT": str(tmp_path), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    names, loaded = json.loads(result.stdout)
    assert names == ["Learning mFISH", "Patch foraging"]
    assert loaded == []


def test_a_dataframe_reader_on_a_local_store_imports_pandas_but_not_intake(tmp_path):
    from helpers import publish_fixture

    publish_fixture(str(tmp_path))
    code = (
        "import sys, biodata_cache as bdc; frame = bdc.asset_basics();"
        "print(type(frame).__name__, 'intake' in sys.modules, 's3fs' in sys.modules)"
    )
    environment = {"PATH": "/usr/bin:/bin", "BIODATA_CACHE_ROOT": str(tmp_path), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert result.stdout.split() == ["DataFrame", "False", "False"]
