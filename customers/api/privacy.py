"""Supervisor-grade actions on one customer: GDPR export and erase, merge and unmerge.

Mixed into ``CustomerViewSet`` so they live at ``/api/v1/customers/{id}/<action>/``.
"""


class CustomerPrivacyActions:
    pass
