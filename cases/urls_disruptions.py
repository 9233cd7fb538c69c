from django.urls import path

from cases import views_disruptions as views

app_name = "disruptions"
urlpatterns = [
    path("", views.disruption_list_view, name="list"),
    path("new/", views.disruption_declare_view, name="new"),
    path("<int:disruption_id>/", views.disruption_detail_view, name="detail"),
    path("<int:disruption_id>/affected/", views.disruption_affected_view, name="affected"),
    path("<int:disruption_id>/update/", views.disruption_update_view, name="update"),
    path("<int:disruption_id>/resolve/", views.disruption_resolve_view, name="resolve"),
    path(
        "<int:disruption_id>/cases-update/",
        views.disruption_cases_update_view,
        name="cases_update",
    ),
]
