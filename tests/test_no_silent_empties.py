"""A filter value that is not in the table warns (NoMatchWarning); unknown intake parameters raise.

An empty answer is only silent when it is genuine: the value exists in the table but matches no rows in
combination with the other filters, or a known subject has no QC metrics.
"""

from __future__ import annotations

import warnings

import intake
import pytest
from helpers import ROWS, publish_fixture

import biodata_cache as bdc
from biodata_cache.catalog import CATALOG_FILE
from biodata_cache.cli import main
from biodata_cache.errors import InvalidInputError
from biodata_cache.tables import get_table

RAW = "ophys_692478_raw"
DERIVED = "ophys_692478_raw_processed_2024-03-02_10-00-00"
# One more subject: it has an asset (so it is in unique_subject_ids) but no QC metrics.
ROWS_WITH_SUBJECT_WITHOUT_QC = {
    **ROWS,
    "qc": [{**row, "raw_asset_name": row["asset_name"].split("_processed")[0]} for row in ROWS["qc"]],
    "unique_subject_ids": [*ROWS["unique_subject_ids"], {"subject_id": "700000"}],
    "asset_basics": [
        *ROWS["asset_basics"],
        {
            "_id": "6",
            "name": "ecephys_700000_raw",
            "data_level": "raw",
            "project_name": "Patch foraging",
            "modalities": ["ecephys"],
            "subject_id": "700000",
        },
    ],
}


@pytest.fixture
def root(tmp_path, monkeypatch) -> str:
    root = str(tmp_path / "store")
    publish_fixture(root, rows=ROWS_WITH_SUBJECT_WITHOUT_QC)
    monkeypatch.setenv("BIODATA_CACHE_ROOT", root)
    return root


