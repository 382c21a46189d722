"""Registered dense (proposal) heads."""
from .portable_rpn_head import PortableRPNHead

__all__ = ['PortableRPNHead']
