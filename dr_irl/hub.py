"""Whether the Hugging Face hub can be asked at all: offline flags and a quick TCP check."""

from __future__ import annotations

import os
import socket


def hub_offline_mode() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` is set."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("HF_DATASETS_OFFLINE", ""))
    return any(v.strip().lower() in ("1", "true", "yes", "on") for v in flags)


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """True when the hub answers a TCP connection within ``timeout`` (and HF_HUB_OFFLINE is not set)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False
