from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet

from contacts.models import Contact
from segments import functions, services
from segments.errors import SegmentError, SqlSegmentError
from segments.models import Segment, SegmentMember
from segments.selectors import segment_contact_ids, segment_count
from segments.sql import sql_check, sql_clean
from tests.segments.util import add_event, make_contact

pytestmark = pytest.mark.django_db


# --- sql ------------------------------------------------------------------------------------------------------


def test_sql_segment_returns_the_selected_contacts(admin_user: User) -> None:
    keep, _other = make_contact(first_name="Keep"), make_contact(first_name="Other")
    segment = services.segment_create(
        user=admin_user,
        name="sql",
        type=Segment.Type.SQL,
        selection_sql="SELECT id FROM contacts_contact WHERE first_name = 'Keep';",
    )
    assert list(segment_contact_ids(segment=segment)) == [keep.pk]
    assert segment_count(segment=segment) == 1


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DROP TABLE contacts_contact", "DROP"),
        ("DELETE FROM contacts_contact", "DELETE"),
        ("UPDATE contacts_contact SET first_name = 'x'", "UPDATE"),
        ("WITH d AS (DELETE FROM contacts_contact RETURNING id) SELECT id FROM d", "DELETE"),
        ("SELECT id FROM contacts_contact; SELECT 1", "one statement"),
        ("SELECT id INTO t FROM contacts_contact", "INTO"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    ],
)
def test_sql_guards_refuse_before_running(sql: str, message: str) -> None:
    with pytest.raises(SqlSegmentError, match=message):
        sql_clean(sql)


def test_sql_semicolon_inside_a_string_is_not_a_second_statement() -> None:
    assert sql_clean("SELECT id FROM contacts_contact WHERE first_name = 'a;b';") == (
        "SELECT id FROM contacts_contact WHERE first_name = 'a;b'"
    )


def test_sql_wrong_column_is_a_clear_error() -> None:
    with pytest.raises(SqlSegmentError, match=r"not valid.*nope"):
        sql_check("SELECT nope FROM contacts_contact")


def test_sql_must_return_one_integer_column() -> None:
    with pytest.raises(SqlSegmentError, match="exactly one column"):
        sql_check("SELECT id, email FROM contacts_contact")
    with pytest.raises(SqlSegmentError, match="not an integer"):
        sql_check("SELECT email FROM contacts_contact")


def test_sql_timeout_is_a_clear_error(settings: Any) -> None:
    settings.SEGMENT_SQL_TIMEOUT_MS = 100
    with pytest.raises(SqlSegmentError, match="longer than"):
        # No table in the query: a plan that reads an empty contacts table first would never run the slow part.
        sql_check("SELECT n FROM (SELECT pg_catalog.count(*)::bigint AS n FROM generate_series(1, 50000000)) g")


def test_sql_runs_read_only_even_if_a_write_slips_past_the_scanner() -> None:
    from segments.sql import run_read_only

    with pytest.raises(SqlSegmentError, match="tried to change data"):
        run_read_only(lambda cursor: cursor.execute("CREATE TEMP TABLE herald_x (id int)"))


def test_only_admins_write_sql_segments(manager: User) -> None:
    with pytest.raises(PermissionDenied, match="Only Admins"):
        services.segment_create(user=manager, name="x", type=Segment.Type.SQL, selection_sql="SELECT 1")


def test_manager_cannot_turn_an_sql_segment_into_another_type(admin_user: User, manager: User) -> None:
    segment = services.segment_create(
        user=admin_user, name="x", type=Segment.Type.SQL, selection_sql="SELECT id FROM contacts_contact"
    )
    with pytest.raises(PermissionDenied):
        services.segment_update(segment=segment, user=manager, type=Segment.Type.RULES, rules={})


