select
    id as customer_id,
    count(*) as versions,
    min(dbt_valid_from) as first_seen_at,
    max(dbt_valid_from) as last_changed_at
from {{ ref('customers_snapshot') }}
group by id
