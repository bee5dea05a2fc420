"""The synthetic project: a dbt DAG of realistic shape, with SQL, tags, paths and data tests.

Shape, as in the dbt projects we read (GitLab's 2,934-model project among them):

- sources (≈10% of the model count), grouped in source systems (``stripe``, ``salesforce`` …);
- one staging model per source (``models/staging/<system>/stg_<system>__<table>.sql``, 1:1);
- intermediate models per domain (``models/intermediate/<domain>/…``) joining 1–6 parents, mostly
  from their own domain's staging and intermediate models;
- marts per domain (``models/marts/<domain>/fct_…|dim_…``) and a few shared hubs in
  ``models/marts/core`` (``dim_date``, ``dim_customers`` …) that many marts read;
- a materialization mix of about 35% views, 15% incrementals, a few ephemerals, the rest tables;
  a few seeds and snapshots; 1–2 data tests per model (``unique``/``not_null``/``accepted_values``);
- the tag ``hourly`` on one domain's marts and everything upstream of them.

>>> project = synthetic_project(200, seed=1)
>>> counts = project.counts()
>>> counts["model"], counts["source"]
(200, 20)
>>> hourly = project.select("tag:hourly")
>>> hourly == project.select("+tag:hourly") - set(project.sources)
True
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from saosim.errors import ConfigError
from saosim.project.graph import Node, Project
from saosim.synth.sql import (
    DATABASE,
    SqlSpec,
    build_config,
    data_test_sql,
    fingerprint_sql,
    with_version,
)

__all__ = ["Ancestry", "generate_project", "synthetic_project"]

SYSTEMS = (
    "stripe", "salesforce", "hubspot", "zendesk", "shopify", "app_db", "segment", "google_ads",
    "facebook_ads", "netsuite", "workday", "jira", "github", "intercom", "marketo", "snowplow",
    "braze", "mixpanel", "quickbooks", "greenhouse", "recurly", "gainsight", "okta", "pagerduty",
)  # fmt: skip
TABLES = (
    "accounts", "users", "orders", "order_items", "payments", "invoices", "subscriptions",
    "events", "sessions", "tickets", "contacts", "leads", "opportunities", "campaigns",
    "products", "customers", "refunds", "transactions", "plans", "charges", "ad_spend", "clicks",
    "pageviews", "employees", "departments", "issues", "comments", "deployments", "messages",
    "line_items", "coupons", "shipments", "activities", "notes", "teams", "memberships",
)  # fmt: skip
DOMAINS = (
    "finance", "marketing", "sales", "product", "customer_success", "operations", "people",
    "engineering", "growth", "supply_chain", "risk", "data_platform",
)  # fmt: skip
HUBS = ("dim_date", "dim_customers", "dim_products", "dim_accounts", "dim_employees")
SEEDS = (
    "country_codes", "currency_codes", "fiscal_calendar", "plan_catalog", "region_mapping",
    "holiday_calendar", "sales_territories", "channel_mapping", "tax_rates", "cost_centers",
)  # fmt: skip
VERBS = ("joined", "enriched", "aggregated", "pivoted", "deduped", "unioned", "filtered", "daily")
LOADERS = ("_loaded_at", "_fivetran_synced", "_sdc_batched_at", "_airbyte_extracted_at")
PACKAGE = "synth"
# Fan-in of intermediate models and marts: 1–6 parents, most with one to three.
FAN_IN_P = np.array([0.30, 0.30, 0.20, 0.10, 0.06, 0.04])
# Per layer: P(view, table, incremental, ephemeral); overall ≈35% views, ≈15% incrementals.
MATERIALIZATION_P = {
    "staging": (0.70, 0.20, 0.10, 0.0),
    "intermediate": (0.40, 0.38, 0.15, 0.07),
    "marts": (0.18, 0.62, 0.20, 0.0),
}
MATERIALIZATIONS = ("view", "table", "incremental", "ephemeral")


def synthetic_project(
    n_models: int = 1500,
    *,
    seed: int = 0,
    source_share: float = 0.10,
    hourly_share: float = 0.10,
) -> Project:
    """A synthetic dbt project of realistic shape (see the module docstring).

    Args:
        n_models: the number of models (sources, seeds, snapshots and tests come on top).
        seed: seed of the generator.
        source_share: sources per model.
        hourly_share: the share of models the ``hourly`` tag should cover (one domain's marts
            and their upstream; the domain closest to this share is chosen).

    Returns:
        The project; every buildable node has ``compiled_code``, ``checksum`` and
        ``fingerprint`` of its first version.

    >>> p = synthetic_project(60, seed=3)
    >>> all(1 <= len(p.parents(m)) <= 6 for m in p.select("path:models/intermediate"))
    True
    """
    rng = np.random.default_rng(seed)
    return generate_project(n_models, rng, source_share=source_share, hourly_share=hourly_share)[0]


def generate_project(
    n_models: int,
    rng: np.random.Generator,
    *,
    source_share: float = 0.10,
    hourly_share: float = 0.10,
) -> tuple[Project, dict[str, SqlSpec]]:
    """The project and, per node, what :func:`render_sql` needs to write its SQL."""
    if n_models < 20:
        raise ConfigError(f"must be at least 20, got {n_models}", field="n_models")
    if not 0 < source_share <= 1 or not 0 < hourly_share < 1:
        raise ConfigError(
            f"shares must be in (0, 1], got source_share={source_share}, "
            f"hourly_share={hourly_share}",
            field="source_share/hourly_share",
        )
    b = _Builder(rng)
    n_sources = max(2, round(source_share * n_models))
    systems = b.sources(n_sources)
    domains = list(DOMAINS[: int(np.clip(round(n_models / 150), 3, len(DOMAINS)))])
    home = {s: domains[i % len(domains)] for i, s in enumerate(rng.permutation(systems))}
    b.staging(systems)
    b.seeds_and_snapshots(max(2, n_models // 100), max(1, n_models // 100))
    hubs = b.hubs(domains, max(1, min(len(HUBS), n_models // 200)))
    rest = n_models - len(b.layer["staging"]) - len(hubs)
    sizes = rng.multinomial(rest, rng.dirichlet(np.full(len(domains), 3.0)))
    for domain, size in zip(domains, sizes, strict=True):
        reach = [s for s in systems if home[s] == domain] + [systems[rng.integers(len(systems))]]
        n_int = round(float(size) * 0.45)
        b.domain_models(domain, reach, n_int, int(size) - n_int, hubs)
    b.tests()
    return _tag_hourly(b.project(), domains, hourly_share), b.relation_specs()


class _Builder:
    """Accumulates nodes and edges; one instance per generated project."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nodes: dict[str, Node] = {}
        self.edges: list[tuple[str, str]] = []
        self.specs: dict[str, SqlSpec] = {}
        # Children so far per node (by insertion index), for preferential attachment.
        self.index: dict[str, int] = {}
        self.uids: list[str] = []
        self.n_children = np.zeros(1024, np.float64)
        self.layer: dict[str, list[str]] = {"staging": [], "intermediate": [], "marts": []}
        self.by_system: dict[str, list[str]] = {}
        self.names: set[str] = set()
        self.seed_ids: list[str] = []

    def _name(self, base: str) -> str:
        name, k = base, 2
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def _add(self, node: Node, parents: list[str], entity: str) -> str:
        self.nodes[node.unique_id] = node
        self.index[node.unique_id] = len(self.uids)
        self.uids.append(node.unique_id)
        if len(self.uids) > self.n_children.shape[0]:
            self.n_children = np.concatenate([self.n_children, np.zeros_like(self.n_children)])
        for parent in parents:
            self.edges.append((parent, node.unique_id))
            self.n_children[self.index[parent]] += 1
        self.specs[node.unique_id] = SqlSpec(entity, tuple(parents))
        return node.unique_id

    def sources(self, n_sources: int) -> list[str]:
        n_systems = int(np.clip(n_sources // 6, 2, 4 * len(SYSTEMS)))
        systems = [
            SYSTEMS[i % len(SYSTEMS)] + ("" if i < len(SYSTEMS) else f"_{i // len(SYSTEMS) + 1}")
            for i in range(n_systems)
        ]
        per = 1 + self.rng.multinomial(
            n_sources - n_systems, self.rng.dirichlet(np.full(n_systems, 1.5))
        )
        for system, count in zip(systems, per, strict=True):
            loader = LOADERS[int(self.rng.integers(len(LOADERS)))]
            self.by_system[system] = []
            # Plain table names first; a system with more tables than the vocabulary gets
            # numbered copies (orders_2 …), as sharded or versioned raw tables are named.
            picks = np.concatenate(
                [
                    self.rng.permutation(len(TABLES)) + len(TABLES) * r
                    for r in range(-(-count // len(TABLES)))
                ]
            )
            for table in picks[:count]:
                base = TABLES[table % len(TABLES)]
                name = base if table < len(TABLES) else f"{base}_{table // len(TABLES) + 1}"
                uid = f"source.{PACKAGE}.{system}.{name}"
                node = Node(
                    uid,
                    name,
                    "source",
                    package=PACKAGE,
                    path=f"models/staging/{system}/_{system}__sources.yml",
                    tags=("source", system),
                    database="raw",
                    schema=system,
                    alias=name,
                    loaded_at_field=loader,
                )
                self._add(node, [], _entity(name))
                self.by_system[system].append(uid)
        return systems

    def _model(
        self, layer: str, folder: str, base: str, parents: list[str], entity: str, tags: tuple
    ) -> str:
        name = self._name(base)
        p = MATERIALIZATION_P[layer]
        mat = MATERIALIZATIONS[int(self.rng.choice(4, p=p))]
        if name in HUBS:
            mat = "table"
        if self.rng.random() < 0.05:
            tags = (*tags, "pii")
        schema = layer if layer != "marts" else f"marts_{folder.rsplit('/', 1)[-1]}"
        node = Node(
            f"model.{PACKAGE}.{name}",
            name,
            "model",
            materialization=mat,
            package=PACKAGE,
            path=f"{folder}/{name}.sql",
            tags=(layer, *tags),
            build_config=build_config(mat, entity),
            database=DATABASE,
            schema=schema,
            alias=name,
        )
        uid = self._add(node, parents, entity)
        self.layer[layer].append(uid)
        return uid

    def staging(self, systems: list[str]) -> None:
        for system in systems:
            for src in self.by_system[system]:
                table = self.nodes[src].name
                uid = self._model(
                    "staging",
                    f"models/staging/{system}",
                    f"stg_{system}__{table}",
                    [src],
                    _entity(table),
                    (system,),
                )
                self.by_system.setdefault(f"stg:{system}", []).append(uid)

    def seeds_and_snapshots(self, n_seeds: int, n_snapshots: int) -> None:
        for i in range(n_seeds):
            name = self._name(SEEDS[i % len(SEEDS)])
            node = Node(
                f"seed.{PACKAGE}.{name}",
                name,
                "seed",
                materialization="seed",
                package=PACKAGE,
                path=f"seeds/{name}.csv",
                tags=("seed",),
                build_config=build_config("seed", "seed"),
                database=DATABASE,
                schema="seeds",
                alias=name,
            )
            self.seed_ids.append(self._add(node, [], _entity(name)))
        sources = [s for ids in self.by_system.values() for s in ids if s.startswith("source.")]
        for src in self.rng.choice(sources, size=min(n_snapshots, len(sources)), replace=False):
            source = self.nodes[str(src)]
            name = self._name(f"{source.schema}__{source.name}_snapshot")
            node = Node(
                f"snapshot.{PACKAGE}.{name}",
                name,
                "snapshot",
                materialization="snapshot",
                package=PACKAGE,
                path=f"snapshots/{source.schema}/{name}.sql",
                tags=("snapshot",),
                build_config=build_config("snapshot", "id"),
                database=DATABASE,
                schema="snapshots",
                alias=name,
            )
            self._add(node, [str(src)], _entity(source.name))

    def hubs(self, domains: list[str], n_hubs: int) -> list[str]:
        staging = self.layer["staging"]
        hubs = []
        for name in HUBS[:n_hubs]:
            if name == "dim_date":
                parents = [self.seed_ids[0]] if self.rng.random() < 0.5 else []
            else:
                k = int(self.rng.integers(1, 4))
                parents = [str(s) for s in self.rng.choice(staging, size=k, replace=False)]
            hubs.append(
                self._model("marts", "models/marts/core", name, parents, name[4:], ("core",))
            )
        return hubs

    def _pick(self, pool: list[int], k: int, exclude: list[str]) -> list[str]:
        """Up to ``k`` distinct nodes of ``pool`` (insertion indices), none of ``exclude``."""
        arr = np.asarray(pool, np.int64)
        if exclude:
            arr = arr[~np.isin(arr, [self.index[u] for u in exclude])]
        if not arr.shape[0]:
            return []
        # Preferential attachment: a model with many children is likelier to get another.
        # Index arrays keep a pick O(pool) in numpy: 10,000 models build in about a second.
        cdf = np.cumsum((1.0 + self.n_children[arr]) ** 0.9)
        picked: list[str] = []
        for _ in range(min(k, arr.shape[0])):
            i = int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"))
            uid = self.uids[int(arr[min(i, arr.shape[0] - 1)])]
            if uid not in picked:
                picked.append(uid)
        return picked

    def domain_models(
        self, domain: str, reach: list[str], n_int: int, n_marts: int, hubs: list[str]
    ) -> None:
        at = self.index
        staging = [at[u] for s in reach for u in self.by_system.get(f"stg:{s}", [])]
        intermediate: list[int] = []
        marts: list[int] = []
        all_upstream = [at[u] for u in self.layer["staging"] + self.layer["intermediate"]]
        for i in range(n_int + n_marts):
            is_mart = i >= n_int
            k = 1 + int(self.rng.choice(6, p=FAN_IN_P))
            chosen: list[str] = []
            if is_mart and hubs and self.rng.random() < 0.3:
                # dim_date is the hub most marts join.
                w = np.array([3.0] + [1.0] * (len(hubs) - 1))
                chosen.append(hubs[int(self.rng.choice(len(hubs), p=w / w.sum()))])
                k += 1
            if is_mart and self.seed_ids and self.rng.random() < 0.03:
                chosen.append(self.seed_ids[int(self.rng.integers(len(self.seed_ids)))])
            for _ in range(k - len(chosen)):
                if self.rng.random() < 0.04:
                    pool = all_upstream  # the odd cross-domain dependency
                elif not is_mart:
                    pool = staging + intermediate if intermediate else staging
                else:
                    r = self.rng.random()
                    pool = intermediate if r < 0.6 else (staging if r < 0.8 else marts)
                    pool = pool or intermediate or staging
                chosen += self._pick(pool, 1, chosen)
            chosen = chosen[-6:] or self._pick(staging or all_upstream, 1, [])
            entity = self.specs[chosen[-1]].entity
            if is_mart:
                kind = "dim" if self.rng.random() < 0.35 else "fct"
                uid = self._model(
                    "marts",
                    f"models/marts/{domain}",
                    f"{kind}_{entity}",
                    chosen,
                    entity,
                    (domain,),
                )
                marts.append(at[uid])
            else:
                verb = VERBS[int(self.rng.integers(len(VERBS)))]
                uid = self._model(
                    "intermediate",
                    f"models/intermediate/{domain}",
                    f"int_{domain}__{entity}_{verb}",
                    chosen,
                    entity,
                    (domain,),
                )
                intermediate.append(at[uid])

    def tests(self) -> None:
        for uid in list(self.nodes):
            node = self.nodes[uid]
            if node.resource_type not in ("model", "seed") or node.materialization == "ephemeral":
                continue
            n = int(self.rng.choice(4, p=(0.15, 0.50, 0.30, 0.05)))
            entity = self.specs[uid].entity
            kinds = [
                ("unique", f"{entity}_id"),
                ("not_null", f"{entity}_id"),
                ("not_null", "updated_at"),
                ("accepted_values", "status"),
            ][:n]
            for kind, column in kinds:
                name = f"{kind}_{node.name}_{column}"
                digest = hashlib.md5(name.encode()).hexdigest()[:10]
                severity = "warn" if self.rng.random() < 0.15 else "error"
                code = data_test_sql(kind, f"{DATABASE}.{node.schema}.{node.alias}", column)
                test = Node(
                    f"test.{PACKAGE}.{name}.{digest}",
                    name,
                    "test",
                    materialization="test",
                    package=PACKAGE,
                    path=node.path.rsplit("/", 1)[0] + "/_schema.yml",
                    raw_code=f"{{{{ test_{kind}(**_dbt_generic_test_kwargs) }}}}",
                    compiled_code=code,
                    fingerprint=fingerprint_sql(code),
                    severity=severity,
                    database=DATABASE,
                    schema="dbt_test__audit",
                    alias=name,
                )
                self._add(test, [uid], entity)

    def project(self) -> Project:
        nodes = []
        for uid, node in self.nodes.items():
            if node.resource_type in ("model", "snapshot", "seed"):
                node = with_version(node, self._relations(uid), 0, 0)
            nodes.append(node)
        return Project(nodes, self.edges, name=PACKAGE, dialect="snowflake")

    def relation_specs(self) -> dict[str, SqlSpec]:
        return {uid: self._relations(uid) for uid in self.specs}

    def _relations(self, uid: str) -> SqlSpec:
        spec = self.specs[uid]
        return replace(
            spec,
            parents=tuple(self._relation(p) for p in spec.parents),
            refs=tuple(self._ref(p) for p in spec.parents),
        )

    def _relation(self, uid: str) -> str:
        node = self.nodes[uid]
        if node.is_ephemeral:
            return f"__dbt__cte__{node.name}"  # dbt inlines an ephemeral model as this CTE
        return f"{node.database}.{node.schema}.{node.alias}"

    def _ref(self, uid: str) -> str:
        node = self.nodes[uid]
        if node.resource_type == "source":
            return f"{{{{ source('{node.schema}', '{node.name}') }}}}"
        return f"{{{{ ref('{node.name}') }}}}"


@dataclass(frozen=True)
class Ancestry:
    """Every non-test node's ancestors as an int bitset over :attr:`ids`.

    Built in one pass in topological order (a node's ancestors are its parents and theirs), so
    the upstream closure of any set of nodes is an OR: at 10,000 models that takes milliseconds
    where a graph walk per node took seconds.

    >>> a = Ancestry.of(Project.from_spec({"raw.a": [], "s": ["raw.a"], "f": ["s"]}))
    >>> a.members(a.closure(["model.demo.f"]))
    ['source.demo.raw.a', 'model.demo.s', 'model.demo.f']
    """

    ids: tuple[str, ...]
    position: dict[str, int]
    anc: dict[str, int]

    @classmethod
    def of(cls, project: Project) -> Ancestry:
        ids = tuple(u for u in project.order if not project.nodes[u].is_test)
        position = {u: i for i, u in enumerate(ids)}
        anc: dict[str, int] = {}
        for uid in ids:
            bits = 0
            for parent in project.parents(uid):
                bits |= anc[parent] | (1 << position[parent])
            anc[uid] = bits
        return cls(ids, position, anc)

    def closure(self, members: Iterable[str]) -> int:
        """The bitset of ``members`` and everything upstream of them."""
        bits = 0
        for uid in members:
            bits |= self.anc[uid] | (1 << self.position[uid])
        return bits

    def mask(self, uids: Iterable[str]) -> int:
        return sum(1 << self.position[u] for u in uids if u in self.position)

    def members(self, bits: int) -> list[str]:
        """The node ids in a bitset, in topological order."""
        return [u for i, u in enumerate(self.ids) if bits >> i & 1]


def _tag_hourly(project: Project, domains: list[str], share: float) -> Project:
    """Tag one domain's marts and all their buildable upstream ``hourly``."""
    n_models = len(project.of_type("model"))
    ancestry = Ancestry.of(project)
    buildable = ancestry.mask(project.buildable)
    best: tuple[float, int] | None = None
    for domain in domains:
        marts = [
            u
            for u in project.of_type("model")
            if project.nodes[u].path.startswith(f"models/marts/{domain}/")
        ]
        if not marts:
            continue
        closure = buildable & ancestry.closure(marts)
        gap = abs(closure.bit_count() / n_models - share)
        if best is None or gap < best[0]:
            best = (gap, closure)
    if best is None:
        return project
    chosen = sorted(ancestry.members(best[1]))
    updated = [replace(project.nodes[u], tags=(*project.nodes[u].tags, "hourly")) for u in chosen]
    return project.with_nodes(updated)


def _entity(name: str) -> str:
    base = re.sub(r"_\d+$", "", name)
    base = base.removesuffix("_snapshot").split("__")[-1]
    return base[:-1] if base.endswith("s") and not base.endswith("ss") else base
