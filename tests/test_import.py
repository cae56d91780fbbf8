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
