from django.urls import path

from customers import views, views_supervisor

app_name = "customers"
urlpatterns = [
    path("", views.customer_list_view, name="list"),
    path("<int:customer_id>/", views.customer_detail_view, name="detail"),
    path("<int:customer_id>/timeline/", views.customer_timeline_view, name="timeline"),
    path("<int:customer_id>/interactions/", views.interaction_log_view, name="log_interaction"),
]

# Supervisors' tools (GDPR export/erase, merge/unmerge): customers/views_supervisor.py
urlpatterns += [
    path("<int:customer_id>/export/", views_supervisor.customer_export_view, name="export"),
    path("<int:customer_id>/erase/", views_supervisor.customer_erase_view, name="erase"),
    path("<int:customer_id>/merge/", views_supervisor.customer_merge_view, name="merge"),
    path("<int:customer_id>/unmerge/", views_supervisor.customer_unmerge_view, name="unmerge"),
]
