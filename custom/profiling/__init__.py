"""Profiling a detector or a backbone: inference speed (``speed``), FLOPs and parameters
(``flops``, ``backbone_complexity``) and the synthetic inputs they feed (``model_inputs``).

Nothing is registered here; the tools and benchmarks import the module they use
(``custom.profiling.speed``, ...).
"""
