select
    stores.store_id,
    stores.store_name,
    stores.city,
    count(distinct orders.order_id) as orders,
    sum(orders.subtotal) as revenue
from {{ ref('dim_stores') }} as stores
left join {{ ref('fct_orders') }} as orders
    on stores.store_id = orders.store_id
group by stores.store_id, stores.store_name, stores.city
