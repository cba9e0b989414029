"""The scanner UI's parameters as FIRE / python-ismrmrd-server clients send them: a TEXT message
(the "configAdditional") holding JSON ``{"parameters": {...}, ...}``, before or after the header.

``config`` and ``customconfig`` choose the chain as the reference server does (``customconfig``, when
not empty, wins over ``config``; either replaces the name sent in the configuration message). Every
other parameter is a setting of the chain, given as it came (text, true/false, a number, null) to
``Pipeline.override``, the entry point ``--set key=value`` and settings files use: the same
conversion, the same checks, the same one-line errors for an unknown key or a bad value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import UserError

CHAIN_KEYS = ("config", "customconfig")
SOURCE = "configAdditional parameters"  # how errors name where the settings came from


@dataclass
class ConfigAdditional:
    config: str | None = None  # the chain chosen by the parameters, if any
    settings: dict[str, Any] = field(default_factory=dict)  # for Pipeline.override


def parse_config_additional(text: str) -> ConfigAdditional:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"the configAdditional text message is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise UserError('the configAdditional text message must be a JSON object with "parameters"')
    parameters = document.get("parameters", {})
    if not isinstance(parameters, dict):
        raise UserError('configAdditional "parameters" must be a JSON object of name: value')
    chosen = [str(parameters[k]).strip() for k in reversed(CHAIN_KEYS) if parameters.get(k) not in (None, "")]
    return ConfigAdditional(config=chosen[0] if chosen else None,  # customconfig first, as the reference server
                            settings={k: v for k, v in parameters.items() if k not in CHAIN_KEYS})
