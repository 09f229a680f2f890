"""The README's settings table, generated from the settings classes (``python -m devservices.settings_table``).

A test compares the README with this output, so the table cannot drift from the code.
"""

from datetime import timedelta
from enum import Enum

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from common.durations import format_duration
from common.settings import CommonSettings
from consumer.settings import ConsumerSettings
from producer.settings import ProducerSettings

SERVICES: dict[str, type[BaseSettings]] = {
    "both": CommonSettings,
    "producer": ProducerSettings,
    "consumer": ConsumerSettings,
}


def _default(field: FieldInfo) -> str:
    value = field.default
    if field.default_factory is not None:
        return "(computed)"
    if isinstance(value, SecretStr):
        return "(secret)" if value.get_secret_value() else "(none)"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(sorted(str(item) for item in value))
    return "(none)" if value is None or value == "" else str(value)


def settings_table() -> str:
    """One Markdown row per setting: environment variable, default, which service reads it, meaning."""
    rows = ["| Variable | Default | Read by | Meaning |", "|---|---|---|---|"]
    seen: set[str] = set()
    for service, cls in SERVICES.items():
        for name, field in cls.model_fields.items():
            if name in seen:
                continue
            seen.add(name)
            meaning = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{name.upper()}` | `{_default(field)}` | {service} | {meaning} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