def test_sql_error_on_save_maps_to_the_field(admin_user: User) -> None:
    with pytest.raises(ValidationError) as info:
        services.segment_create(user=admin_user, name="x", type=Segment.Type.SQL, selection_sql="TRUNCATE x")
    assert "selection_sql" in info.value.message_dict


# --- function ---------------------------------------------------------------------------------------------------


def test_function_registry_lists_the_shipped_handler() -> None:
    assert ("recently_active", functions.get_segment_function("recently_active").label) in functions.function_choices()  # type: ignore[union-attr]


def test_function_segment_evaluates_its_handler(manager: User) -> None:
    active, idle = make_contact(), make_contact()
    add_event(active, "applied", days_ago=2)
    add_event(idle, "applied", days_ago=90)
    segment = services.segment_create(
        user=manager, name="f", type=Segment.Type.FUNCTION, handler_function="recently_active"
    )
    assert set(segment_contact_ids(segment=segment)) == {active.pk}


def test_registering_a_handler_twice_under_one_name_fails() -> None:
    def other() -> QuerySet:
        return Contact.objects.values_list("id", flat=True)

    with pytest.raises(ValueError, match="already registered"):
        functions.segment_function("recently_active", label="dup")(other)


def test_unknown_function_is_refused(manager: User) -> None:
    with pytest.raises(ValidationError):
        services.segment_create(user=manager, name="f", type=Segment.Type.FUNCTION, handler_function="os.system")


def test_handler_returning_a_list_is_an_error() -> None:
    functions.segment_function("test_list_handler", label="bad")(lambda: [1, 2])  # type: ignore[arg-type,return-value]
    segment = Segment(name="f", type=Segment.Type.FUNCTION, handler_function="test_list_handler")
    with pytest.raises(SegmentError, match="QuerySet"):
        segment_contact_ids(segment=segment)


# --- manual -------------------------------------------------------------------------------------------------------


def test_manual_upload_matches_ids_and_emails_and_reports_unknown(manager: User) -> None:
    by_id, by_email = make_contact(), make_contact(email="known@example.org")
    segment = services.segment_create(user=manager, name="m", type=Segment.Type.MANUAL)
    csv = f"customer_id\n{by_id.pk}\nKNOWN@example.org\n999999\nghost@example.org\n"
    result = services.segment_members_upload(segment=segment, user=manager, file=io.BytesIO(csv.encode()))
    assert (result.rows, result.matched, result.added) == (4, 2, 2)
    assert sorted(result.not_found) == ["999999", "ghost@example.org"]
    assert set(segment_contact_ids(segment=segment)) == {by_id.pk, by_email.pk}


def test_manual_upload_twice_adds_once(manager: User) -> None:
    contact = make_contact()
    segment = services.segment_create(user=manager, name="m", type=Segment.Type.MANUAL)
    for _ in range(2):
        services.segment_members_upload(segment=segment, user=manager, file=io.StringIO(f"{contact.email}\n"))
    assert SegmentMember.objects.filter(segment=segment).count() == 1


def test_viewer_cannot_upload_members(manager: User, viewer: User) -> None:
    segment = services.segment_create(user=manager, name="m", type=Segment.Type.MANUAL)
    with pytest.raises(PermissionDenied):
        services.segment_members_upload(segment=segment, user=viewer, file=io.StringIO("1\n"))


def test_sql_segment_with_percent_signs_counts_and_shows_its_sql(admin_user: User) -> None:
    from segments.selectors import segment_sample, segment_sql_text

    keep = make_contact(email="keep-1@example.org")
    make_contact(email="other@example.org")
    segment = services.segment_create(
        user=admin_user,
        name="like",
        type=Segment.Type.SQL,
        selection_sql="SELECT id FROM contacts_contact WHERE email LIKE 'keep%' AND 10 % 3 = 1",
    )
    assert segment_count(segment=segment) == 1
    assert [c.pk for c in segment_sample(segment=segment)] == [keep.pk]
    assert "LIKE 'keep%'" in segment_sql_text(segment=segment)
