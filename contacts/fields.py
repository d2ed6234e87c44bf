"""Model fields that keep personal data encrypted at rest (contacts/crypto.py; docs/privacy.md)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models

from contacts import crypto


class EncryptedCharField(models.CharField):  # type: ignore[type-arg]
    """A short text stored as a token (contacts/tokens.py). The column is wide enough for the token (`max_length`),
    forms and validation use the plain length (`plain_max_length`). Rows read are decrypted (`from_db_value`), so
    Python only sees plain text; a lookup other than "is empty" cannot match (two encryptions of a value differ):
    compare the blind index (`BlindIndexField`) instead."""

    def __init__(self, *args: Any, plain_max_length: int = 40, **kwargs: Any) -> None:
        self.plain_max_length = plain_max_length
        kwargs.setdefault("max_length", 255)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["plain_max_length"] = self.plain_max_length
        return name, path, args, kwargs

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return crypto.decrypt(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if isinstance(value, str) and value and not crypto.is_encrypted(value):
            return crypto.encrypt(value)
        return value

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**{"max_length": self.plain_max_length, "form_class": forms.CharField, **kwargs})

    def run_validators(self, value: Any) -> None:
        # The plain value is what the user typed: hold it to the plain length, not the token's.
        if isinstance(value, str) and len(value) > self.plain_max_length:
            raise ValidationError(f"Ensure this value has at most {self.plain_max_length} characters.")


class BlindIndexField(models.CharField):  # type: ignore[type-arg]
    """The keyed hash of another field's plain value, written whenever the row is saved with that field."""

    def __init__(self, *args: Any, source: str = "", **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        for key in ("blank", "default", "editable"):
            kwargs.pop(key, None)
        if kwargs.get("max_length") == 64:
            kwargs.pop("max_length")
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = crypto.mobile_hash(getattr(model_instance, self.source) or "")
        setattr(model_instance, self.attname, value)
        return value


class AttributeValueField(models.JSONField):  # type: ignore[type-arg]
    """ContactAttribute.field_value: the value of an attribute an Admin marked sensitive (SensitiveAttribute) is
    stored encrypted, every other value as plain JSON. Reads decrypt."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return crypto.decrypt_attribute(super().from_db_value(value, expression, connection))

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        sensitive = apps.get_model("contacts", "SensitiveAttribute").objects.filter(
            name=getattr(model_instance, "field_name", "")
        )
        if sensitive.exists():
            return crypto.encrypt_attribute(value)
        return value
