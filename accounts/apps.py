from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  (registers the OpenAPI auth extensions)
        from accounts.audit import register_audited_models

        register_audited_models()
