"""The supervisors' channel health page, mounted at /channels/ (customers/views_channels.py)."""

from django.urls import path

from customers import views_channels

app_name = "channels"
urlpatterns = [
    path("", views_channels.channel_health_view, name="health"),
    path("<int:source_id>/retry/", views_channels.channel_retry_view, name="retry"),
]
