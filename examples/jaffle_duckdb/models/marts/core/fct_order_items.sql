select
    items.order_item_id,
    items.order_id,
    orders.customer_id,
    orders.store_id,
    orders.order_date,
    items.product_id,
    items.category,
    items.quantity,
    items.line_total
from {{ ref('int_order_items_priced') }} as items
inner join {{ ref('stg_orders') }} as orders
    on items.order_id = orders.order_id
