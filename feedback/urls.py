from django.urls import path

from feedback import views

app_name = "feedback"
urlpatterns = [
    path("", views.scorecard_view, name="scorecard"),
    path("scorecard.csv", views.scorecard_csv_view, name="scorecard_csv"),
    path("themes/", views.themes_view, name="themes"),
    path("inbox/", views.inbox_view, name="inbox"),
    path("inbox/<int:mention_id>/review/", views.mention_review_view, name="mention_review"),
    path("responses/", views.response_list_view, name="responses"),
    path("responses/<int:response_id>/", views.response_detail_view, name="response"),
    path(
        "responses/<int:response_id>/follow-up/",
        views.response_follow_up_view,
        name="response_follow_up",
    ),
    path("ideas/", views.ideas_view, name="ideas"),
    path("ideas/<int:idea_id>/move/", views.idea_move_view, name="idea_move"),
    path("surveys/", views.survey_list_view, name="surveys"),
    path("surveys/<int:survey_id>/invite/", views.survey_invite_view, name="survey_invite"),
]
