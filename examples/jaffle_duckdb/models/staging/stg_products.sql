select
    id as product_id,
    name as product_name,
    category,
    price_cents / 100.0 as price,
    loaded_at
from {{ source('shop', 'products') }}
