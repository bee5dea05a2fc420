select
    products.product_id,
    products.product_name,
    products.category,
    coalesce(sum(items.quantity), 0) as units_sold,
    coalesce(sum(items.line_total), 0) as revenue
from {{ ref('dim_products') }} as products
left join {{ ref('fct_order_items') }} as items
    on products.product_id = items.product_id
group by products.product_id, products.product_name, products.category
