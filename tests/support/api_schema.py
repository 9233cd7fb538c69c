"""The OpenAPI description as partners download it: built by ``spectacular`` with
``--validate --fail-on-warn``, so a warning fails the test that asks for it."""

import yaml
from django.core.management import call_command


def openapi_spec(tmp_path_factory, django_db_blocker) -> dict:
    path = tmp_path_factory.mktemp("schema") / "schema.yml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())
