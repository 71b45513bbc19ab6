"""`medhtap report ...` and `medhtap risk ...` (owned by the analytics work)."""

from __future__ import annotations

import typer

report_app = typer.Typer(help="Cost-analysis reports.", no_args_is_help=True)
risk_app = typer.Typer(help="Fund risk-control rules and alerts.", no_args_is_help=True)
