from rest_framework.routers import SimpleRouter

from feedback.api.views import (
    IdeaViewSet,
    ResponseViewSet,
    ScorecardViewSet,
    SurveyViewSet,
    ThemeTrendViewSet,
)

router = SimpleRouter()
router.register("surveys", SurveyViewSet, basename="survey")
router.register("responses", ResponseViewSet, basename="survey-response")
router.register("scorecard", ScorecardViewSet, basename="scorecard")
router.register("themes", ThemeTrendViewSet, basename="theme-trend")
router.register("ideas", IdeaViewSet, basename="idea")
urlpatterns = router.urls
