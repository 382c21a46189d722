"""Registered task modules (assigners, samplers, coders)."""
from .device_random_sampler import DeviceRandomSampler

__all__ = ['DeviceRandomSampler']
