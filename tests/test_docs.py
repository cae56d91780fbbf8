from pathlib import Path

from biodata_cache.reference import write_reference

REPOSITORY = Path(__file__).resolve().parent.parent


def test_committed_table_reference_matches_the_declarations(tmp_path):
    write_reference(tmp_path)
    committed = REPOSITORY / "docs" / "reference" / "tables"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in committed.iterdir())
    for page in tmp_path.iterdir():
        assert page.read_text() == (committed / page.name).read_text(), (
            f"docs/reference/tables/{page.name} is stale: run `make generated` and commit the result"
        )


def test_committed_api_reference_matches_the_docstrings():
    from biodata_cache.reference import render_api

    committed = (REPOSITORY / "docs" / "reference" / "api.md").read_text()
    assert render_api() == committed, "docs/reference/api.md is stale: run `make generated` and commit it"


def test_committed_record_shapes_page_matches_the_declarations():
    from biodata_cache.reference import render_record_shapes

    committed = (REPOSITORY / "docs" / "reference" / "record-shapes.md").read_text()
    assert render_record_shapes() == committed, (
        "docs/reference/record-shapes.md is stale: run `make generated` and commit it"
    )
