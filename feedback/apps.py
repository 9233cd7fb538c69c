from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "feedback"

    def ready(self) -> None:
        from cases.signals import case_resolved

        case_resolved.connect(_on_case_resolved, dispatch_uid="feedback.case_resolved")

        from customers.panels import register_customer_panel
        from feedback.panels import customer_feedback_panel

        register_customer_panel(customer_feedback_panel, order=30)


def _on_case_resolved(sender, case_id: int, **kwargs) -> None:
    """A resolved case may be surveyed: enqueue only (the task decides and invites)."""
    from cxportal.broker import publish

    publish("scans.survey_case_resolved", [case_id])
