from django.urls import path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list_view, name="list"),
    path("new/", views.campaign_create_view, name="new"),
    path("<int:campaign_id>/", views.campaign_detail_view, name="detail"),
    path("<int:campaign_id>/content/", views.campaign_content_view, name="content"),
    path("<int:campaign_id>/review/", views.campaign_review_view, name="review"),
    path(
        "<int:campaign_id>/<slug:action>/",
        views.campaign_action_view,
        name="action",
    ),
    path("segments/", views.segment_list_view, name="segments"),
    path("segments/new/", views.segment_edit_view, name="segment_new"),
    path("segments/preview/", views.segment_preview_view, name="segment_preview"),
    path("segments/<int:segment_id>/", views.segment_edit_view, name="segment"),
    path("pipeline/", views.pipeline_view, name="pipeline"),
    path("pipeline/new/", views.opportunity_create_view, name="opportunity_new"),
    path("pipeline/<int:opportunity_id>/", views.opportunity_edit_view, name="opportunity"),
]
