select
    order_id,
    count(*) as payment_count,
    sum(amount) as amount_paid,
    max(loaded_at) as last_payment_loaded_at
from {{ ref('int_payments_successful') }}
group by order_id
