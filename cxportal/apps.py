from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_teams(sender, **kwargs) -> None:
    from django.apps import apps

    # post_migrate is sent once per app with models; act on the last one, when every
    # permission exists.
    with_models = [a for a in apps.get_app_configs() if a.models_module is not None]
    if sender.label != with_models[-1].label:
        return
    from cxportal.services import teams_ensure_defaults

    teams_ensure_defaults()


class CxportalConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cxportal"
    verbose_name = "CX Portal core"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from cxportal.api import schema  # noqa: F401  registers the API-key security scheme
        from cxportal.api.authentication import api_client_changed
        from cxportal.models import APIClient

        # A changed or deleted partner client must not outlive its change in the auth cache.
        post_save.connect(
            api_client_changed, sender=APIClient, dispatch_uid="cxportal.client_saved"
        )
        post_delete.connect(
            api_client_changed, sender=APIClient, dispatch_uid="cxportal.client_gone"
        )

        # Sent once per app after migrate; run after the last app so all permissions exist.
        post_migrate.connect(_ensure_teams, dispatch_uid="cxportal.ensure_teams")
