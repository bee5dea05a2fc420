select
    store_id,
    store_name,
    city,
    opened_at,
    {{ dbt.datediff("opened_at", "cast('2025-01-01' as date)", "year") }} as years_open
from {{ ref('stg_stores') }}
