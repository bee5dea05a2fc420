{{ config(materialized='ephemeral') }}

-- Failed payment attempts never count towards revenue.
select *
from {{ ref('stg_payments') }}
where status = 'success'
