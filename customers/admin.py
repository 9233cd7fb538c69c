from django.contrib import admin

from customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("display_name", "lifecycle_stage", "region", "preferred_channel", "created_at")
    list_filter = ("lifecycle_stage", "preferred_channel", "accessibility_needs")
    search_fields = ("display_name", "region")
    readonly_fields = ("created_at", "updated_at")
    show_full_result_count = False  # no COUNT(*) over a million rows on every page

    def get_exclude(self, request, obj=None):
        if request.user.has_perm("customers.view_restricted_customer"):
            return ()
        return Customer.RESTRICTED_FIELDS
