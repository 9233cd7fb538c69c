from rest_framework.routers import SimpleRouter

from customers.api.ingest import InteractionBulkViewSet, OrderBulkViewSet
from customers.api.views import CustomerViewSet

router = SimpleRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("interactions/bulk", InteractionBulkViewSet, basename="interaction-bulk")
router.register("orders/bulk", OrderBulkViewSet, basename="order-bulk")
urlpatterns = router.urls
