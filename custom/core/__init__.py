"""The layer every other part of classicdet builds on."""
from .errors import InputError

__all__ = ['InputError']
