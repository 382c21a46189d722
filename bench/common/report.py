"""Tables, the command line that made them, RESULTS.md, and the options every script shares."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .machine import machine_description

BENCH_DIR = Path(__file__).resolve().parents[1]  # bench/
RESULTS_FILE = BENCH_DIR / 'RESULTS.md'
RESULTS_HEADER = """# Benchmark results

Each section was appended by a script in `bench/` (see bench/README.md): the exact command,
the machine and the date, then the table. Contenders ran interleaved (A B A B ...); figures
are medians over the timed rounds; ratios are between medians.
"""


def fmt(value: float | str | None, digits: int = 3) -> str:
    """A table cell: floats with ``digits`` significant figures, NaN/None as 'n/a'."""
    if value is None:
        return 'n/a'
    if isinstance(value, str):
        return value
    if not np.isfinite(value):
        return 'n/a'
    return f'{value:.{digits}g}' if abs(value) < 10 ** digits else f'{value:.0f}'


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; floats go through :func:`fmt`."""
    cells = [[fmt(c) if isinstance(c, float) or c is None else str(c) for c in row]
             for row in rows]
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '|'.join('---' for _ in headers) + '|']
    lines += ['| ' + ' | '.join(row) + ' |' for row in cells]
    return '\n'.join(lines)


def command_line(script: str, argv: Sequence[str]) -> str:
    """The exact command that reproduces a run, from the repository root."""
    return shlex.join(['python', f'bench/{Path(script).name}', *argv])


def append_results(title: str, command: str, machine: str, body: str,
                   results_file: Path = RESULTS_FILE) -> None:
    """Append one section (title, command, machine and date, body) to RESULTS.md."""
    results_file = Path(results_file)
    is_new = not results_file.exists()
    with open(results_file, 'a') as f:
        if is_new:
            f.write(RESULTS_HEADER)
        f.write(f'\n## {title}\n\n`{command}`\n\nMachine: {machine}\n\n{body.rstrip()}\n')


def report(args: argparse.Namespace, script: str, argv: Sequence[str], title: str, body: str,
           device: str = 'cpu') -> None:
    """Print ``body`` and, unless ``--quick`` or ``--no-record``, append it to RESULTS.md."""
    print(f'\n## {title}\n\n{body}\n')
    if args.quick or args.no_record:
        return
    append_results(title, command_line(script, argv), machine_description(device), body,
                   Path(args.results))
    print(f'appended to {args.results}')


def add_common_args(parser: argparse.ArgumentParser, repeats: int = 5,
                    warmup: int = 1) -> None:
    """--quick, --no-record, --results, --repeats, --warmup, --threads, --device."""
    parser.add_argument('--quick', action='store_true',
                        help='tiny sizes and one round, to check the script runs (not recorded)')
    parser.add_argument('--no-record', action='store_true', help='do not append to RESULTS.md')
    parser.add_argument('--results', default=str(RESULTS_FILE), help='results file to append to')
    parser.add_argument('--repeats', type=int, default=repeats, help='timed rounds')
    parser.add_argument('--warmup', type=int, default=warmup, help='untimed rounds first')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch default, one per core)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]'")


def apply_common_args(args: argparse.Namespace) -> None:
    """Check the device, set the threads, and shrink repeats for --quick."""
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit(f'--device {args.device}: no CUDA device is available here')
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.repeats, args.warmup = 1, 0
