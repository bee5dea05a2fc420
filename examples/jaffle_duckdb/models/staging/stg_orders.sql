select
    id as order_id,
    customer_id,
    store_id,
    ordered_at,
    cast(ordered_at as date) as order_date,
    status,
    loaded_at
from {{ source('shop', 'orders') }}
