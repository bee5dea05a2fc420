select
    id as order_item_id,
    order_id,
    product_id,
    quantity,
    loaded_at
from {{ source('shop', 'order_items') }}
