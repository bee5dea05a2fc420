with orders as (
    select
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as order_count
    from {{ ref('stg_orders') }}
    group by customer_id
)

select
    customers.customer_id,
    customers.customer_name,
    customers.email,
    customers.country_code,
    countries.country_name,
    countries.region,
    orders.first_order_at,
    orders.last_order_at,
    coalesce(orders.order_count, 0) as order_count
from {{ ref('stg_customers') }} as customers
left join {{ ref('country_codes') }} as countries
    on customers.country_code = countries.country_code
left join orders
    on customers.customer_id = orders.customer_id
