select
    id as store_id,
    name as store_name,
    city,
    opened_at,
    loaded_at
from {{ source('shop', 'stores') }}
