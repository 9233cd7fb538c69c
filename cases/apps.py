from django.apps import AppConfig


class CasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cases"

    def ready(self):
        from cases.panels import open_case_action, open_cases_panel
        from customers.panels import register_customer_panel, register_timeline_action

        register_customer_panel(open_cases_panel, order=10)
        register_timeline_action(open_case_action, order=10)

        from cases.panels_care import care_flags_panel, customer_disruptions_panel

        register_customer_panel(customer_disruptions_panel, order=5)
        register_customer_panel(care_flags_panel, order=8)
