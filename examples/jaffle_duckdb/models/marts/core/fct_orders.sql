{{
    config(
        materialized='incremental',
        unique_key='order_id',
        on_schema_change='fail'
    )
}}

-- Incremental: each run merges the orders that landed since the last one.
select
    orders.order_id,
    orders.customer_id,
    orders.store_id,
    orders.ordered_at,
    orders.order_date,
    orders.status,
    coalesce(totals.item_count, 0) as item_count,
    coalesce(totals.subtotal, 0) as subtotal,
    coalesce(payments.amount_paid, 0) as amount_paid,
    orders.loaded_at
from {{ ref('stg_orders') }} as orders
left join {{ ref('int_order_totals') }} as totals
    on orders.order_id = totals.order_id
left join {{ ref('int_order_payments') }} as payments
    on orders.order_id = payments.order_id
{% if is_incremental() %}
where orders.loaded_at > (select max(loaded_at) from {{ this }})
{% endif %}
