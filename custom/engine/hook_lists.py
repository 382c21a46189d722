"""What a config's ``custom_hooks`` ask for, for code that builds a model without a runner."""
from __future__ import annotations


def lists_hook(cfg, hook_type: str) -> bool:
    """Whether ``cfg.custom_hooks`` hold a hook of ``hook_type`` (a name or the class)."""
    return any(hook.get('type') == hook_type
               or getattr(hook.get('type'), '__name__', None) == hook_type
               for hook in cfg.get('custom_hooks', None) or [])
