from rest_framework.routers import SimpleRouter

from campaigns.api.views import (
    CampaignViewSet,
    ContactGateViewSet,
    ConversionViewSet,
    OpportunityViewSet,
    SegmentViewSet,
)

router = SimpleRouter()
router.register("segments", SegmentViewSet, basename="segment")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("contact-gate", ContactGateViewSet, basename="contact-gate")
router.register("conversions", ConversionViewSet, basename="conversion")
router.register("opportunities", OpportunityViewSet, basename="opportunity")
urlpatterns = router.urls
