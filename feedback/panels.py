"""What the feedback app adds to the customer 360 page (``customers.panels``): a
"Feedback" panel with the survey answers the customer allowed us to keep against them.
It checks the user's permission and costs one query."""

from django.urls import reverse

from feedback.selectors import customer_feedback
from feedback.views import sentiment_label

PANEL_LIMIT = 5


def customer_feedback_panel(request, customer):
    """The customer's latest answers (score, comment, themes' sentiment, follow-up);
    nothing when there are none or the user may not read feedback."""
    if not request.user.has_perm("feedback.view_response"):
        return None
    responses = customer_feedback(
        actor=request.user, customer_id=customer.pk, limit=PANEL_LIMIT + 1
    )
    if not responses:
        return None
    for response in responses:
        response.sentiment_label = sentiment_label(response.sentiment)
        response.is_low = response.category in ("detractor", "dissatisfied")
    context = {
        "responses": responses[:PANEL_LIMIT],
        "more": len(responses) > PANEL_LIMIT,
        "list_url": f"{reverse('feedback:responses')}?customer={customer.pk}",
    }
    return "Feedback", "feedback/_customer_panel.html", context
