from django.urls import path

from cases import views_care

app_name = "care"
urlpatterns = [
    path("", views_care.care_queue_view, name="queue"),
    path("<int:flag_id>/", views_care.care_flag_view, name="flag"),
    path("<int:flag_id>/acknowledge/", views_care.care_flag_acknowledge_view, name="acknowledge"),
    path("<int:flag_id>/message/", views_care.care_flag_message_view, name="message"),
    path("<int:flag_id>/case/", views_care.care_flag_case_view, name="case"),
    path("<int:flag_id>/call-back/", views_care.care_flag_call_back_view, name="call_back"),
    path("<int:flag_id>/dismiss/", views_care.care_flag_dismiss_view, name="dismiss"),
]
