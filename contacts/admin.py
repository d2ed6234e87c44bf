"""Admin: every contacts model. Every import goes through the one import path (ImportJob "add", where the
contacts changelist's Import button leads); django-import-export stays for exports of contacts. Funnel events are
insert-only here too."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.functional import cached_property
from import_export import resources
from import_export.admin import ImportExportModelAdmin

from accounts import roles
from contacts import consent, protect, selectors, services
from contacts.csvsafe import csv_safe
from contacts.models import (
    Batch,
    BatchMember,
    ConsentRecord,
    Contact,
    ContactAttribute,
    FunnelEvent,
    ImportJob,
    SensitiveAttribute,
    Suppression,
)


class EstimatedCountPaginator(Paginator):
    """The changelist of a million-row table without a full COUNT(*): unfiltered, the planner's estimate."""

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if isinstance(qs, QuerySet) and not qs.query.where:
            estimate = selectors.table_row_estimate(qs.model)
            # A small table is counted exactly: the estimate is only worth its error where COUNT(*) is slow.
            if estimate is not None and estimate > 10_000:
                return estimate
        return super().count


class ContactResource(resources.ModelResource):
    """The export's columns (imports go through the product import: `ContactAdmin.import_action`)."""

    class Meta:
        model = Contact
        import_id_fields = ["email"]
        fields = ["email", "first_name", "last_name", "mobile", "lms_lead_id", "status", "created_at", "updated_at"]
        skip_unchanged = True
        report_skipped = True

    def export_field(self, field: Any, instance: Any, **kwargs: Any) -> Any:
        # Every export format is opened in a spreadsheet sooner or later: defuse formula cells (contacts/csvsafe.py).
        return csv_safe(super().export_field(field, instance, **kwargs))

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        # Not an import path (its rules would differ from the product import's): refuse before any row is read.
        raise ValueError("Contacts are imported through the product import (Import jobs), not this resource.")


class AttributeInline(admin.TabularInline):
    model = ContactAttribute
    extra = 0
    fields = ["field_name", "field_type", "field_value", "updated_at"]
    readonly_fields = ["updated_at"]


@admin.register(Contact)
class ContactAdmin(ImportExportModelAdmin):
    resource_classes = [ContactResource]
    list_display = ["email", "first_name", "last_name", "mobile", "lms_lead_id", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["=email", "^first_name", "^last_name", "=lms_lead_id"]
    readonly_fields = ["created_at", "updated_at", "unsubscribed_at"]
    inlines = [AttributeInline]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """The changelist's Import button hands the file to the product import (ImportJob "add"): the same rules as
        every other way in (name split, typed attributes, batch, counts, error report, any size, on a worker),
        instead of django-import-export's row-by-row import with rules of its own."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        return redirect("admin:contacts_importjob_add")

    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self.import_action(request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Contact, form: Any, change: bool) -> None:
        # A status an admin sets here is a consent change like any other: its ledger row commits with it.
        old = Contact.objects.filter(pk=obj.pk).values_list("status", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        if old != obj.status:
            action = {
                Contact.Status.SUBSCRIBED: consent.Action.RESUBSCRIBE if change else consent.Action.SUBSCRIBE,
                Contact.Status.UNSUBSCRIBED: consent.Action.UNSUBSCRIBE,
            }.get(Contact.Status(obj.status), consent.Action.SUPPRESS)
            consent.consent_record(
                contact_ids=[obj.pk], action=action, source=consent.Source.ADMIN, detail=f"admin: {obj.status}"
            )


@admin.register(ContactAttribute)
class ContactAttributeAdmin(admin.ModelAdmin):
    list_display = ["contact", "field_name", "field_type", "field_value", "updated_at"]
    list_filter = ["field_type"]
    search_fields = ["=field_name", "=contact__email"]
    raw_id_fields = ["contact"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(FunnelEvent)
class FunnelEventAdmin(admin.ModelAdmin):
    """Insert-only: events can be added, never edited or deleted."""

    list_display = ["id", "contact", "funnel_type", "from_stage", "to_stage", "amount", "created_at"]
    list_filter = ["funnel_type"]
    search_fields = ["=contact__email", "to_stage", "from_stage"]
    raw_id_fields = ["contact"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "created_at"]
    list_filter = ["source"]
    search_fields = ["name"]


@admin.register(BatchMember)
class BatchMemberAdmin(admin.ModelAdmin):
    list_display = ["batch", "contact", "import_job", "added_at"]
    list_filter = ["batch__source"]
    search_fields = ["=contact__email", "batch__name"]
    raw_id_fields = ["batch", "contact", "import_job"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False


class ImportUploadAdminForm(forms.ModelForm):
    class Meta:
        model = ImportJob
        fields = ["file", "kind", "batch"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """ "Add" uploads a CSV of any size through the product import path; the job then runs on a worker."""

    list_display = ["id", "original_name", "kind", "status", "rows_total", "created", "updated", "errors", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["original_name", "message"]
    raw_id_fields = ["batch", "created_by"]
    readonly_fields = [f.name for f in ImportJob._meta.fields if f.name != "id"]

    actions = ["mark_failed"]

    @admin.action(description="Mark selected pending/running imports as failed (their worker died)")
    def mark_failed(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        changed = sum(
            services.import_job_fail(job_id=job.pk, message=f"Marked failed by {request.user} from the admin.")
            for job in queryset.only("pk")
        )
        self.message_user(request, f"{changed} import(s) marked failed.")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ImportUploadAdminForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["file", "kind", "batch"] if obj is None else super().get_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: ImportJob, form: Any, change: bool) -> None:
        if change:
            return
        upload = form.cleaned_data["file"]
        job = services.import_job_create(
            file=upload,
            original_name=upload.name,
            kind=form.cleaned_data["kind"],
            batch=form.cleaned_data.get("batch"),
            user=request.user,  # type: ignore[arg-type]
        )
        obj.__dict__.update(job.__dict__)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin):
    """The consent ledger: read-only (rows are written by the change they record)."""

    list_display = ["at", "contact", "action", "source", "detail", "ip"]
    list_filter = ["action", "source"]
    search_fields = ["=contact__email", "=email_hash"]
    raw_id_fields = ["contact"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Hashes of addresses never to be subscribed again (contacts/consent.py). Read-only."""

    list_display = ["email_hash", "reason", "source", "created_at"]
    list_filter = ["reason", "source"]
    search_fields = ["=email_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(SensitiveAttribute)
class SensitiveAttributeAdmin(admin.ModelAdmin):
    """Attribute names stored encrypted. Adding one encrypts its stored values, deleting one decrypts them;
    segment rules on a sensitive attribute are refused."""

    list_display = ["name", "created_at"]
    search_fields = ["name"]
    fields = ["name"]
    actions = None

    def save_model(self, request: HttpRequest, obj: SensitiveAttribute, form: Any, change: bool) -> None:
        if change:
            return  # the name is the mark: delete it and add the new one
        mark, rewritten = protect.sensitive_attribute_mark(name=obj.name)
        obj.__dict__.update(mark.__dict__)
        self.message_user(request, f"{rewritten} stored value(s) of “{mark.name}” encrypted.")

    def delete_model(self, request: HttpRequest, obj: SensitiveAttribute) -> None:
        rewritten = protect.sensitive_attribute_unmark(name=obj.name)
        self.message_user(request, f"{rewritten} stored value(s) of “{obj.name}” decrypted.")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["name"] if obj is not None else []

    def has_module_permission(self, request: HttpRequest) -> bool:
        return roles.is_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return roles.is_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return roles.is_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return roles.is_admin(request.user)
