"""What every benchmark script shares, one job per module: the machine (``machine``), fair
timing (``timing``), tables and RESULTS.md (``report``), the contenders' models (``models``,
``torchvision_model``), the inputs (``data``), host-synchronisation counting (``sync_counter``),
the phases of a step (``phases``) and profiler tables (``profile_tables``).

Fairness rules (see bench/README.md): contenders run interleaved, one timed unit each per round
(A B C A B C ...), so a load spike from other processes hits all of them alike; the report is
the median per contender over the timed rounds, and ratios are taken between medians.
"""
from .data import Canvas, digit_canvases, digit_scans, mmdet_batch, torchvision_batch  # noqa: F401
from .machine import cpu_model, machine_description, package_version, utc_now  # noqa: F401
from .models import (  # noqa: F401
    build_mmdet_model,
    load_model_config,
    mmdet_config_path,
    register_modules,
    stock_name,
    uses_channels_last,
    with_stock_parts,
    without_channels_last_hook,
)
from .phases import PHASE_PREFIX, label_phase, labelled  # noqa: F401
from .profile_tables import profile_table  # noqa: F401
from .report import (  # noqa: F401
    BENCH_DIR,
    RESULTS_FILE,
    RESULTS_HEADER,
    add_common_args,
    append_results,
    apply_common_args,
    command_line,
    fmt,
    markdown_table,
    report,
)
from .sync_counter import SYNCING_OPS, SyncCounter  # noqa: F401
from .timing import Timing, interleaved, ratio  # noqa: F401
from .torchvision_model import MMDET_R50_COUNTS, skip_resize, torchvision_faster_rcnn  # noqa: F401
