{{
    config(
        freshness={
            "build_after": {"count": 4, "period": "hour", "updates_on": "all"}
        }
    )
}}

-- Waits for both customers and orders to move before rebuilding (updates_on: all).
select
    customers.customer_id,
    customers.customer_name,
    customers.region,
    coalesce(sum(orders.amount_paid), 0) as lifetime_value,
    count(orders.order_id) as orders
from {{ ref('dim_customers') }} as customers
left join {{ ref('fct_orders') }} as orders
    on customers.customer_id = orders.customer_id
group by customers.customer_id, customers.customer_name, customers.region
