"""Layers selectable from configs (activations registered for ``act_cfg``)."""
from .sign import Sign, sign_straight_through

__all__ = ['Sign', 'sign_straight_through']
