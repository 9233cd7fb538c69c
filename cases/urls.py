from django.urls import path

from cases import views

app_name = "cases"
urlpatterns = [
    path("", views.case_queue_view, name="queue"),
    path("new/", views.case_create_view, name="new"),
    path("sla/", views.sla_report_view, name="sla_report"),
    path("<int:case_id>/", views.case_detail_view, name="detail"),
    path("<int:case_id>/edit/", views.case_edit_view, name="edit"),
    path("<int:case_id>/reply/", views.case_reply_view, name="reply"),
    path("<int:case_id>/notes/", views.case_note_view, name="note"),
    path("<int:case_id>/resolve/", views.case_resolve_view, name="resolve"),
    path("<int:case_id>/reopen/", views.case_reopen_view, name="reopen"),
]
