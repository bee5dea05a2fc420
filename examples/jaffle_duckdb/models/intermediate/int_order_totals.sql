select
    order_id,
    count(*) as item_count,
    sum(quantity) as unit_count,
    sum(line_total) as subtotal
from {{ ref('int_order_items_priced') }}
group by order_id
