select
    id as customer_id,
    first_name || ' ' || last_name as customer_name,
    lower(email) as email,
    upper(country_code) as country_code,
    created_at,
    loaded_at
from {{ source('shop', 'customers') }}
