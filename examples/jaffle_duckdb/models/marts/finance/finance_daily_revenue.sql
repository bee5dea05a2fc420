select
    orders.order_date,
    count(distinct orders.order_id) as orders,
    sum(orders.subtotal) as gross_revenue,
    sum(orders.amount_paid) as collected
from {{ ref('fct_orders') }} as orders
where orders.status <> 'returned'
group by orders.order_date
