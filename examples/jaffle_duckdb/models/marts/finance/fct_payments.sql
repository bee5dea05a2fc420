select
    payments.payment_id,
    payments.order_id,
    payments.method,
    methods.method_label,
    methods.is_cash_like,
    payments.amount,
    payments.loaded_at
from {{ ref('int_payments_successful') }} as payments
left join {{ ref('payment_methods') }} as methods
    on payments.method = methods.method
