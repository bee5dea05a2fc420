select
    method,
    method_label,
    count(*) as payments,
    sum(amount) as amount,
    sum(amount) / sum(sum(amount)) over () as share_of_amount
from {{ ref('fct_payments') }}
group by method, method_label
