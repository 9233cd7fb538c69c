"""What an ``OPTIONS`` request answers: the view's name, description, renderers and parsers.

DRF's ``SimpleMetadata`` would also describe the fields of ``get_serializer()`` as the
``POST``/``PUT`` body. Here that is wrong (most viewsets' ``serializer_class`` is the output
serializer; the input is a separate one) and it crashes on views with no serializer class
(the conversions and bulk endpoints answered ``OPTIONS`` with a 500). The bodies are
described once, correctly, by ``/api/schema/``.
"""

from rest_framework.metadata import SimpleMetadata


class APIMetadata(SimpleMetadata):
    def determine_actions(self, request, view) -> dict:
        return {}
