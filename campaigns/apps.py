from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "campaigns"

    def ready(self) -> None:
        from cases.signals import case_resolved

        case_resolved.connect(_on_case_resolved, dispatch_uid="campaigns.case_resolved")

        # Surveys go through the same contact gate as campaigns (feedback sits below us).
        from campaigns.gate import contact_gate
        from feedback.services.surveys import survey_contact_gate_register

        survey_contact_gate_register(contact_gate)

        from campaigns.panels import before_you_call_panel
        from customers.panels import register_customer_panel

        register_customer_panel(before_you_call_panel, order=2)


def _on_case_resolved(sender, case_id: int, **kwargs) -> None:
    """A resolved case's follow-up may carry eligible campaign content: enqueue only."""
    from campaigns.services import FOLLOW_UP_TASK
    from cxportal.broker import publish

    publish(FOLLOW_UP_TASK, [case_id])
