"""The bundled example's demo scenarios under each billing model (the README's table).

Each row replays the demo's four scenarios (:func:`saosim.tune.demo.demo_scenarios`) with one
``rates:`` configuration and prints the baseline's bill and what each scenario saves of it.
The replays are deterministic, so the figures do not depend on the machine.

Run: ``.venv/bin/python benchmarks/billing_models.py``
"""

from __future__ import annotations

from saosim.cost.rates import CostModel
from saosim.inputs.estate import load_estate
from saosim.replay.engine import simulate
from saosim.tune.demo import bundled_example, demo_scenarios

#: (row label, rates) — the README's rows, in its order
ROWS = (
    ("`query_seconds` (M, $3)", {"billing": "query_seconds", "snowflake_size": "M"}),
    ("`snowflake_warehouse` (defaults: one M, 600 s)", {}),
    ("`snowflake_warehouse`, `auto_suspend_s: 60`", {"auto_suspend_s": 60}),
    (
        "`snowflake_warehouse`, a warehouse per job (hourly, six-hourly, the rest)",
        {
            "warehouses": {
                "default": "MAIN_WH",
                "hourly": "HOURLY_WH",
                "weekend_hourly": "HOURLY_WH",
                "six_hourly": "SIX_HOURLY_WH",
            }
        },
    ),
    ("`databricks_sql` (Medium, $0.70/DBU, 10 min)", {"billing": "databricks_sql",
                                                       "warehouse_size": "Medium"}),
    ("`bigquery_on_demand` ($6.25/TiB)", {"billing": "bigquery_on_demand"}),
    ("`bigquery_editions` (100 slots/query, $0.06)", {"billing": "bigquery_editions",
                                                      "slots_per_query": 100}),
)  # fmt: skip


def main() -> None:
    estate = load_estate(bundled_example())
    scenarios = demo_scenarios(estate.project)
    names = [s.name for s in scenarios if s.name != "baseline"]
    print("| billing (rates) | baseline bill | " + " | ".join(f"{n} saves" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label, rates in ROWS:
        cmp = simulate(estate, scenarios, cost_model=CostModel.from_config({"rates": rates}))
        rows = {r["scenario"]: r for r in cmp.summary().iter_rows(named=True)}
        base = rows["baseline"]["bill_usd"]
        saved = " | ".join(f"{rows[n]['bill_savings_pct']:.1f}%" for n in names)
        print(f"| {label} | ${base:,.0f} | {saved} |")


if __name__ == "__main__":
    main()
