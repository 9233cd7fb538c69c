"""Domain events of the cases app. Higher layers (feedback surveys, campaign follow-ups)
subscribe; receivers only enqueue work, they do none themselves.

``case_resolved`` is sent after the resolving transaction committed, with ``case_id`` and
``actor_label``.
"""

from django.dispatch import Signal

case_resolved = Signal()
