from rest_framework.routers import SimpleRouter

from cases.api.disruptions import DisruptionViewSet
from cases.api.views import CaseViewSet, SlaPolicyViewSet

router = SimpleRouter()
router.register("cases", CaseViewSet, basename="case")
router.register("sla-policies", SlaPolicyViewSet, basename="sla-policy")
router.register("disruptions", DisruptionViewSet, basename="disruption")
urlpatterns = router.urls
