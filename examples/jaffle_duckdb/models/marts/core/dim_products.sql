select
    product_id,
    product_name,
    category,
    price,
    price >= 8 as is_premium
from {{ ref('stg_products') }}
