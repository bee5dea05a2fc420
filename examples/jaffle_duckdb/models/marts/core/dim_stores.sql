select
    store_id,
    store_name,
    city,
    opened_at,
    date_diff('year', opened_at, date '2025-01-01') as years_open
from {{ ref('stg_stores') }}
