"""A config's ``custom_hooks``: what they ask for (for code that builds a model without a
runner) and adding one that an option turns on."""
from __future__ import annotations


def lists_hook(cfg, hook_type: str) -> bool:
    """Whether ``cfg.custom_hooks`` hold a hook of ``hook_type`` (a name or the class)."""
    return any(hook.get('type') == hook_type
               or getattr(hook.get('type'), '__name__', None) == hook_type
               for hook in cfg.get('custom_hooks', None) or [])


def ensure_hook(cfg, hook_type: str) -> None:
    """Append ``dict(type=hook_type)`` to ``cfg.custom_hooks`` unless it lists one already."""
    if not lists_hook(cfg, hook_type):
        cfg.custom_hooks = list(cfg.get('custom_hooks', None) or []) + [dict(type=hook_type)]