@pytest.fixture
def no_match_is_an_error():
    """Inside the test, a NoMatchWarning raises: proves a genuine empty answer stays silent."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", bdc.NoMatchWarning)
        yield


def _warning(call) -> tuple[object, str]:
    with pytest.warns(bdc.NoMatchWarning) as caught:
        result = call()
    assert len(caught) == 1, [str(w.message) for w in caught]
    return result, str(caught[0].message)


# -- asset_basics ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "wrong", "closest"),
    [
        ({"modality": "ephys"}, "'ephys'", "'ecephys'"),
        ({"data_level": "Raw"}, "'Raw'", "'raw'"),
        ({"subject_id": "69247"}, "'69247'", "'692478'"),
        ({"project_name": "learning mfish"}, "'learning mfish'", "'Learning mFISH'"),
    ],
)
def test_asset_basics_value_not_in_the_table_warns_naming_argument_value_and_closest(
    root, arguments, wrong, closest
):
    frame, message = _warning(lambda: bdc.asset_basics(**arguments))
    assert frame.empty
    (argument,) = arguments
    assert f"{argument} {wrong}" in message
    assert f"did you mean {closest}" in message
    assert "bdc-v0.1" in message


def test_case_insensitive_exact_match_is_offered_before_fuzzy_ones(root):
    _, message = _warning(lambda: bdc.asset_basics(data_level="RAW"))
    assert "did you mean 'raw'?" in message and "derived" not in message.split("?")[0]


def test_only_the_values_missing_from_the_table_are_named(root):
    frame, message = _warning(lambda: bdc.asset_basics(subject_id=["692478", "69247"], columns=["name"]))
    assert len(frame) == 3 and list(frame.columns) == ["name"]
    assert "'69247'" in message and "'692478'?" in message
    assert "subject_id '692478'" not in message


def test_small_value_sets_are_listed_in_full(root):
    _, message = _warning(lambda: bdc.asset_basics(modality="xyz"))
    assert "no existing value is close" in message
    for modality in ("behavior", "behavior-videos", "ecephys", "pophys"):
        assert f"'{modality}'" in message


def test_existing_values_that_match_no_row_together_are_a_genuine_empty(root, no_match_is_an_error):
    assert bdc.asset_basics(subject_id="828418", modality="pophys").empty
    assert bdc.asset_basics(subject_id="700000", data_level="derived").empty
    assert bdc.asset_basics(project_name="Learning mFISH", subject_id="828418", columns=["name"]).empty


def test_matching_values_in_lists_with_narrow_columns_do_not_warn(root, no_match_is_an_error):
    frame = bdc.asset_basics(
        subject_id=["692478", "828418"], data_level=["raw", "derived"], modality=["pophys", "behavior"],
        columns=["_id"],
    )  # fmt: skip
    assert sorted(frame["_id"]) == ["1", "2", "3", "4", "5"]
    assert list(frame.columns) == ["_id"]


def test_no_match_warning_is_a_user_warning_that_users_can_make_an_error(root):
    assert issubclass(bdc.NoMatchWarning, UserWarning)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=bdc.NoMatchWarning)
        with pytest.raises(bdc.NoMatchWarning, match="'ecephys'"):
            bdc.asset_basics(modality="ephys")


def test_warning_points_at_the_callers_line(root):
    with pytest.warns(bdc.NoMatchWarning) as caught:
        bdc.asset_basics(modality="ephys")
    assert caught[0].filename == __file__


def test_extra_tables_are_read_only_for_values_missing_from_the_answer(root, monkeypatch):
    from biodata_cache import readers

    read = []
    original = readers.read_table

    def spy(name, **kwargs):
        read.append(name)
        return original(name, **kwargs)

    monkeypatch.setattr(readers, "read_table", spy)
    bdc.asset_basics(subject_id="692478", modality="pophys", data_level="raw", columns=["name"])
    bdc.qc("692478", asset_names=[DERIVED])
    assert read == ["asset_basics", "qc"]
    read.clear()
    with pytest.warns(bdc.NoMatchWarning):
        bdc.asset_basics(subject_id="69247")
    assert read == ["asset_basics", "unique_subject_ids"]
    read.clear()
    with pytest.warns(bdc.NoMatchWarning):
        bdc.qc("69247")  # no '_': cannot be an asset name, so asset_basics is not read
    assert read == ["qc", "unique_subject_ids"]


def test_a_release_without_the_tables_of_values_still_answers(tmp_path, monkeypatch, no_match_is_an_error):
    import yaml

    store = publish_fixture(str(tmp_path), rows=ROWS_WITH_SUBJECT_WITHOUT_QC)
    document = yaml.safe_load(store.read_bytes("bdc-v0.1/catalog.yaml"))
    for name in ("unique_subject_ids", "unique_project_names"):
        del document["sources"][name]  # as an older release without them would look
    store.write_bytes("bdc-v0.1/catalog.yaml", yaml.safe_dump(document).encode())
    monkeypatch.setenv("BIODATA_CACHE_BACKEND", "S3")  # a shared store: nothing is built on read
    monkeypatch.setenv("BIODATA_CACHE_ROOT", str(tmp_path))
    assert bdc.qc("69247").empty
    assert bdc.asset_basics(subject_id="69247", project_name="x").empty


# -- qc -------------------------------------------------------------------------------------------------


def test_qc_of_a_mistyped_subject_warns_with_the_closest_subject_ids(root):
    frame, message = _warning(lambda: bdc.qc("69247"))
    assert frame.empty and list(frame.columns) == get_table("qc").column_names
    assert "subject_id '69247'" in message and "did you mean '692478'?" in message
    assert "unique_subject_ids()" in message


def test_qc_of_a_known_subject_without_metrics_is_a_genuine_empty(root, no_match_is_an_error):
    frame = bdc.qc("700000")
    assert frame.empty and list(frame.columns) == get_table("qc").column_names


def test_qc_of_a_raw_asset_name_reads_its_chain_as_0_42_did(root, no_match_is_an_error):
    # 0.42's qc took a raw asset name first: the raw asset has no metrics, its derived assets do.
    frame = bdc.qc(RAW)
    assert len(frame) == 2 and set(frame["raw_asset_name"]) == {RAW}
    assert frame.equals(bdc.qc(raw_asset_name=RAW))


def test_qc_of_a_derived_asset_name_raises_with_the_calls_that_work(root):
    with pytest.raises(
        InvalidInputError, match="is a derived asset, not a subject id or a raw asset"
    ) as caught:
        bdc.qc(DERIVED)
    message = str(caught.value)
    assert f"qc('692478', asset_names=[{DERIVED!r}])" in message
    assert f"qc(raw_asset_name=<raw asset>, asset_names=[{DERIVED!r}])" in message
    # The call the message gives really answers.
    assert bdc.qc("692478", asset_names=[DERIVED])["value"].tolist() == ["0.5"]


def test_qc_asset_name_not_in_the_table_warns_with_the_subjects_closest_assets(root):
    frame, message = _warning(lambda: bdc.qc("692478", asset_names=[DERIVED[:-1]]))
    assert frame.empty
    assert f"asset_names {DERIVED[:-1]!r}" in message and f"did you mean {DERIVED!r}" in message


def test_qc_asset_that_exists_without_metrics_or_for_another_subject_is_a_genuine_empty(
    root, no_match_is_an_error
):
    assert bdc.qc("828418", asset_names=[DERIVED]).empty
    assert bdc.qc("692478", asset_names=[RAW]).empty
    assert bdc.qc(asset_names=["ecephys_700000_raw"]).empty


# -- raw_to_derived ----------------------------------------------------------------------------------------


def test_raw_to_derived_modality_not_in_the_table_warns(root):
    derived, message = _warning(lambda: bdc.raw_to_derived(RAW, modality="ophys"))
    assert derived == []
    assert "modality 'ophys'" in message and "did you mean 'pophys'" in message


def test_raw_to_derived_existing_modality_without_derived_assets_is_a_genuine_empty(
    root, no_match_is_an_error
):
    assert bdc.raw_to_derived(RAW, modality="behavior") == []
    assert bdc.raw_to_derived(RAW, modality="pophys") == [
        DERIVED,
        "ophys_692478_raw_processed_2024-03-05_10-00-00",
    ]


# -- command line ----------------------------------------------------------------------------------------


def test_cli_show_with_a_mistyped_subject_prints_a_warning_line(root, capsys):
    assert main(["show", "asset_basics", "--subject-id", "69247"]) == 0
    captured = capsys.readouterr()
    assert "biodata-cache: warning: asset_basics: subject_id '69247'" in captured.err
    assert "'692478'" in captured.err
    assert "(0 of 0 rows)" in captured.out


def test_cli_show_qc_with_a_derived_asset_name_is_an_error(root, capsys):
    assert main(["show", "qc", "--subject-id", DERIVED]) == 1
    assert "is a derived asset, not a subject id" in capsys.readouterr().err


# -- intake parameters -----------------------------------------------------------------------------------


def _catalog(root: str):
    return intake.open_catalog(f"{root}/bdc-v0.1/{CATALOG_FILE}")


@pytest.mark.parametrize(
    "call",
    [
        lambda cat: cat.qc(subjectid="692478"),
        lambda cat: cat["qc"](subjectid="692478"),
        lambda cat: cat.qc.get(subjectid="692478"),
        lambda cat: cat.qc(subject_id="692478")(subjectid="692478"),
        lambda cat: cat.qc.entry(subjectid="692478"),
        lambda cat: bdc.open_catalog().qc(subjectid="692478"),
    ],
    ids=["attribute", "item", "get", "configured-source", "entry", "open_catalog"],
)
def test_misspelt_intake_parameter_raises_naming_it_and_the_valid_ones(root, call):
    with pytest.raises(InvalidInputError) as caught:
        call(_catalog(root))
    message = str(caught.value)
    assert "'subjectid'" in message and "did you mean 'subject_id'?" in message
    for valid in ("subject_id", "columns", "filters", "storage_options"):
        assert valid in message
    assert isinstance(caught.value, bdc.BiodataCacheError)


def test_unknown_parameter_of_an_entry_without_parameters_raises(root):
    cat = _catalog(root)
    with pytest.raises(InvalidInputError, match=r"asset_basics got an unknown parameter 'foo'") as caught:
        cat.asset_basics(foo=1)
    assert "columns, filters, storage_options" in str(caught.value)
    with pytest.raises(InvalidInputError, match=r"takes no entry parameters"):
        cat.asset_basics(subject_id="692478")


def test_valid_intake_parameters_still_read(root):
    cat = _catalog(root)
    assert len(cat.qc(subject_id="692478", columns=["name"]).read()) == 2
    frame = cat.asset_basics(filters=[("subject_id", "==", "828418")], storage_options={}).read()
    assert sorted(frame["_id"]) == ["4", "5"]


def test_reconfiguring_a_source_keeps_its_subject_partition(root):
    one = _catalog(root).qc(subject_id="692478")
    narrowed = one(columns=["asset_name", "name"])
    frame = narrowed.read()
    assert len(frame) == 2 and list(frame.columns) == ["asset_name", "name"]
    assert narrowed(subject_id="828418").read()["name"].tolist() == ["licks"]
